"""`credhelper push`'s machinery: check credentials, run the engine, explain an auth failure.

Engines run from argument lists (never a shell) with their output streamed through.
No secret is ever put in an engine's argv, environment or on disk: docker reads
credentials through Docker's config (credsStore/credHelpers →
docker-credential-credhelper); skopeo and podman get a private --authfile that
holds nothing but `credHelpers` naming credhelper. For Docker Hub, which
containers/image asks for as `docker.io` (not docker's key
https://index.docker.io/v1/), the engine's environment alone carries
HUB_ALIAS_ENV=1, under which the helper answers `docker.io` with the Hub login.
The engine runs as a cleanup.Child: a signal to credhelper stops it and removes
the authfile's directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from credhelper import cleanup, fsutil, reference
from credhelper.advice import login_command
from credhelper.dockerconfig.routing import look_path
from credhelper.errors import CredhelperError, ExitCode, Invalidated, NotFound
from credhelper.store import Credentials, Store

ENGINES = ("docker", "podman", "skopeo")
HELPER_PROGRAM = "docker-credential-credhelper"
# Set only in an engine's environment: the helper then answers "docker.io" with
# the Docker Hub login (the same registry under containers/image's name for it).
HUB_ALIAS_ENV = "CREDHELPER_DOCKER_IO_IS_HUB"
TAIL_BYTES = 64 * 1024

# What docker, podman and skopeo print when a registry refuses a push for auth.
AUTH_MARKERS = (
    "unauthorized",
    "authentication required",
    "requested access to the resource is denied",
    "denied:",
    "no basic auth credentials",
    "invalid username/password",
    "insufficient_scope",
    "401 unauthorized",
    "403 forbidden",
)
DAEMON_MARKERS = {
    "docker": (
        "cannot connect to the docker daemon",
        "is the docker daemon running",
        "error during connect",
        "docker daemon is not running",
    ),
    "podman": (
        "cannot connect to podman",
        "unable to connect to podman",
        "podman system service",
    ),
    "skopeo": (),
}


class PushError(CredhelperError):
    """A push that credhelper stopped or diagnosed."""


class NeedsLogin(PushError):
    """No usable credentials: none stored, or invalidated by a rotation."""

    exit_code = ExitCode.NEEDS_LOGIN

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "missing" or "invalidated"


class Rejected(PushError):
    """The registry refused the push with the stored credentials."""

    exit_code = ExitCode.AUTH_REJECTED

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "rejected" or "denied" (valid login, no permission)


class EngineProblem(PushError):
    """The engine is missing, or its daemon cannot be reached."""

    exit_code = ExitCode.ENGINE


@dataclass
class Outcome:
    returncode: int
    output: str  # the tail of stdout+stderr, for diagnosis


# ---------------------------------------------------------------- credentials


def stored_credentials(key: str) -> Credentials:
    """The usable login for `key`, or NeedsLogin saying exactly why and what to run."""
    try:
        return Store().snapshot().get(key)
    except Invalidated:
        raise NeedsLogin(
            f"credhelper: the stored login for {key} was invalidated by a key rotation "
            f"(or its key was lost); run: {login_command(key)}",
            "invalidated",
        ) from None
    except NotFound:
        raise NeedsLogin(
            f"credhelper: no credentials stored for {key}; run: {login_command(key)}",
            "missing",
        ) from None


def diagnose_auth_failure(key: str, repo: str, *, insecure: bool = False) -> PushError:
    """After the registry refused a push: none stored, rotated away, or rejected (checked)."""
    try:
        creds = stored_credentials(key)
    except NeedsLogin as err:
        return err
    from credhelper import registry

    try:
        registry.verify_login(key, creds.username, creds.secret, insecure=insecure)
    except registry.AuthRejected as err:
        return Rejected(
            f"{err.message}; the stored login is wrong or was revoked; run: {login_command(key)}",
            "rejected",
        )
    except CredhelperError as err:
        return Rejected(
            f"credhelper: the registry refused the push, and the stored login for {key} could "
            f"not be checked: {err.message.removeprefix('credhelper: ')}",
            "unchecked",
        )
    return Rejected(
        f"credhelper: the stored login of {creds.username} for {key} is valid (the registry "
        f"accepted it just now), but the push to {repo} was denied: the account may lack push "
        "permission there, or the engine did not use credhelper (check: credhelper doctor)",
        "denied",
    )


# ---------------------------------------------------------------- engine


def is_auth_failure(output: str) -> bool:
    text = output.lower()
    return any(marker in text for marker in AUTH_MARKERS)


def is_daemon_failure(engine: str, output: str) -> bool:
    text = output.lower()
    return any(marker in text for marker in DAEMON_MARKERS.get(engine, ()))


def find_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise PushError(f"credhelper: unknown engine {engine!r} (choose: {', '.join(ENGINES)})")
    path = shutil.which(engine)
    if path is None:
        raise EngineProblem(
            f"credhelper: the {engine} engine is not installed (no {engine} on PATH); install "
            f"it or choose another with --engine ({', '.join(ENGINES)})"
        )
    return path


def helper_dir() -> str | None:
    """Where docker-credential-credhelper lives, so engines can run it."""
    found = look_path(HELPER_PROGRAM)  # as the Go engines look it up: no ./ or empty entries
    if found:
        return os.path.dirname(found)
    for candidate in (
        os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else "",
        sysconfig.get_path("scripts"),
        os.path.dirname(sys.executable),
    ):
        if candidate and os.path.exists(os.path.join(candidate, HELPER_PROGRAM)):
            return candidate
    return None


def engine_env(ref: reference.Reference | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(HUB_ALIAS_ENV, None)
    directory = helper_dir()
    if directory and look_path(HELPER_PROGRAM) is None:
        env["PATH"] = directory + os.pathsep + env.get("PATH", "")
    if ref is not None and ref.domain == reference.DEFAULT_DOMAIN:
        env[HUB_ALIAS_ENV] = "1"
    return env


@contextmanager
def private_authfile(ref: reference.Reference) -> Iterator[str]:
    """A 0600 auth.json in a 0700 temp dir for skopeo/podman, naming credhelper only.

    It holds no secret: the engine asks docker-credential-credhelper for the login.
    The directory goes on every exit, signals included (cleanup.temp_dir).
    """
    doc = {"auths": {}, "credHelpers": {ref.domain: "credhelper"}}
    with cleanup.temp_dir("credhelper-push-") as directory:
        path = os.path.join(directory, "auth.json")
        fsutil.atomic_write(path, json.dumps(doc).encode(), what="temporary auth file")
        yield path


def build_argv(
    engine: str,
    engine_path: str,
    ref: reference.Reference,
    image: str,
    source: str | None,
    engine_args: list[str],
    authfile: str | None,
) -> list[str]:
    from credhelper import registry

    certs = registry.registry_certs_dir(ref.domain)
    has_certs = ref.domain != reference.DEFAULT_DOMAIN and os.path.isdir(certs)
    if engine == "docker":
        return [engine_path, "push", *engine_args, image]
    if engine == "podman":
        argv = [engine_path, "push"]
        if authfile:
            argv += ["--authfile", authfile]
        if has_certs and not any(a.startswith("--cert-dir") for a in engine_args):
            argv += ["--cert-dir", certs]
        src = [source] if source else []
        return [*argv, *engine_args, *src, f"docker://{image}" if source else image]
    if source is None:
        raise PushError(
            "credhelper: --engine skopeo needs a source: --from oci:DIR, "
            "oci-archive:FILE, docker-archive:FILE or docker-daemon:IMAGE"
        )
    argv = [engine_path, "copy"]
    if authfile:
        argv += ["--authfile", authfile]
    if has_certs and not any(a.startswith("--dest-cert-dir") for a in engine_args):
        argv += ["--dest-cert-dir", certs]
    return [*argv, *engine_args, source, f"docker://{image}"]


def _pump(src: IO[bytes], dst: IO[bytes], tail: bytearray, lock: threading.Lock) -> None:
    for line in iter(src.readline, b""):
        try:
            dst.write(line)
            dst.flush()
        except (OSError, ValueError):
            pass  # our own output went away; keep draining so the engine never blocks
        with lock:
            tail.extend(line)
            if len(tail) > TAIL_BYTES:
                del tail[: len(tail) - TAIL_BYTES]
    src.close()


def run_engine(argv: list[str], env: dict[str, str]) -> Outcome:
    """Run the engine, stream its stdout/stderr to ours, keep a tail of both.

    The engine is a cleanup.Child in its own process group: any exit from here
    (a signal to credhelper included) stops it and whatever it started.
    """
    try:
        child = cleanup.Child(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
    except FileNotFoundError:
        raise EngineProblem(f"credhelper: cannot run {argv[0]}: not found") from None
    except OSError as err:
        raise EngineProblem(f"credhelper: cannot run {argv[0]}: {err.strerror}") from None
    tail = bytearray()
    lock = threading.Lock()
    with child:
        proc = child.proc
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            cleanup.start_thread(_pump, proc.stdout, sys.stdout.buffer, tail, lock),
            cleanup.start_thread(_pump, proc.stderr, sys.stderr.buffer, tail, lock),
        ]
        returncode = child.wait()
        for pump in pumps:
            pump.join()
    return Outcome(returncode, tail.decode("utf-8", "replace"))


def push_once(
    engine: str,
    engine_path: str,
    ref: reference.Reference,
    image: str,
    source: str | None,
    engine_args: list[str],
) -> Outcome:
    if engine == "docker":
        return run_engine(
            build_argv(engine, engine_path, ref, image, source, engine_args, None), engine_env()
        )
    env = engine_env(ref)
    with private_authfile(ref) as authfile:
        argv = build_argv(engine, engine_path, ref, image, source, engine_args, authfile)
        return run_engine(argv, env)
