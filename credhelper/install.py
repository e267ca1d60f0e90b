"""`credhelper install` and `uninstall`: wire docker to credhelper, and back.

install: refused (nothing changed) unless docker could run docker-credential-credhelper
(Go's LookPath on PATH); the key (created if needed, provider recorded),
`"credsStore": "credhelper"` in Docker's config.json (every other key kept, backup
first), plaintext credentials moved into the encrypted store, and the logins of the
helper docker used before either imported (`import_helpers`, see helper_import) or
kept in use through credHelpers entries; what it replaced is recorded
(previous_helpers). Idempotent. uninstall: docker works without credhelper again,
with the recorded credsStore/credHelpers put back; credentials go back into
config.json only on explicit request.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, helper_import, keys, legacy, migrate, previous_helpers
from credhelper.dockerconfig.edit import FreshImports
from credhelper.errors import CredhelperError, KeyProblem
from credhelper.store import Store

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
    from_helpers: dict[str, migrate.MigrationReport] = field(default_factory=dict)
    kept_with_helper: dict[str, str] = field(default_factory=dict)  # server -> helper
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "configPath": self.config_path,
            "keyProvider": self.key_provider,
            "keyCreated": self.key_created,
            "configChanged": self.config_changed,
            "replacedCredsStore": self.replaced_creds_store,
            "otherCredHelpers": self.other_helpers,
            "migration": self.migration.as_dict() if self.migration else None,
            "fromHelpers": {k: v.as_dict() for k, v in self.from_helpers.items()},
            "keptWithHelper": self.kept_with_helper,
            "notes": self.notes,
            "backups": self.backups,
        }

    def failed(self) -> bool:
        """A login of a helper imported from could not be moved or read back the same
        (exit 3 / 1; plaintext entries that cannot be moved are named, exit 0 as before)."""
        return any(r.relogin or r.unverified for r in self.from_helpers.values())


def helper_dirs() -> list[str]:
    """Directories that hold this installation's docker-credential-credhelper."""
    found = []
    for base in (sys.argv[0] if sys.argv and sys.argv[0] else "", sys.executable):
        if not base:
            continue
        directory = os.path.dirname(os.path.abspath(base))
        exe = os.path.join(directory, f"docker-credential-{dockerconfig.HELPER_NAME}")
        if os.path.isfile(exe) and os.access(exe, os.X_OK) and directory not in found:
            found.append(directory)
    return found


def require_helper_on_path() -> str:
    """The docker-credential-credhelper docker would run; else refuse with the fix."""
    path = dockerconfig.which_helper(dockerconfig.HELPER_NAME)
    if path is not None:
        return path
    dirs = helper_dirs()
    if dirs:
        fix = (
            f'add its directory to PATH (export PATH="{dirs[0]}:$PATH", also in ~/.profile) '
            "or run scripts/install (it links it into a directory on PATH)"
        )
    else:
        fix = "run scripts/install (it installs it and links it into a directory on PATH)"
    raise helper_import.HelperNotFound(
        "credhelper: docker-credential-credhelper is not on PATH, so docker could not run "
        f"it; nothing was changed; {fix}, then run: credhelper install"
    )


# Helpers that hold logins (worth importing); others (ecr-login, gcloud, ...) make
# short-lived tokens and stay where they are.
STORING_HELPERS = ("pass", "secretservice", "desktop", "osxkeychain", "wincred")


def docker_store(cfg: dockerconfig.DockerConfig) -> str:
    """The helper docker uses for registries without a credHelpers entry: credsStore,
    or (no credsStore, credHelpers or auths at all) the one docker picks by itself
    (pass or secretservice, when on PATH); "" for its plaintext file."""
    if cfg.creds_store():
        return cfg.creds_store()
    return "" if cfg.contains_auth() else dockerconfig.auto_store()


def other_helpers(cfg: dockerconfig.DockerConfig) -> list[str]:
    """Helpers docker uses besides credhelper whose logins install can import."""
    names = [docker_store(cfg)]
    if cfg.doc is not None:
        names += sorted(h for h in set(cfg.cred_helpers().values()) if h in STORING_HELPERS)
    out: list[str] = []
    for name in names:
        if name and name != dockerconfig.HELPER_NAME and name not in out:
            try:
                out.append(helper_import.check_name(name))
            except CredhelperError:
                continue
    return out


