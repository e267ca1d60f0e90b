"""`credhelper version`."""

from __future__ import annotations

import json

import click

from credhelper import __version__


@click.command("version")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def command(as_json: bool) -> None:
    """Print credhelper's version.

    \b
    Example:
      credhelper version
    """
    if as_json:
        click.echo(json.dumps({"version": __version__}))
    else:
        click.echo(f"credhelper {__version__}")
