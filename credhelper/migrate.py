"""Import credentials into the encrypted store from Docker's plaintext config.json,
openEuler docker's AES-CFB config.json (+ its aeskey); the shared import steps
(candidates, sealing, rewriting Docker's file) that isulad_import.py also uses.

Order matters for "never lose anything": the store is written first, then Docker's
file is rewritten (after a backup) with docker's usual `{}` entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from credhelper import backups, dockerconfig, legacy
from credhelper.advice import login_command
from credhelper.dockerconfig import AUTH_BINARY, AUTH_INVALID, AUTH_PLAINTEXT, EntryCheck
from credhelper.dockerconfig.edit import FreshImports
from credhelper.dockernames import DOCKER_HUB
from credhelper.errors import CredhelperError
from credhelper.gojson import scrub_surrogates
from credhelper.reference import HUB_NAMES
from credhelper.store import STATE_OK, Store
from credhelper.store.model import shown

SOURCES = ("docker", "openeuler", "isulad")


class MigrateError(CredhelperError):
    """A source that cannot be read; nothing was imported."""


@dataclass
class Candidate:
    server: str
    username: str
    secret: str = field(repr=False)
    check: EntryCheck | None = None  # the Docker config entry it came from
    # Docker itself reads this copy (no helper serves the registry): it is the
    # login docker used last, so it replaces a different stored one.
    docker_uses: bool = False


def candidate(
    server: str,
    username: str,
    secret: str,
    report: MigrationReport,
    check: EntryCheck | None = None,
    *,
    docker_uses: bool = False,
) -> Candidate | None:
    """A login to import, its text made what the protocol path would store (or None).

    A lone surrogate escape (`"\\ud800"`) is what Go reads as U+FFFD, so docker
    sends U+FFFD: the one rule of gojson.scrub_surrogates, as for `store`. A
    registry name that is not valid text cannot be a key docker asks for: reported.
    """
    if scrub_surrogates(server) != server:
        shown = server.encode("utf-8", "backslashreplace").decode()
        report.relogin.append((shown, "the registry name is not valid text"))
        return None
    clean_user, clean_secret = scrub_surrogates(username), scrub_surrogates(secret)
    if (clean_user, clean_secret) != (username, secret):
        report.notes.append(
            f"{server}: the login held an invalid \\u escape; imported as docker reads it "
            "(U+FFFD in its place)"
        )
    return Candidate(server, clean_user, clean_secret, check, docker_uses)


@dataclass
class MigrationReport:
    source: str
    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already in the store, same login
    kept_existing: list[str] = field(default_factory=list)  # store had another login: kept
    replaced: list[str] = field(default_factory=list)  # docker's own copy replaced the stored one
    relogin: list[tuple[str, str]] = field(default_factory=list)  # (server, why)
    config_path: str | None = None
    config_changed: bool = False
    backups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    helper: str | None = None  # --from-helper: the docker-credential-NAME that was run
    unverified: list[str] = field(default_factory=list)  # read back different: failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "imported": self.imported,
            "unchanged": self.unchanged,
            "keptExisting": self.kept_existing,
            "replacedStored": self.replaced,
            "needsLogin": [
                {"server": s, "reason": why, "fix": login_command(s)} for s, why in self.relogin
            ],
            "configPath": self.config_path,
            "configChanged": self.config_changed,
            "backups": self.backups,
            "notes": self.notes,
            **({"helper": self.helper, "verifyFailed": self.unverified} if self.helper else {}),
        }


def import_candidates(candidates: list[Candidate], report: MigrationReport) -> list[Candidate]:
    """Seal candidates into the store; return those now safely held there.

    A usable stored login that differs is kept when docker was calling credhelper
    for it (the store's copy is the one in use), and replaced by the candidate when
    docker read the candidate itself (its copy is the one docker used last). An
    unusable one (invalidated, corrupt) is replaced. Replacing writes a store backup.
    """
    if not candidates:
        return []
    store = Store()
    held: list[Candidate] = []
    with store.transaction() as txn:
        replaced_unusable = False
        for cand in candidates:
            if cand.server in txn.auths:
                status = txn.status(cand.server)
                if status.state == STATE_OK:
                    creds = txn.get(cand.server)
                    if (creds.username, creds.secret) == (cand.username, cand.secret):
                        report.unchanged.append(cand.server)
                        held.append(cand)
                        continue
                    if not cand.docker_uses:
                        report.kept_existing.append(cand.server)
                        held.append(cand)
                        continue
                    report.replaced.append(cand.server)
                replaced_unusable = True
            txn.put(cand.server, cand.username, cand.secret)
            if cand.server not in report.replaced:
                report.imported.append(cand.server)
            held.append(cand)
        if replaced_unusable and txn.dirty:
            raw = _read(store.path)
            if raw is not None:
                report.backups.append(backups.write_backup(store.path, raw))
    return held


def _read(path: str) -> bytes | None:
    from credhelper import fsutil

    return fsutil.read_file_nofollow(path, "store")


def docker_candidates(
    cfg: dockerconfig.DockerConfig,
    key_path: str | None,
    report: MigrationReport,
    *,
    plaintext: bool,
    aes: bool,
) -> list[Candidate]:
    """The logins in Docker's config to import: plaintext ones and (with `aes`)
    openEuler AES entries its aeskey opens; what cannot be moved is reported."""
    found: list[Candidate] = []
    key: bytes | None = None
    key_error: str | None = None
    checks = dockerconfig.check_entries(cfg)
    # The aeskey is read only when an entry looks AES-encrypted: a file planted there
    # matters to nobody otherwise.
    if aes and key_path is not None and any(_looks_aes(check) for check in checks):
        try:
            key = legacy.load_key(key_path)
        except legacy.LegacyError as err:
            key_error = str(err)
    for check in checks:
        # A legacy URL key (`https://HOST/v2/`) is found by docker as HOST: imported there.
        server = dockerconfig.lookup_key(cfg, check.server)
        other = served_elsewhere(cfg, server)
        if other is not None and check.state != dockerconfig.AUTH_NONE:
            # docker uses that helper's login; this copy is stale: never swapped in.
            # Both come from the file as written: a key may carry terminal escapes.
            report.notes.append(
                f"{shown(server)}: docker uses docker-credential-{shown(other)} for it "
                "(credHelpers), so the copy in config.json was left as it is, not imported; "
                f"to move it to credhelper run: credhelper login {shown(server)}"
            )
            continue
        if check.registry_token is not None:
            report.relogin.append(
                (
                    check.server,
                    'a "registrytoken" in plaintext in Docker\'s config, which no helper can '
                    "hold; it stays there: remove it by hand",
                )
            )
        uses = docker_reads(cfg, server)
        made: Candidate | None = None
        if check.state == AUTH_PLAINTEXT and plaintext:
            assert check.username is not None and check.secret is not None
            made = candidate(server, check.username, check.secret, report, check, docker_uses=uses)
        elif aes and check.state in (AUTH_INVALID, AUTH_BINARY) and check.auth:
            made = _aes_candidate(check, server, (key, key_error, key_path), report, uses)
        elif check.state == AUTH_BINARY and plaintext:
            _report_unmovable(check, report)
        if made is not None:
            found.append(made)
    return found


def _aes_candidate(
    check: EntryCheck,
    server: str,
    aes_key: tuple[bytes | None, str | None, str | None],
    report: MigrationReport,
    uses: bool,
) -> Candidate | None:
    """An openEuler AES-CFB entry decrypted into a candidate, or reported (None).

    `aes_key` is (the key or None, why it could not be read, its path).
    """
    assert check.auth is not None
    key, key_error, key_path = aes_key
    kind = legacy.record_kind(check.auth)
    if kind is None:
        _report_unmovable(check, report)
        return None
    if key is None:
        why = key_error or f"its AES key {key_path} is missing"
        report.relogin.append((check.server, f"{kind} AES-CFB entry: {why}"))
        return None
    try:
        creds = legacy.decrypt(check.auth, key)
    except legacy.LegacyError as err:
        report.relogin.append((check.server, f"{kind} AES-CFB entry: {err}"))
        return None
    return candidate(server, creds.username, creds.password, report, check, docker_uses=uses)


def _looks_aes(check: EntryCheck) -> bool:
    return (
        check.state in (AUTH_INVALID, AUTH_BINARY)
        and bool(check.auth)
        and (legacy.record_kind(check.auth or "") is not None)
    )


def _report_unmovable(check: EntryCheck, report: MigrationReport) -> None:
    """A login docker sends as is but the store cannot hold: never skipped silently."""
    if check.state == AUTH_BINARY:
        report.relogin.append(
            (
                check.server,
                "its auth value decodes to binary data, not user:password text, which "
                "credhelper cannot store",
            )
        )


def served_elsewhere(cfg: dockerconfig.DockerConfig, server: str) -> str | None:
    """The other helper a credHelpers entry sends `server` to (its login is the one
    docker uses), else None."""
    helper = cfg.cred_helpers().get(server)
    return helper if helper and helper != dockerconfig.HELPER_NAME else None


def docker_reads(cfg: dockerconfig.DockerConfig, server: str) -> bool:
    """Whether docker reads `server`'s login from config.json itself (no helper serves it)."""
    helper, _why = dockerconfig.helper_for(cfg, server)
    return helper == ""


def rewrite_docker_config(
    config_path: str | None,
    held: list[Candidate] | FreshImports[Candidate],
    report: MigrationReport,
    pin: str = "",
) -> None:
    """Strip the imported credentials from Docker's file; make docker call credhelper for
    them. `pin`: the helper docker picked by itself (no credsStore), written as the
    credsStore so that the registries not imported stay with it once the file names
    credhelper (docker stops choosing by itself as soon as the file routes anything).
    `held` as FreshImports: they are imported here, under the config lock, on the file
    as it is now (see FreshImports); one that changed since it was read is reported."""
    if not (held.planned if isinstance(held, FreshImports) else held):
        return

    def change(doc: dict[str, Any]) -> bool:
        changed = False
        now = held.run(doc) if isinstance(held, FreshImports) else held
        # While a login changed meanwhile (docker reads it), no credsStore takes it over.
        alone = isinstance(held, FreshImports) and bool(held.stale)
        if pin and now and not dockerconfig.go_str(doc, "credsStore"):
            dockerconfig.set_creds_store_key(doc, pin)
            changed = True
        for cand in now:
            if cand.check is not None:
                changed |= dockerconfig.strip_credentials(doc, cand.check)
            changed |= dockerconfig.use_credhelper(doc, cand.server, alone=alone)
        return changed

    result = dockerconfig.modify(config_path, change)
    report.config_changed = result.changed
    if result.backup:
        report.backups.append(result.backup)
    for cand in held.stale if isinstance(held, FreshImports) else []:
        report.notes.append(stale_note(cand.server))


def stale_note(server: str) -> str:
    return (
        f"{shown(server)}: its entry in Docker's config changed since it was read (a docker "
        "login or logout meanwhile), so it was not imported; run this again"
    )


def changed_error(stale: list[Candidate], path: str, then: str) -> CredhelperError:
    names = ", ".join(sorted({shown(c.server) for c in stale}))
    return dockerconfig.DockerConfigError(
        f"credhelper: the login for {names} in {path} changed since it was read (a docker "
        f"login or logout meanwhile), so it was left there; {then} again"
    )


def migrate_docker(
    config_path: str | None = None,
    *,
    source: str = "docker",
    aes_key_path: str | None = None,
) -> MigrationReport:
    """--from docker (plaintext only) or --from openeuler (AES entries and plaintext)."""
    path = config_path or dockerconfig.default_path()
    cfg = dockerconfig.load(path)
    report = MigrationReport(source, config_path=path)
    if not cfg.exists:
        report.notes.append(f"{path} does not exist; nothing to import")
        return report
    if not cfg.writable:
        raise MigrateError(
            f"credhelper: cannot migrate from {path}: {cfg.refusal()}; run: credhelper doctor"
        )
    aes = source == "openeuler"
    if aes and aes_key_path is None:
        aes_key_path = legacy.openeuler_key_path(os.path.dirname(path))
    candidates = docker_candidates(cfg, aes_key_path, report, plaintext=True, aes=aes)
    # Imported under the config lock, only what docker has not changed meanwhile.
    moves = FreshImports(candidates, lambda todo: import_candidates(todo, report))
    rewrite_docker_config(path, moves, report)
    return report


def isulad_server(host: str) -> str:
    # iSulad keys registries by host; docker keys Docker Hub by its v1 URL.
    return DOCKER_HUB if host in HUB_NAMES else host
