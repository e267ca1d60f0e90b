"""`credhelper push`: push an image with docker, podman or skopeo, and explain auth failures."""

from __future__ import annotations

from typing import NoReturn

import click

from credhelper import engine_io, push, reference
from credhelper.cli.login_cmd import _interactive, obtain_and_login
from credhelper.dockernames import DOCKER_HUB, TOKEN_USERNAME
from credhelper.errors import ExitCode
from credhelper.store import Credentials


def _docker_routes_here(key: str) -> None:
    """Warn when docker will not ask credhelper for this registry's login."""
    from credhelper import dockerconfig
    from credhelper.errors import CredhelperError

    try:
        helper, why = dockerconfig.helper_for(dockerconfig.load(), key)
    except CredhelperError as err:
        click.echo(f"credhelper: warning: {err.message}", err=True)
        return
    if helper != dockerconfig.HELPER_NAME:
        used = f"docker-credential-{helper}" if helper else "its plaintext config file"
        click.echo(
            f"credhelper: warning: docker will look up {key} in {used} ({why}), not in "
            f"credhelper; fix: credhelper login {key} (or credhelper install)",
            err=True,
        )


def _parse_image(image: str) -> reference.Reference:
    """IMAGE as a reference; refused without echoing a user:password@ typed into it."""
    from credhelper import netloc
    from credhelper.errors import UsageError

    try:
        return reference.parse_reference(image)
    except UsageError as err:
        if "@" in image:  # bob:pw@host/x:1 (a CI log keeps the line): its userinfo never shows
            err.message = err.message.replace(repr(image), repr(netloc.without_userinfo(image)))
            if image.rpartition("@")[0] in err.message:
                err.message = "credhelper: invalid reference format: give HOST[:PORT]/NAME[:TAG]"
        raise


def _relogin(key: str, username: str | None, insecure: bool) -> Credentials:
    obtain_and_login(
        None if key == DOCKER_HUB else key,
        username if username and username != TOKEN_USERNAME else None,
        None,
        insecure=insecure,
    )
    click.echo("Login Succeeded", err=True)
    return push.stored_credentials(key)


def _usable_login(key: str, relogin: bool, interactive: bool, insecure: bool) -> Credentials:
    """The stored login; on a terminal, offer (or with --relogin, start) a login first."""
    try:
        return push.stored_credentials(key)
    except push.NeedsLogin as err:
        if not interactive:
            raise
        click.echo(err.message, err=True)
        if not relogin and not click.confirm(f"Log in to {key} now?", default=True, err=True):
            raise
        return _relogin(key, None, insecure)


def _give_up(engine: str, host: str, outcome: engine_io.Outcome) -> NoReturn:
    """A failed push that was not about credentials: explain what we know, else its status."""
    if push.is_daemon_failure(engine, outcome.output):
        raise push.EngineProblem(
            f"credhelper: the {engine} daemon is not reachable, so nothing was pushed "
            f"(start it, or point DOCKER_HOST at one; or push with --engine skopeo --from ...)"
        )
    plain = push.plain_http_failure(engine, host, outcome.output)
    if plain is not None:
        raise plain
    code = outcome.returncode
    # An engine killed by signal N exits 128+N, as a shell reports it.
    click.get_current_context().exit(128 - code if code < 0 else code or int(ExitCode.ERROR))


EPILOG = """\b
Sources (--from) each engine takes:
  docker   none: it pushes IMAGE from its daemon
  podman   an image in podman's storage (name or id; default IMAGE itself)
  skopeo   required, TRANSPORT:DETAILS: oci:DIR[:TAG], oci-archive:FILE,
           docker-archive:FILE, dir:DIR, docker-daemon:IMAGE,
           containers-storage:IMAGE, docker://IMAGE, ...
A podman --from such as oci:DIR is refused with the skopeo command to use.

\b
Examples:
  credhelper push registry.example.com/team/app:1.0
  credhelper push --engine skopeo --from oci:./build/oci registry.example.com/team/app:1.0
  credhelper push --engine podman --from localhost/app:1.0 registry.example.com/team/app:1.0

\b
Exit codes: the engine's on success (0) and for failures that are not about
credentials; 2 bad usage (a source the engine cannot take); 3 no usable login
(missing, or invalidated by a rotation or a lost key); 5 the registry rejected
the login or denied the push; 6 the registry answers plain HTTP and is not on
loopback; 8 engine missing or its daemon unreachable.
"""


@click.command("push", epilog=EPILOG)
@click.argument("image")
@click.option(
    "--engine",
    type=click.Choice(push.ENGINES),
    default="docker",
    show_default=True,
    help="What pushes the image.",
)
@click.option(
    "--from",
    "source",
    metavar="SOURCE",
    help="What to push (see the table below): skopeo's TRANSPORT:DETAILS, or podman's image.",
)
@click.option(
    "--relogin", is_flag=True, help="On a terminal: log in again and retry once on auth failure."
)
@click.option("--insecure", is_flag=True, help="Allow plain HTTP when checking the login.")
@click.argument("engine_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- ENGINE ARGS...]")
def command(
    image: str,
    engine: str,
    source: str | None,
    relogin: bool,
    insecure: bool,
    engine_args: tuple[str, ...],
) -> None:
    """Push IMAGE, checking credentials first and explaining an auth failure.

    The registry of IMAGE follows docker's rules (the first path component is a
    registry if it is localhost or has a '.' or ':'; else Docker Hub). Before the
    push, credhelper checks that a usable login is stored; after an authentication
    failure it says whether there was no login, the login was invalidated by a
    key rotation (or its key is missing), or the registry rejected it (checked
    with a fresh login handshake). With --relogin on a terminal it logs in again
    and retries once. On a terminal the engine runs on a pseudo-terminal, so its
    progress shows as if run directly. A loopback registry that answers plain HTTP
    only gets skopeo's/podman's TLS switch turned off. Arguments after `--` go to
    the engine.
    """
    ref = _parse_image(image)
    key = ref.credential_key
    job = push.Job(engine, push.find_engine(engine), ref, image, source, engine_args)
    push.check_source(engine, source)
    interactive = _interactive()
    creds = _usable_login(key, relogin, interactive, insecure)
    if engine == "docker":
        _docker_routes_here(key)
    outcome = push.push_once(job)
    if outcome.returncode == 0:
        return
    engine_io.start_own_line(outcome)  # what credhelper says next is a line of its own
    if not push.is_auth_failure(outcome.output):
        _give_up(engine, ref.domain, outcome)
    diagnosis = push.diagnose_auth_failure(key, ref.path, insecure=insecure)
    retriable = getattr(diagnosis, "reason", "") in ("missing", "invalidated", "rejected")
    if not (relogin and interactive and retriable):
        if relogin and not interactive and retriable:
            diagnosis.message += " (--relogin needs a terminal)"
        raise diagnosis
    click.echo(diagnosis.message, err=True)
    _relogin(key, creds.username, insecure)
    outcome = push.push_once(job)
    if outcome.returncode == 0:
        return
    engine_io.start_own_line(outcome)
    if push.is_auth_failure(outcome.output):
        raise push.diagnose_auth_failure(key, ref.path, insecure=insecure)
    _give_up(engine, ref.domain, outcome)
