"""The commands credhelper tells a user to run: one home for the store's messages and the CLI.

Standard library only (it is on the `get` hot path through the store's hints).
"""

from __future__ import annotations

from credhelper.dockernames import DOCKER_HUB


def login_command(server: str) -> str:
    """The command that fixes a missing, expired or invalidated login for `server`."""
    if server == DOCKER_HUB:
        return "credhelper login"
    return f"credhelper login {server}"
