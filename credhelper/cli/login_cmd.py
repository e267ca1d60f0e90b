"""`credhelper login`: get a password safely, prove it, store it, point docker at credhelper.

`obtain_and_login` is also what `credhelper push --relogin` runs.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from credhelper import reference
from credhelper.cli.login_input import (
    INSECURE_WARNING,
    no_terminal,
    prompt_password,
    prompt_username,
    read_password_stdin,
    text_or_refuse,
)
from credhelper.dockernames import DOCKER_HUB, TOKEN_USERNAME
from credhelper.errors import CredhelperError, NotFound, UsageError
from credhelper.store import Store
from credhelper.store.model import shown

if TYPE_CHECKING:
    from credhelper.registry.errors import LoginResult


def parse_expiry(expires_in: str | None, expires_at: str | None) -> str | None:
    """The stored expiry (UTC, `YYYY-MM-DDTHH:MM:SSZ`) for --expires-in/--expires-at, or None.

    A bad value, or a time that is not in the future, is a UsageError (exit 2)
    raised before anything is contacted or stored.
    """
    from credhelper import durations

    if expires_in is not None and expires_at is not None:
        raise UsageError("credhelper: --expires-in and --expires-at are mutually exclusive")
    try:
        if expires_in is not None:
            return durations.after(durations.parse_duration(expires_in))
        if expires_at is None:
            return None
        when = durations.parse_rfc3339(expires_at)
    except durations.DurationError as err:
        raise UsageError(str(err)) from None
    if when <= durations.utc_now():
        raise UsageError(
            f"credhelper: --expires-at {expires_at} is in the past; give a future time"
        )
    return durations.format_utc(when)


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _stored(key: str) -> tuple[str, str] | None:
    try:
        creds = Store().snapshot().get(key)
    except NotFound:
        return None
    except CredhelperError:
        return None  # corrupt: a fresh login replaces it
    return creds.username, creds.secret


def _remembered(key: str) -> str | None:
    """The username last stored for `key`, kept even by a forced rotation or an expiry."""
    try:
        user = Store().remembered_username(key)
    except CredhelperError:
        return None
    return user if user and user != TOKEN_USERNAME else None


def route_to_credhelper(key: str) -> bool:
    """Make docker (and skopeo/podman, which read the same file) ask credhelper for `key`.

    For a private registry this is a `credHelpers` entry: docker and containers/image
    both honour it (c/image ignores `credsStore`), and it changes nothing for any
    other registry. Docker Hub's key means nothing to c/image, so for Hub the
    shared writer's default (credsStore, unless another store is set) is used.
    """
    from credhelper import dockerconfig

    if key == DOCKER_HUB:
        return dockerconfig.ensure_uses_credhelper(key)

    def change(doc: dict[str, Any]) -> bool:
        helpers = dockerconfig.helpers_map(doc)
        if helpers.get(key) == dockerconfig.HELPER_NAME:
            return False
        helpers[key] = dockerconfig.HELPER_NAME
        return True

    return dockerconfig.modify(None, change, backup_additions=False).changed


def _from_store(key: str, target: str, verify: bool, **kw: bool) -> tuple[str, str | None]:
    """No username or password given: as docker does, the stored login if the registry
    still takes it; else a username (prompted on a terminal) still needing a password."""
    stored = _stored(key)
    if stored is not None and verify:
        from credhelper import registry  # requests: only when it is used

        if not kw["quiet"]:
            click.echo(f"Authenticating with existing credentials for {key}...", err=True)
        try:
            registry.verify_login(target, stored[0], stored[1], insecure=kw["insecure"])
            return stored
        except registry.AuthRejected as err:
            if not _interactive():
                raise
            # The message already names the registry and the user.
            click.echo(f"{err.message}; please log in again", err=True)
    if not _interactive():
        raise no_terminal(key)
    default = stored[0] if stored and stored[0] != TOKEN_USERNAME else None
    return prompt_username(default or _remembered(key)), None


def _credentials(
    key: str, target: str, username: str | None, password: str | None, verify: bool, **kw: bool
) -> tuple[str, str, bool]:
    """(username, password, reused): what was given, else the stored login, else asked."""
    reused = False
    if password is None and username is None:
        username, password = _from_store(key, target, verify, **kw)
        reused = password is not None
    if username is None:
        if not _interactive():
            raise (
                no_terminal(key)
                if password is None
                else UsageError("credhelper: no username: pass -u USER")
            )
        username = prompt_username(None)
    if password is None:
        if not _interactive():
            raise no_terminal(key)
        password = prompt_password(username, key)
    text_or_refuse(username, "username")
    text_or_refuse(password, "password")
    return username, password, reused


def _route_or_warn(key: str) -> tuple[bool | None, str | None]:
    """Point docker at credhelper for `key`; (changed, None), or (None, why not) after
    a warning: the login is stored either way."""
    from credhelper.dockerconfig import ConfigRefused

    try:
        return route_to_credhelper(key), None
    except CredhelperError as err:
        # A file credhelper refuses to rewrite only a fix by hand can mend (the
        # message names it); anything else doctor names the step for: doctor --fix
        # when it can repair the file (a lock wait, a race), else what to do by hand.
        if isinstance(err, ConfigRefused):
            then = "; docker will not use this login until then"
        else:
            from credhelper.doctor import docker_config_step

            then = f"; docker will not use this login until you {docker_config_step()}"
        click.echo(
            f"WARNING: logged in, but Docker's config was not updated: {err.message}{then}",
            err=True,
        )
        return None, err.message


def obtain_and_login(
    server: str | None,
    username: str | None,
    password: str | None,
    *,
    verify: bool = True,
    insecure: bool = False,
    quiet: bool = False,
    expires: str | None = None,
) -> dict[str, object]:
    """Verify (unless told not to) and store a login; returns what --json prints.

    Nothing is stored unless the registry accepted the credentials. `expires` (a
    stored instant from parse_expiry) is sealed with the entry; without it, a
    lifetime the token server states for what is stored is used.
    """
    key = reference.server_key(server)
    target = server if server else key
    username, password, reused = _credentials(
        key, target, username, password, verify, insecure=insecure, quiet=quiet
    )
    result: LoginResult | None = None
    store_user, store_secret = username, password
    if verify:
        # Only here: the registry client brings requests and urllib3 (~60 ms of
        # imports), which a --no-verify login never uses.
        from credhelper import registry

        result = registry.verify_login(target, username, password, insecure=insecure)
        store_user, store_secret = result.username, result.secret
    if expires is None and result is not None and result.expires_in is not None:
        from credhelper import durations

        expires = durations.after(result.expires_in)
    if not reused or store_user != username or expires is not None:
        Store().put(key, store_user, store_secret, expires)
    config_changed, config_error = _route_or_warn(key)
    return {
        "server": key,
        "username": store_user,
        "verified": verify,
        "auth": result.scheme if result else None,
        "endpoint": result.endpoint if result else None,
        "identityToken": bool(result and result.identity_token),
        "dockerConfigChanged": config_changed,
        "dockerConfigError": config_error,
        "expires": expires,
    }


@click.command("login")
@click.argument("server", required=False)
@click.option("-u", "--username", help="Registry user name.")
@click.option(
    "-p", "--password", help="Password or token on the command line (insecure: visible in ps)."
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (one newline stripped)."
)
@click.option("--no-verify", is_flag=True, help="Store without checking with the registry.")
@click.option(
    "--insecure", is_flag=True, help="Allow plain HTTP to a registry that is not on loopback."
)
@click.option(
    "--expires-in", metavar="DURATION", help="The login stops working after this: 30m, 12h, 90d."
)
@click.option(
    "--expires-at", metavar="RFC3339", help="The login stops working at this time (with offset)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def command(
    server: str | None,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    no_verify: bool,
    insecure: bool,
    expires_in: str | None,
    expires_at: str | None,
    as_json: bool,
) -> None:
    """Log in to a registry: verify the credentials, then store them encrypted.

    SERVER defaults to Docker Hub; other registries are host[:port] (a scheme or
    path is dropped, as docker does). The password comes from --password-stdin, a
    hidden prompt on a terminal, or -p (insecure). The login is checked with the
    registry (HTTPS, trusting the system CAs plus /etc/docker/certs.d/HOST/ca.crt;
    plain HTTP only for loopback or --insecure) before anything is stored. Docker's
    config is then set to use credhelper for SERVER.

    \b
    Examples:
      printf '%s\\n' "$TOKEN" | credhelper login registry.example.com -u ci --password-stdin
      credhelper login registry.example.com:5000 -u alice      # prompts for the password
      credhelper login                                          # Docker Hub
      credhelper login ghcr.io -u ci --password-stdin --expires-in 12h

    \b
    Exit codes: 0 logged in, 2 bad usage / plain HTTP refused, 5 credentials rejected,
    6 registry unreachable, TLS failure, not a registry or token server failure.
    """
    if password is not None and password_stdin:
        raise UsageError("credhelper: --password and --password-stdin are mutually exclusive")
    expires = parse_expiry(expires_in, expires_at)
    username, password = _given(server, username, password, password_stdin)
    info = obtain_and_login(
        server,
        username,
        password,
        verify=not no_verify,
        insecure=insecure,
        quiet=as_json,
        expires=expires,
    )
    _print_login(info, as_json=as_json, no_verify=no_verify)


def _given(
    server: str | None, username: str | None, password: str | None, password_stdin: bool
) -> tuple[str | None, str | None]:
    """The username and password the options give (stdin read here), or a UsageError."""
    if password_stdin:
        username = username or _remembered(reference.server_key(server))
        if not username:
            raise UsageError("credhelper: --password-stdin needs the user name: -u USER")
        password = read_password_stdin()
    elif password is not None:
        click.echo(INSECURE_WARNING, err=True)
        if not password:
            raise UsageError("credhelper: the password given with -p is empty")
    return username, password


def _print_login(info: dict[str, object], *, as_json: bool, no_verify: bool) -> None:
    """What `login` prints on success: the JSON object, or its lines of text."""
    if as_json:
        click.echo(json.dumps(info))
    elif no_verify:
        # Not "Login Succeeded": nothing has checked these credentials yet.
        click.echo(
            f"Stored the login of {shown(str(info['username']))} for {info['server']} "
            "without checking it with the registry (--no-verify)"
        )
    else:
        click.echo("Login Succeeded")
        if info["expires"]:
            click.echo(f"credhelper: this login expires at {info['expires']}", err=True)
