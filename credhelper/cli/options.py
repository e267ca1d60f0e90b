"""What several commands share: the --docker-config option and one-line-per-item reports.

install, uninstall, migrate and doctor all take --docker-config and point this
process at that directory the same way; their reports print one line per server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

import click

from credhelper import dockerconfig

DOCKER_CONFIG_HELP = (
    "Docker's configuration directory (default: $DOCKER_CONFIG or ~/.docker). Unless "
    "CREDHELPER_HOME is set, the store goes in DIR/credhelper, where the helper looks "
    "when docker runs with DOCKER_CONFIG=DIR."
)

_Item = TypeVar("_Item")


def echo_each(items: Iterable[_Item], line: Callable[[_Item], str]) -> None:
    """One line of a report per item (a server, or a (server, why) pair), in order."""
    for item in items:
        click.echo(line(item))


def use_docker_config(directory: str | None) -> str:
    """Point this process at DIR the way docker would point the helper at it.

    Through DOCKER_CONFIG in this process's environment on purpose: the helpers
    and engines credhelper starts from here must see the same directory.
    """
    if directory:
        os.environ["DOCKER_CONFIG"] = os.path.abspath(directory)
    return dockerconfig.default_path()
