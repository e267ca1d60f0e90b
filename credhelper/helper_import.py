"""`credhelper migrate --from-helper NAME`: import every login another credential
helper holds, through the credential-helper protocol itself, then verify it.

`docker-credential-NAME list` names the registries, `docker-credential-NAME get`
(the server on stdin) returns each login on stdout: the secret only ever crosses
the child's pipes, never argv, the environment, a temp file or a log. The child
runs with an allow-listed environment (what pass, gpg and a Secret Service need),
every call is bounded in time and output, and nothing it prints is trusted: a
list that is not a JSON object is refused whole, a bad answer for one server is
reported and the rest go on. What was imported is read back from credhelper's
store and compared with what the helper returned.

A different login credhelper already holds for a server is replaced only when
docker was routing that server to NAME (its copy is the one docker used last);
otherwise the stored one is kept and named. Docker's config is then pointed at
credhelper for the servers that docker routed to NAME (credHelpers entries, or
the credsStore itself during `install`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, migrate
from credhelper.errors import NOT_FOUND_MESSAGE, CredhelperError, ExitCode, UsageError
from credhelper.gojson import scrub_surrogates
from credhelper.helper_call import MAX_SERVER, MAX_SERVERS, CallFailed, call
from credhelper.store import Store

# A helper name docker would turn into docker-credential-NAME: no path, no option.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


class HelperNotFound(CredhelperError):
    exit_code = ExitCode.HELPER_MISSING


class HelperFailed(migrate.MigrateError):
    """The helper's `list` failed or printed something unusable: nothing imported."""


def check_name(name: str) -> str:
    """NAME as docker would use it in docker-credential-NAME, or a usage error."""
    if name == dockerconfig.HELPER_NAME:
        raise UsageError(
            "credhelper: --from-helper credhelper would import credhelper's logins into "
            "themselves; name the helper docker used before, e.g. --from-helper pass"
        )
    if not _NAME.fullmatch(name):
        shown = ascii(name[:80])
        raise UsageError(
            f"credhelper: {shown} is not a credential helper name (letters, digits, '.', "
            "'_', '+', '-'; no path, no leading '-'): give the part after "
            "docker-credential-, e.g. --from-helper pass"
        )
    return name


def valid_name(name: str) -> bool:
    try:
        check_name(name)
    except CredhelperError:
        return False
    return True


def find_helper(name: str) -> str:
    """The absolute path docker would run for NAME (Go's LookPath), or HelperNotFound."""
    path = dockerconfig.which_helper(check_name(name))
    if path is None:
        raise HelperNotFound(
            f"credhelper: docker-credential-{name} is not on PATH; install it (Debian: "
            "sudo apt-get install golang-docker-credential-helpers) or add its directory "
            f"to PATH, then run: credhelper migrate --from-helper {name}"
        )
    return path


def parse_list(out: bytes, name: str) -> list[str]:
    """The server names of a `list` answer: a JSON object (its values are not used)."""
    try:
        doc = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise HelperFailed(
            f"credhelper: docker-credential-{name} list did not print a JSON object of "
            "server: username; nothing was imported"
        )
    if len(doc) > MAX_SERVERS:
        raise HelperFailed(
            f"credhelper: docker-credential-{name} list names {len(doc)} registries, more "
            f"than the {MAX_SERVERS} credhelper imports at once; nothing was imported"
        )
    return sorted(doc)