def offers(config_path: str) -> list[tuple[str, int | None, str | None]]:
    """(helper, how many logins it lists or None, why not) for each other helper."""
    out: list[tuple[str, int | None, str | None]] = []
    for name in other_helpers(dockerconfig.load(config_path)):
        try:
            servers = helper_import.list_servers(name)
        except CredhelperError as err:
            out.append((name, None, str(err)))
        else:
            out.append((name, len(servers), None))
    return out


def _fetch_helpers(
    cfg: dockerconfig.DockerConfig, names: tuple[str, ...], report: InstallReport
) -> dict[str, tuple[str, helper_import.Fetched]]:
    """Read each named helper's logins (before anything changes: a helper whose list
    fails stops install here); list the registries of a credsStore not imported, to
    keep them with that helper (credHelpers), so docker loses none of them."""
    fetched = {}
    for name in names:
        path = helper_import.find_helper(name)
        fetched[name] = (path, helper_import.fetch(path, name))
    store_now = docker_store(cfg)
    if store_now and store_now != dockerconfig.HELPER_NAME and store_now not in names:
        try:
            servers = helper_import.list_servers(store_now)
        except CredhelperError as err:
            report.notes.append(
                f"{err}; docker now uses credhelper for every registry; to import them: "
                f"credhelper migrate --from-helper {store_now}"
            )
        else:
            helpers = cfg.cred_helpers()
            for server in servers:
                # A name docker could never ask for is not worth an entry (and could
                # carry terminal escapes into install's output).
                if server not in helpers and helper_import.unusable_server(server) is None:
                    report.kept_with_helper[server] = store_now
    return fetched


def _import_helpers(
    cfg: dockerconfig.DockerConfig,
    fetched: dict[str, tuple[str, helper_import.Fetched]],
    report: InstallReport,
) -> list[migrate.Candidate]:
    held: list[migrate.Candidate] = []
    for name, (path, got) in fetched.items():
        mig = migrate.MigrationReport("helper", config_path=cfg.path, helper=path)
        held += helper_import.import_fetched(got, name, cfg, mig)
        report.from_helpers[name] = mig
    return held


def current_provider() -> str:
    """The provider a plain `install` keeps: the store's own (its header's claim, or the
    keyProvider record of a store without a header); for a new store the environment's
    choice (env when CREDHELPER_AESKEY is set), else file. A stray env variable never
    moves an existing store's key: writers refuse it with the fix instead."""
    try:
        snapshot = Store().snapshot()
        claim = snapshot.doc.header_claim()
        record = snapshot.provider_record
    except CredhelperError:
        claim, record = "", None
    if claim in keys.PROVIDERS:
        return claim
    name = record.get("name") if isinstance(record, dict) else None
    if isinstance(name, str) and name in keys.PROVIDERS:
        return name
    return keys.provider_name(None)


def _has_key(provider: str | None = None) -> bool:
    """Whether the store's key loads (and, with `provider`, the store records it)."""
    try:
        snapshot = Store().snapshot()
        if provider is not None:
            record = snapshot.provider_record
            if not (isinstance(record, dict) and record.get("name") == provider):
                return False
        return snapshot.sealer() is not None
    except CredhelperError:
        return False


