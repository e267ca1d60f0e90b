"""`credhelper push`'s machinery: check credentials and sources, build the engine's argv, explain.

Engines run from argument lists (never a shell) through credhelper.engine_io (a
pty on a terminal), which keeps a tail of their output for the diagnosis here.
No secret is ever in an engine's argv, environment or on disk: docker reads the
login through Docker's config (credsStore/credHelpers); skopeo and podman get a
private --authfile holding only `credHelpers` naming credhelper. containers/image
asks for Docker Hub as `docker.io`, so the engine's environment alone carries
HUB_ALIAS_ENV=1, under which the helper answers `docker.io` with the Hub login.
A signal to credhelper stops the engine and removes the authfile's directory.

Sources (`--from`): docker pushes only from its daemon; podman only images in its
storage (never TRANSPORT:...); skopeo only TRANSPORT:DETAILS it knows. Anything
else is refused before the engine runs. skopeo/podman get their TLS switch off
only for a loopback registry that answers plain HTTP alone (as `login` reached
it); for another host a plain-HTTP failure is explained, never worked around.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from credhelper import cleanup, engine_io, fsutil, netloc, reference
from credhelper.advice import login_command
from credhelper.dockerconfig.routing import look_path
from credhelper.errors import CredhelperError, ExitCode, Invalidated, NotFound, UsageError
from credhelper.store import Credentials, Store
from credhelper.store.model import shown

ENGINES = ("docker", "podman", "skopeo")
HELPER_PROGRAM = "docker-credential-credhelper"
# Set only in an engine's environment: the helper then answers "docker.io" with
# the Docker Hub login (the same registry under containers/image's name for it).
HUB_ALIAS_ENV = "CREDHELPER_DOCKER_IO_IS_HUB"
# `skopeo copy --help` lists these (skopeo 1.9); a source is TRANSPORT:DETAILS.
SKOPEO_TRANSPORTS = (
    "oci", "oci-archive", "docker-archive", "dir", "docker-daemon", "containers-storage",
    "docker", "ostree", "sif", "tarball"
)  # fmt: skip
# The engine's own switch for plain HTTP / no TLS verification, and its CA directory.
TLS_FLAG = {"podman": "--tls-verify", "skopeo": "--dest-tls-verify"}
CERT_FLAG = {"podman": "--cert-dir", "skopeo": "--dest-cert-dir"}
PLAIN_HTTP_MARKER = "server gave http response to https client"
PROBE_TIMEOUT = 2.0  # a loopback registry answers in milliseconds

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


class PlainHttpRefused(PushError):
    """The registry speaks plain HTTP and credhelper did not turn the engine's TLS off."""

    exit_code = ExitCode.UNREACHABLE


# ---------------------------------------------------------------- credentials


def stored_credentials(key: str) -> Credentials:
    """The usable login for `key`, or NeedsLogin with the store's own words and fix."""
    try:
        return Store().snapshot().get(key)
    except Invalidated as err:
        # The hint get/list/doctor print ("... key file X is missing ...", an expiry,
        # a rotation): one wording, made by the store.
        raise NeedsLogin(err.hint, "invalidated") from None
    except NotFound:
        raise NeedsLogin(
            shown(f"credhelper: no credentials stored for {key}; run: {login_command(key)}"),
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
        "permission there, or the engine did not use credhelper (run: credhelper doctor)",
        "denied",
    )


# ---------------------------------------------------------------- sources


def check_source(engine: str, source: str | None) -> None:
    """Refuse, before anything runs, a --from the chosen engine cannot push from."""
    if source is not None and source.startswith("-"):  # never echoed: it may be --creds=u:pw
        raise UsageError("credhelper: --from takes a source, not an option (it starts with '-')")
    transport = source.partition(":")[0] if source and ":" in source else None
    # A user:password@ in it (docker://bob:pw@host/x) is never echoed: a CI log keeps it.
    src = shown(netloc.without_userinfo(source or "", SKOPEO_TRANSPORTS))
    if engine == "docker" and source is not None:
        raise UsageError(
            "credhelper: docker pushes only images in its daemon, so --from is for --engine "
            "skopeo (TRANSPORT:DETAILS, e.g. oci:DIR) or --engine podman (an image in its storage)"
        )
    if engine == "skopeo" and source is None:
        raise UsageError(
            "credhelper: --engine skopeo needs --from SOURCE (e.g. oci:DIR, docker-archive:FILE)"
        )
    if engine == "skopeo" and transport not in SKOPEO_TRANSPORTS:
        raise UsageError(
            f"credhelper: skopeo cannot read --from {src!r}: give TRANSPORT:DETAILS with one of "
            f"{', '.join(SKOPEO_TRANSPORTS)} (e.g. oci:./build/oci)"
        )
    if engine == "podman" and transport in SKOPEO_TRANSPORTS:
        raise UsageError(
            f"credhelper: podman pushes only images in its own storage, not {src!r}; use "
            f"--engine skopeo --from {src} (or load it first: podman pull {src})"
        )