def _fold(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Go's decoder matches field names case-insensitively, the last one winning.
    return {key.casefold(): value for key, value in pairs}


def parse_get(out: bytes) -> tuple[str, str]:
    """(Username, Secret) of a `get` answer, read the way docker reads it."""
    try:
        doc = json.loads(out.decode("utf-8"), object_pairs_hook=_fold)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CallFailed("its answer is not a JSON object") from None
    if not isinstance(doc, dict):
        raise CallFailed("its answer is not a JSON object")
    user, secret = doc.get("username"), doc.get("secret")
    user = "" if user is None else user
    secret = "" if secret is None else secret
    if not isinstance(user, str) or not isinstance(secret, str):
        raise CallFailed("its answer has a Username or Secret that is not a string")
    if not user:
        raise CallFailed("its answer has no Username")
    return user, secret


def unusable_server(server: str) -> str | None:
    """Why docker could never ask credhelper for `server`, or None."""
    if not server:
        return "an empty registry name"
    if scrub_surrogates(server) != server:
        return "a registry name that is not valid text"
    if server != server.strip():
        return "white space at its ends, which docker's get trims away"
    if not server.isprintable():
        # Control, format (bidi) and separator characters: docker cannot send some
        # (a newline splits its request) and a terminal would act on others.
        return "non-printable characters in the registry name"
    if len(server.encode("utf-8", "surrogatepass")) > MAX_SERVER:
        return f"a registry name longer than {MAX_SERVER} bytes"
    return None


def shown(server: str) -> str:
    """`server` safe to print: non-printable characters escaped (as Python does)."""
    return server if server.isprintable() else ascii(server)[1:-1]


@dataclass
class Fetched:
    """What the helper returned: logins to import, and servers it failed on."""

    logins: list[tuple[str, str, str]] = field(default_factory=list, repr=False)
    failed: list[tuple[str, str]] = field(default_factory=list)


def list_servers(name: str) -> list[str]:
    """The registries docker-credential-NAME lists (no secret is read)."""
    path = find_helper(name)
    try:
        return parse_list(call(path, "list"), name)
    except CallFailed as err:
        raise HelperFailed(f"credhelper: docker-credential-{name} list failed: {err}") from None


def fetch(path: str, name: str) -> Fetched:
    """Every login `docker-credential-NAME` holds, read through list and get."""
    try:
        servers = parse_list(call(path, "list"), name)
    except CallFailed as err:
        raise HelperFailed(
            f"credhelper: docker-credential-{name} list failed: {err}; nothing was imported"
        ) from None
    got = Fetched()
    for server in servers:
        why = unusable_server(server)
        if why is None:
            try:
                user, secret = parse_get(call(path, "get", server.encode("utf-8", "replace")))
            except CallFailed as err:
                why = str(err)
                if why == NOT_FOUND_MESSAGE:
                    why = "listed, but its get says not found"
            else:
                got.logins.append((server, user, secret))
                continue
        got.failed.append((shown(server), f"docker-credential-{name}: {why}"))
    return got


def routed_to(cfg: dockerconfig.DockerConfig, server: str, name: str) -> bool:
    """Whether docker sends `server` to docker-credential-NAME (so its copy is in use);
    with no config.json at all docker picks pass or secretservice itself."""
    helper, _why = dockerconfig.helper_for(cfg, server)
    return helper == name


def verify(report: migrate.MigrationReport, held: list[migrate.Candidate]) -> None:
    """Read every imported login back from the store; a difference is a failure."""
    snapshot = Store().snapshot()
    kept = set(report.kept_existing)
    for cand in held:
        if cand.server in kept:
            continue
        try:
            creds = snapshot.get(cand.server)
            same = (creds.username, creds.secret) == (cand.username, cand.secret)
        except CredhelperError:
            same = False
        if not same:
            report.unverified.append(cand.server)


def import_fetched(
    got: Fetched, name: str, cfg: dockerconfig.DockerConfig, report: migrate.MigrationReport
) -> list[migrate.Candidate]:
    """Seal what was fetched (see the module docstring for which copy wins); verify it."""
    report.relogin.extend(got.failed)
    candidates = []
    for server, user, secret in got.logins:
        uses = routed_to(cfg, server, name)
        made = migrate.candidate(server, user, secret, report, docker_uses=uses)
        if made is not None:
            candidates.append(made)
    held = migrate.import_candidates(candidates, report)
    verify(report, held)
    bad = set(report.unverified)
    for server in report.kept_existing:
        report.notes.append(
            f"{server}: kept the login credhelper holds (docker was not using "
            f"docker-credential-{name} for it); to take that helper's instead: "
            f"credhelper logout {server} && credhelper migrate --from-helper {name}"
        )
    return [c for c in held if c.server not in bad and c.server not in report.kept_existing]


def migrate_helper(name: str, config_path: str | None = None) -> migrate.MigrationReport:
    """`credhelper migrate --from-helper NAME`: import, verify, point docker at credhelper
    for the servers it routed to NAME."""
    path = config_path or dockerconfig.default_path()
    helper = find_helper(name)
    cfg = dockerconfig.load(path)
    if cfg.exists and not cfg.writable:
        raise migrate.MigrateError(
            f"credhelper: cannot migrate into {path}: {cfg.refusal()}; run: credhelper doctor"
        )
    report = migrate.MigrationReport("helper", config_path=path, helper=helper)
    got = fetch(helper, name)
    held = import_fetched(got, name, cfg, report)
    routed = [c for c in held if routed_to(cfg, c.server, name)]
    if routed:
        from credhelper import previous_helpers

        left = previous_helpers.record(path, cfg, [c.server for c in routed])
        if left:
            report.notes.append(left)
        # Docker chose NAME by itself (no config.json, or one routing nothing): pin it,
        # so credHelpers entries send only what was imported to credhelper.
        auto = "" if cfg.creds_store() or cfg.contains_auth() else name
        migrate.rewrite_docker_config(path, routed, report, pin=auto)
    elif cfg.exists and held:
        report.notes.append(
            f"docker was not using docker-credential-{name} for these registries; "
            "Docker's config was left as it is"
        )
    return report
