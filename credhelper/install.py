"""`credhelper install` and `uninstall`: wire docker to credhelper, and back.

install: the key (created if needed, provider recorded), `"credsStore": "credhelper"`
in Docker's config.json (every other key kept, backup first), plaintext credentials
moved into the encrypted store. Idempotent. uninstall: docker works without
credhelper again; credentials go back into config.json only on explicit request.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, keys, legacy, migrate
from credhelper.advice import login_command
from credhelper.errors import CredhelperError, KeyProblem
from credhelper.store import STATE_OK, Store

TOKEN_USERNAME = dockerconfig.TOKEN_USERNAME


@dataclass
class InstallReport:
    config_path: str
    key_provider: str
    key_created: bool = False
    config_changed: bool = False
    replaced_creds_store: str | None = None
    other_helpers: dict[str, str] = field(default_factory=dict)
    migration: migrate.MigrationReport | None = None
    backups: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "configPath": self.config_path,
            "keyProvider": self.key_provider,
            "keyCreated": self.key_created,
            "configChanged": self.config_changed,
            "replacedCredsStore": self.replaced_creds_store,
            "otherCredHelpers": self.other_helpers,
            "migration": self.migration.as_dict() if self.migration else None,
            "backups": self.backups,
        }


def _has_key() -> bool:
    try:
        return Store().snapshot().sealer() is not None
    except CredhelperError:
        return False


def _setup_key(provider: str, options: dict[str, str | None] | None = None) -> bool:
    """Make the store's key exist under `provider` (recorded in the store); True if created."""
    from credhelper.keys import setup

    had_key = _has_key()
    setup.configure_provider(provider, options=options)
    if not _has_key():
        if provider == "env":
            raise KeyProblem(
                "credhelper: the env key provider has no key: set CREDHELPER_AESKEY (base64 of "
                "32 random bytes) or CREDHELPER_AESKEY_FILE and run install again"
            )
        raise KeyProblem(f"credhelper: no key after setting up the {provider} key provider")
    return not had_key


def install(
    provider: str = "file",
    config_path: str | None = None,
    provider_options: dict[str, str | None] | None = None,
) -> InstallReport:
    if provider not in keys.PROVIDERS:
        raise CredhelperError(
            f"credhelper: unknown key provider {provider!r} (choose one of: "
            f"{', '.join(keys.PROVIDERS)})"
        )
    path = config_path or dockerconfig.default_path()
    cfg = dockerconfig.load(path)
    if cfg.exists and not cfg.writable:
        raise dockerconfig.ConfigRefused(
            f"credhelper: refusing to change {path}: {cfg.refusal()}; "
            "fix it by hand (credhelper doctor shows where), then run install again"
        )
    report = InstallReport(path, provider)
    report.key_created = _setup_key(provider, provider_options)

    # Plaintext and openEuler AES entries (when their aeskey opens them) move
    # into the store first; the docker file is rewritten once, below.
    migration = migrate.MigrationReport("docker", config_path=path)
    key_path = legacy.openeuler_key_path(os.path.dirname(path) or ".")
    candidates = migrate.docker_candidates(cfg, key_path, migration, plaintext=True, aes=True)
    held = migrate.import_candidates(candidates, migration)
    report.migration = migration

    # Credential text docker never sees (a shadowed duplicate or case variant) is
    # plaintext all the same: the rewrite drops it (the backup, sealed, keeps it).
    shadowed = bool(dockerconfig.shadowed_credentials(cfg.tree))

    def change(doc: dict[str, Any]) -> bool:
        changed = shadowed
        for cand in held:
            if cand.check is not None:
                changed |= dockerconfig.strip_credentials(doc, cand.check)
        store_now = dockerconfig.go_str(doc, "credsStore")
        if store_now != dockerconfig.HELPER_NAME:
            report.replaced_creds_store = store_now or None
            dockerconfig.set_creds_store_key(doc, dockerconfig.HELPER_NAME)
            changed = True
        # Entries moved into the store must be served by credhelper even where a
        # credHelpers entry names another helper.
        for cand in held:
            changed |= dockerconfig.use_credhelper(doc, cand.server)
        return changed

    result = dockerconfig.modify(path, change)
    report.config_changed = result.changed
    if result.backup:
        report.backups.append(result.backup)
    report.backups.extend(migration.backups)
    migration.config_changed = result.changed
    after = dockerconfig.load(path)
    _check_routed(after, [cand.server for cand in held])
    report.other_helpers = {
        k: v for k, v in after.cred_helpers().items() if v != dockerconfig.HELPER_NAME
    }
    return report