# ---------------------------------------------------------------- engine


def is_auth_failure(output: str) -> bool:
    text = output.lower()
    return any(marker in text for marker in AUTH_MARKERS)


def is_daemon_failure(engine: str, output: str) -> bool:
    text = output.lower()
    return any(marker in text for marker in DAEMON_MARKERS.get(engine, ()))


def plain_http_failure(engine: str, host: str, output: str) -> PlainHttpRefused | None:
    """The one-line explanation when the engine met plain HTTP where it wanted HTTPS."""
    if PLAIN_HTTP_MARKER not in output.lower():
        return None
    if engine == "docker":
        why = "docker's daemon uses TLS for it"
        fix = f'add "{host}" to "insecure-registries" in /etc/docker/daemon.json'
    elif reference.is_loopback(host):  # the probe missed it, or the user asked for TLS
        why, fix = "the engine used TLS", f"give no {TLS_FLAG[engine]} after --, or push again"
    else:
        why = "credhelper turns the engine's TLS off only for loopback registries"
        fix = f"if you trust the network, add after --: {TLS_FLAG[engine]}=false"
    return PlainHttpRefused(shown(f"credhelper: {host} answers plain HTTP, and {why}; {fix}"))


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


def plain_http_loopback(ref: reference.Reference) -> bool:
    """True if IMAGE's registry is loopback and serves the registry API over plain HTTP only.

    The same probe `login` makes (HTTPS first, plain HTTP only on loopback), so the
    engine reaches the registry the way the stored login was checked. Any doubt: False.
    """
    if ref.domain == reference.DEFAULT_DOMAIN or not reference.is_loopback(ref.domain):
        return False
    from credhelper import registry

    return registry.serves_plain_http(ref.domain, timeout=PROBE_TIMEOUT)


def _containers_opts(
    engine: str, ref: reference.Reference, engine_args: list[str], authfile: str | None
) -> list[str]:
    """podman's/skopeo's authfile, CA directory and (loopback plain HTTP) TLS switch."""
    from credhelper import registry

    def given(flag: str) -> bool:
        return any(a == flag or a.startswith(flag + "=") for a in engine_args)

    opts = ["--authfile", authfile] if authfile else []
    certs = registry.registry_certs_dir(ref.domain)
    has_certs = ref.domain != reference.DEFAULT_DOMAIN and os.path.isdir(certs)
    if has_certs and not given(CERT_FLAG[engine]):
        opts += [CERT_FLAG[engine], certs]
    if not given(TLS_FLAG[engine]) and plain_http_loopback(ref):
        opts.append(f"{TLS_FLAG[engine]}=false")
    return opts


@dataclass(frozen=True)
class Job:
    """One push: which engine (and its path), where to, from what, with which extra args."""

    engine: str
    engine_path: str
    ref: reference.Reference
    image: str
    source: str | None
    engine_args: tuple[str, ...]


def build_argv(job: Job, authfile: str | None) -> list[str]:
    check_source(job.engine, job.source)
    args, image, source = list(job.engine_args), job.image, job.source
    if job.engine == "docker":
        return [job.engine_path, "push", *args, image]
    opts = _containers_opts(job.engine, job.ref, args, authfile)
    if job.engine == "podman":
        src = [source] if source else []
        dest = f"docker://{image}" if source else image
        return [job.engine_path, "push", *opts, *args, *src, dest]
    assert source is not None  # check_source refused skopeo without one
    return [job.engine_path, "copy", *opts, *args, source, f"docker://{image}"]


@contextmanager
def _authfile_for(job: Job) -> Iterator[str | None]:
    if job.engine == "docker":  # docker reads the login through Docker's config
        yield None
        return
    with private_authfile(job.ref) as path:
        yield path


def push_once(job: Job) -> engine_io.Outcome:
    """Run the push once (output shown as if run directly); its status and output tail."""
    env = engine_env(job.ref if job.engine != "docker" else None)
    with _authfile_for(job) as authfile:
        argv = build_argv(job, authfile)
        try:
            return engine_io.run(argv, env)
        except engine_io.EngineStartFailed as err:
            raise EngineProblem(err.message) from None