def _setup_key(provider: str, options: dict[str, str | None] | None = None) -> bool:
    """Make the store's key exist under `provider` (recorded in the store); True if created."""
    from credhelper.keys import setup

    # Already set up this way: a rerun writes nothing (install is idempotent). Vault
    # options may name another transit key or mount, so vault is always configured.
    if provider != "vault" and _has_key(provider):
        return False
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
    import_helpers: tuple[str, ...] = (),
) -> InstallReport:
    """Make docker use credhelper (see the module docstring); `import_helpers`: the
    other helpers whose logins are imported first (the CLI asks, or --from-helper)."""
    if provider not in keys.PROVIDERS:
        raise CredhelperError(
            f"credhelper: unknown key provider {provider!r} (choose one of: "
            f"{', '.join(keys.PROVIDERS)})"
        )
    path = config_path or dockerconfig.default_path()
    require_helper_on_path()
    cfg = dockerconfig.load(path)
    if cfg.exists and not cfg.writable:
        raise dockerconfig.ConfigRefused(
            f"credhelper: refusing to change {path}: {cfg.refusal()}; "
            "fix it by hand, then run install again; run: credhelper doctor"
        )
    report = InstallReport(path, provider)
    fetched = _fetch_helpers(cfg, import_helpers, report)
    report.key_created = _setup_key(provider, provider_options)
    from_helper = _import_helpers(cfg, fetched, report)

    # Plaintext and openEuler AES entries (when their aeskey opens them) move into the
    # store under the config lock, from the file as it is then (a docker login or
    # logout since `cfg` was read wins), in the one rewrite below.
    migration = migrate.MigrationReport("docker", config_path=path)
    key_path = legacy.openeuler_key_path(os.path.dirname(path) or ".")
    candidates = migrate.docker_candidates(cfg, key_path, migration, plaintext=True, aes=True)
    report.migration = migration
    moves = FreshImports(candidates, lambda todo: migrate.import_candidates(todo, migration))
    _rewrite(cfg, report, moves, from_helper)
    return report


def _rewrite(
    cfg: dockerconfig.DockerConfig,
    report: InstallReport,
    moves: FreshImports[migrate.Candidate],
    from_helper: list[migrate.Candidate],
) -> None:
    """Rewrite Docker's config once: credsStore credhelper, moved logins stripped and
    routed to credhelper, the other helper's kept registries routed to it; credsStore
    is left while a login changed since `cfg` was read (docker still reads it)."""
    path, migration = report.config_path, report.migration
    assert migration is not None
    # Credential text docker never sees (a shadowed duplicate or case variant) is
    # plaintext all the same: the rewrite drops it (the backup, sealed, keeps it).
    shadowed = bool(dockerconfig.shadowed_credentials(cfg.tree))
    kept = report.kept_with_helper
    # A plaintext copy of a registry docker was sending to the other helper is
    # stripped (it is in the store now) but the registry stays with that helper.
    servers = [c.server for c in moves.planned + from_helper if c.server not in kept]

    def change(doc: dict[str, Any]) -> bool:
        changed = shadowed
        held = moves.run(doc)
        for cand in held:
            if cand.check is not None:
                changed |= dockerconfig.strip_credentials(doc, cand.check)
        store_now = dockerconfig.go_str(doc, "credsStore")
        if store_now != dockerconfig.HELPER_NAME and not moves.stale:
            report.replaced_creds_store = store_now or None
            dockerconfig.set_creds_store_key(doc, dockerconfig.HELPER_NAME)
            changed = True
        # Entries moved into the store must be served by credhelper even where a
        # credHelpers entry names another helper.
        for cand in [c for c in held + from_helper if c.server not in kept]:
            changed |= dockerconfig.use_credhelper(doc, cand.server, alone=bool(moves.stale))
        helpers = dockerconfig.helpers_map(doc) if kept else {}
        for server, helper in kept.items():
            if server not in helpers:
                helpers[server] = helper
                changed = True
        return changed

    left = previous_helpers.record(path, cfg, servers, creds_store=True, added=kept)
    if left:
        report.notes.append(left)
    result = dockerconfig.modify(path, change)
    report.config_changed = result.changed
    if result.backup:
        report.backups.append(result.backup)
    report.backups.extend(migration.backups)
    migration.config_changed = result.changed
    if moves.stale:  # the others moved; docker still reads the changed ones itself
        raise migrate.changed_error(moves.stale, path, "docker was not switched; run install")
    after = dockerconfig.load(path)
    _check_routed(after, servers)
    report.other_helpers = {
        k: v for k, v in after.cred_helpers().items() if v != dockerconfig.HELPER_NAME
    }


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


# uninstall lives in its own module; re-exported for the CLI and library callers.
from credhelper.uninstall import UninstallReport, uninstall  # noqa: E402

__all__ = ["InstallReport", "UninstallReport", "install", "uninstall"]
