"""What `credhelper login` reads from the user: the password (stdin, prompt), the
username prompt, and the refusals when none can be had.

Split from login_cmd.py, which parses the expiry, verifies, stores and routes the login.
"""

from __future__ import annotations

import sys

import click

from credhelper.dockernames import DOCKER_HUB
from credhelper.errors import UsageError

MAX_PASSWORD = 1 << 20
INSECURE_WARNING = (
    "WARNING! Using --password via the CLI is insecure (it is visible in ps and shell "
    "history). Use --password-stdin."
)


def read_password_stdin() -> str:
    raw = sys.stdin.buffer.read(MAX_PASSWORD + 1)
    if len(raw) > MAX_PASSWORD:
        raise UsageError("credhelper: the password on stdin is larger than 1 MiB; refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("credhelper: the password on stdin is not UTF-8 text") from None
    # Exactly docker's rule: one trailing "\n", then one "\r", are not part of it.
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise UsageError("credhelper: the password on stdin is empty")
    return text


def prompt_username(default: str | None) -> str:
    value = click.prompt("Username", default=default or None, err=True, show_default=bool(default))
    name = str(value).strip()
    if not name:
        raise UsageError("credhelper: a username is required")
    return name


def text_or_refuse(value: str, what: str) -> str:
    """Refuse text that cannot be sent as UTF-8 (undecodable argv or terminal bytes)."""
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise UsageError(f"credhelper: the {what} is not valid UTF-8 text; nothing was stored")
    return value


def prompt_password(username: str, key: str) -> str:
    import getpass

    from credhelper.store.model import shown

    # Say whose password is asked for, and where: a `push --relogin` prompt comes
    # after other output, and the username may be the remembered one.
    click.echo(f"Logging in to {shown(key)} as {shown(username)}", err=True)
    # getpass reads /dev/tty (or the terminal on stdin) with echo off.
    try:
        password = getpass.getpass("Password: ", stream=sys.stderr)
    except UnicodeDecodeError:
        raise UsageError("credhelper: the password typed is not UTF-8 text") from None
    if not password:
        raise UsageError("credhelper: a password is required")
    return password


def no_terminal(key: str) -> UsageError:
    shown = "" if key == DOCKER_HUB else f" {key}"
    return UsageError(
        "credhelper: no password given and no terminal to ask for one; pass it on stdin: "
        f"printf '%s\\n' \"$PASSWORD\" | credhelper login{shown} -u USER --password-stdin"
    )