def _check_routed(after: dockerconfig.DockerConfig, servers: list[str]) -> None:
    """Never report success while docker (reading the file as Go does) calls another
    helper for a login just moved into the store, or still finds it in plaintext."""
    if after.creds_store() != dockerconfig.HELPER_NAME:
        raise dockerconfig.DockerConfigError(
            f"credhelper: {after.path} still does not name credhelper as docker reads it "
            "(another program changed it meanwhile?); run install again"
        )
    plain = {c.server for c in dockerconfig.check_entries(after) if c.state == "plaintext"}
    for server in servers:
        helper, why = dockerconfig.helper_for(after, server)
        if helper != dockerconfig.HELPER_NAME or server in plain:
            raise dockerconfig.DockerConfigError(
                f"credhelper: docker would still not use credhelper for {server} ({why}); "
                "run install again"
            )


@dataclass
class UninstallReport:
    config_path: str
    config_changed: bool = False
    restored: list[str] = field(default_factory=list)
    not_restored: list[tuple[str, str]] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    store_path: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "configPath": self.config_path,
            "configChanged": self.config_changed,
            "restoredAsPlaintext": self.restored,
            "notRestored": [
                {"server": s, "reason": r, "fix": login_command(s)} for s, r in self.not_restored
            ],
            "backups": self.backups,
            "storeKept": self.store_path,
        }


def uninstall(config_path: str | None = None, restore_credentials: bool = False) -> UninstallReport:
    """Remove credhelper from Docker's config; optionally hand logins back as plaintext.

    The encrypted store is never deleted here: it stays as the copy of every login.
    """
    path = config_path or dockerconfig.default_path()
    store = Store()
    report = UninstallReport(path, store_path=store.path)
    plain: dict[str, dict[str, str]] = {}
    if restore_credentials and store.exists():
        snapshot = store.snapshot()
        for status in snapshot.statuses():
            if status.state != STATE_OK:
                report.not_restored.append((status.server, status.detail or status.state))
                continue
            creds = snapshot.get(status.server)
            if creds.username == TOKEN_USERNAME:
                plain[status.server] = {"identitytoken": creds.secret}
            elif ":" in creds.username:
                # docker splits `auth` at its first ':': such a name goes in the
                # username/password fields, which docker uses when `auth` is empty.
                plain[status.server] = {"username": creds.username, "password": creds.secret}
            else:
                pair = f"{creds.username}:{creds.secret}".encode()
                plain[status.server] = {"auth": base64.b64encode(pair).decode("ascii")}

    def change(doc: dict[str, Any]) -> bool:
        changed = False
        key, value = dockerconfig.go_field(doc, "credsStore")
        if key is not None and value == dockerconfig.HELPER_NAME:
            del doc[key]
            changed = True
        hkey, helpers = dockerconfig.go_field(doc, "credHelpers")
        if hkey is not None and isinstance(helpers, dict):
            for server in [s for s, h in helpers.items() if h == dockerconfig.HELPER_NAME]:
                del helpers[server]
                changed = True
            if not helpers and changed:
                del doc[hkey]
        auths = dockerconfig.auths_map(doc)
        for server, fields in plain.items():
            entry = auths.get(server)
            entry = dict(entry) if isinstance(entry, dict) else {}
            for name in ("auth", "identitytoken", "username", "password"):
                fkey, _v = dockerconfig.go_field(entry, name)
                if fkey is not None:
                    del entry[fkey]
            entry.update(fields)
            if auths.get(server) != entry:
                auths[server] = entry
                changed = True
                report.restored.append(server)
        return changed

    # Logins to restore with no config.json: create it, never drop them silently.
    result = dockerconfig.modify(path, change, create=bool(plain))
    report.config_changed = result.changed
    if result.backup:
        report.backups.append(result.backup)
    return report
