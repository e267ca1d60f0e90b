"""`credhelper doctor`: diagnose everything between docker and the registry, and repair it.

Diagnosis is read-only. `Doctor.fix()` repairs what can be repaired, each changed
file backed up first (0600 `<name>.bak-<UTC timestamp>` next to it), never
destroying the only copy of anything; with nothing left to fix it writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, fsutil, keys, legacy, migrate, paths
from credhelper import store as store_mod
from credhelper.dockerconfig import (
    AUTH_BASE64,
    AUTH_BINARY,
    AUTH_EMPTY,
    AUTH_INVALID,
    AUTH_PLAINTEXT,
    HELPER_NAME,
    EntryCheck,
)
from credhelper.errors import CredhelperError, KeyProblem, StoreError
from credhelper.store import STATE_CORRUPT, STATE_OK, STATE_RELOGIN, Store, login_command

ERROR = "error"
WARNING = "warning"
INFO = "info"
HELPER_EXE = "docker-credential-credhelper"
FIX_COMMAND = "credhelper doctor --fix"
KEY_FIX = (
    "restore the key from a backup; without it, move it aside and log in again to each "
    "registry (credhelper list shows them)"
)


@dataclass(frozen=True)
class Finding:
    """One thing doctor says: what is wrong (one line), where, and how to fix it."""

    id: str
    severity: str
    message: str
    path: str
    fix: str
    fixable: bool = False
    server: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "fix": self.fix,
            "fixable": self.fixable,
            "server": self.server,
        }


@dataclass
class FixReport:
    actions: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    needs_login: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _is_dedicated(directory: str) -> bool:
    """Whether `directory` holds only credhelper's own files (so doctor may chmod it)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    return all(name.lstrip(".").startswith((paths.STORE_NAME, paths.KEY_NAME)) for name in names)


def _is_root() -> bool:
    return os.geteuid() == 0


class Doctor:
    """Runs every check once; `findings` is the result."""

    def __init__(
        self,
        docker_config_path: str | None = None,
        *,
        isulad_dir: str | None = None,
        online: bool = False,
        search_path: str | None = None,
    ) -> None:
        self.docker_path = docker_config_path or dockerconfig.default_path()
        self.isulad_dir = isulad_dir
        self.online = online
        self.search_path = search_path
        self.store = Store()
        self.findings: list[Finding] = []
        self.cfg: dockerconfig.DockerConfig | None = None
        self.entries: list[EntryCheck] = []
        self.snapshot: store_mod.Snapshot | None = None
        self.key_ok = False
        self.store_usable = True
        self.helper_found = True
        # Fix plans gathered during diagnosis.
        self._chmods: list[tuple[str, int]] = []
        self._chowns: list[str] = []
        self._unlinks: list[str] = []
        self._stale_temps = False
        self._store_move_aside = False
        self._corrupt: list[str] = []
        self._strip: list[EntryCheck] = []  # undecodable: removed, re-login needed
        self._imports: list[migrate.Candidate] = []
        self._use_credhelper: list[str] = []
        self._set_creds_store = False
        self._helper_switch: list[str] = []  # credHelpers keys naming a missing helper
        self._hub_alias: str | None = None  # credHelpers["docker.io"] without the v1 key

    # ------------------------------------------------------------------ helpers

    def add(
        self,
        id_: str,
        severity: str,
        message: str,
        path: str,
        fix: str,
        *,
        fixable: bool = False,
        server: str | None = None,
    ) -> None:
        self.findings.append(Finding(id_, severity, message, path, fix, fixable, server))

    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != INFO]

    # ------------------------------------------------------------------ checks

    def run(self) -> list[Finding]:
        self.check_docker_config()
        self.check_store()
        self.check_key()
        self.check_entries()
        self.check_helpers()
        self.check_isulad()
        if self.online:
            self.check_online()
        return self.findings

    def check_docker_config(self) -> None:
        path = self.docker_path
        try:
            cfg = dockerconfig.load(path)
        except CredhelperError as err:
            self.add("docker-config.unreadable", ERROR, err.message, path, "check the path")
            return
        self.cfg = cfg
        if not cfg.exists:
            auto = dockerconfig.auto_store(self.search_path)
            where = (
                f"docker picks docker-credential-{auto} by itself"
                if auto
                else "docker will keep logins in it as plaintext base64"
            )
            self.add(
                "docker-config.creds-store-unset",
                WARNING,
                f"Docker's config.json does not exist, so docker does not use credhelper ({where})",
                path,
                f'{FIX_COMMAND} or credhelper install (creates it with "credsStore": "credhelper")',
                fixable=True,
            )
            self._set_creds_store = True
            return
        st = os.stat(path)
        if st.st_uid != os.geteuid():
            self.add(
                "docker-config.owner",
                WARNING,
                f"owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); "
                "docker cannot save logins here",
                path,
                f"sudo chown {os.geteuid()} {path}",
            )
        elif st.st_mode & 0o077:
            self.add(
                "docker-config.mode",
                WARNING,
                f"mode {_mode(st)} lets other users read it (docker writes it 0600)",
                path,
                f"chmod 600 {path}",
                fixable=True,
            )
            self._chmods.append((os.path.realpath(path), 0o600))
        if cfg.parse_error is not None:
            self.add(
                "docker-config.json",
                ERROR,
                f"not valid JSON: {cfg.parse_error}; docker ignores the whole file "
                f"(it prints: WARNING: Error parsing config file ({path}): "
                f"{cfg.docker_syntax_error() or 'a JSON error'}) and the next docker login "
                "overwrites it",
                path,
                "edit the file at that position by hand; credhelper never rewrites a file "
                "it cannot parse",
            )
            return
        if cfg.trailing_data:
            self.add(
                "docker-config.trailing-data",
                WARNING,
                "there is data after the JSON object; docker ignores it, the next docker "
                "login deletes it",
                path,
                "remove what follows the closing } by hand",
            )
        for key in cfg.duplicate_keys:
            self.add(
                "docker-config.duplicate-key",
                WARNING,
                f'the key "{key}" appears twice in one object; docker merges or overwrites '
                "them and its next rewrite keeps one",
                path,
                "merge the two by hand (credhelper never rewrites such a file)",
            )
        for message in cfg.type_errors:
            self.add(
                "docker-config.type",
                ERROR,
                f"docker cannot load it: {message}",
                path,
                "correct that value's type by hand (credhelper never rewrites a file "
                "docker cannot load)",
            )
        if cfg.type_errors:
            return
        self.entries = dockerconfig.check_entries(cfg)
        openeuler_key_path = legacy.openeuler_key_path(os.path.dirname(path) or ".")
        for check in self.entries:
            self._check_entry(check, path, openeuler_key_path)

    def _check_entry(self, check: EntryCheck, path: str, key_path: str) -> None:
        server = check.server
        relogin = login_command(server)
        if check.state == AUTH_EMPTY:
            self.add(
                "docker-config.auth-empty",
                WARNING,
                f'{server}: "auth": "" crashes docker-py (ValueError: not enough values to unpack)',
                path,
                f"{FIX_COMMAND} (removes the empty value, leaving docker's usual {{}})",
                fixable=True,
                server=server,
            )
            self._strip.append(check)
            return
        if check.state == AUTH_PLAINTEXT:
            what = "an identity token" if check.username == "<token>" else "a password"
            self.add(
                "docker-config.plaintext",
                WARNING,
                f"{server}: {what} is stored in plaintext (base64 is not encryption)",
                path,
                f"{FIX_COMMAND} or credhelper install (moves it into the encrypted store)",
                fixable=True,
                server=server,
            )
            assert check.username is not None and check.secret is not None
            self._imports.append(migrate.Candidate(server, check.username, check.secret, check))
            return
        if check.state not in (AUTH_BASE64, AUTH_INVALID, AUTH_BINARY):
            return
        kind = legacy.record_kind(check.auth) if check.auth else None
        if kind is not None:
            self._check_legacy(check, kind, path, key_path)
            return
        if check.state == AUTH_BINARY:
            message = (
                f"{server}: the auth value decodes to binary data, not user:password; docker "
                "sends it as is and the registry refuses it"
            )
        else:
            message = (
                f"{server}: docker cannot decode the auth value: {check.docker_error} "
                f"(docker prints: WARNING: Error parsing config file ({path}): "
                f"{check.docker_error})"
            )
        self.add(
            f"docker-config.auth-{check.state}",
            ERROR,
            message,
            path,
            f"{FIX_COMMAND} (removes the value after a backup), then: {relogin}",
            fixable=True,
            server=server,
        )
        self._strip.append(check)

    def _check_legacy(self, check: EntryCheck, kind: str, path: str, key_path: str) -> None:
        server = check.server
        name = "openEuler docker" if kind == legacy.OPENEULER else "iSulad"
        docker_says = check.docker_error or "garbage credentials"
        try:
            key = legacy.load_key(key_path)
            key_error = None if key is not None else f"its key {key_path} is missing"
        except legacy.LegacyError as err:
            key, key_error = None, str(err)
        if key is not None:
            try:
                creds = legacy.decrypt(check.auth or "", key)
            except legacy.LegacyError as err:
                key_error = f"{key_path} does not decrypt it ({err})"
            else:
                self.add(
                    f"docker-config.legacy-{kind}",
                    WARNING,
                    f"{server}: an {name} AES-CFB entry (user {creds.username}); {key_path} "
                    f"decrypts it; stock docker cannot ({docker_says})",
                    path,
                    f"{FIX_COMMAND} or credhelper migrate --from openeuler (imports it)",
                    fixable=True,
                    server=server,
                )
                self._imports.append(
                    migrate.Candidate(server, creds.username, creds.password, check)
                )
                return
        self.add(
            f"docker-config.legacy-{kind}-undecryptable",
            ERROR,
            f"{server}: an {name} AES-CFB entry that cannot be decrypted: {key_error}; "
            f"stock docker fails on it ({docker_says})",
            path,
            f"{FIX_COMMAND} (removes it; the backup keeps it), then: {login_command(server)}",
            fixable=True,
            server=server,
        )
        self._strip.append(check)

    def check_store(self) -> None:
        directory = self.store.directory
        st = _lstat(directory)
        if st is None:
            self.add(
                "store.missing",
                INFO,
                "the credhelper store does not exist yet (no logins stored)",
                directory,
                "credhelper install, or credhelper login SERVER",
            )
            return
        dedicated = _is_dedicated(directory)
        if not self._check_node(
            directory, st, "store.dir", "store directory", 0o700, dir_=True, fix_mode=dedicated
        ):
            self.store_usable = False
            return
        self._check_file(self.store.path, "store.file", "store file", 0o600)
        lock = self.store.lock_path
        lst = _lstat(lock)
        if lst is not None:
            if stat.S_ISLNK(lst.st_mode):
                self.add(
                    "store.lock-symlink",
                    ERROR,
                    "the lock file is a symbolic link; every write is refused",
                    lock,
                    f"{FIX_COMMAND} (removes the link; it holds no data)",
                    fixable=True,
                )
                self._unlinks.append(lock)
            else:
                self._check_node(lock, lst, "store.lock", "lock file", 0o600)
        with contextlib.suppress(OSError):
            if any(n.startswith(".") and fsutil.TEMP_MARK in n for n in os.listdir(directory)):
                self.add(
                    "store.stale-temp",
                    INFO,
                    "temporary files left by an interrupted write",
                    directory,
                    f"{FIX_COMMAND} (removes them under the lock; the store itself is intact)",
                    fixable=True,
                )
                self._stale_temps = True
        try:
            self.snapshot = self.store.snapshot()
        except StoreError as err:
            raw_cause = err.message
            version_problem = "version" in raw_cause
            self.add(
                "store.unreadable",
                ERROR,
                raw_cause,
                self.store.path,
                "install the newer credhelper that wrote it"
                if version_problem
                else f"{FIX_COMMAND} (moves the file aside to a backup; then log in again)",
                fixable=not version_problem,
            )
            self._store_move_aside = not version_problem

    def _check_node(
        self,
        path: str,
        st: os.stat_result,
        id_: str,
        what: str,
        mode: int,
        dir_: bool = False,
        fix_mode: bool = True,
    ) -> bool:
        """Symlink, type, owner and mode of one store path; False if it is unusable."""
        if stat.S_ISLNK(st.st_mode):
            self.add(
                f"{id_}-symlink",
                ERROR,
                f"the {what} is a symbolic link; credhelper refuses it",
                path,
                f"replace the link with the real {what} (mv its target over it)",
            )
            return False
        if (dir_ and not stat.S_ISDIR(st.st_mode)) or (not dir_ and not stat.S_ISREG(st.st_mode)):
            kind = "a directory" if dir_ else "a regular file"
            self.add(
                f"{id_}-type",
                ERROR,
                f"the {what} is not {kind}; credhelper cannot use it",
                path,
                f"move it out of the way (mv {path} {path}.old) and run this again",
            )
            return False
        ok = True
        if st.st_uid != os.geteuid():
            self.add(
                f"{id_}-owner",
                ERROR,
                f"the {what} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})",
                path,
                FIX_COMMAND if _is_root() else f"sudo chown {os.geteuid()} {path}",
                fixable=_is_root(),
            )
            if _is_root():
                self._chowns.append(path)
            ok = False
        if st.st_mode & 0o077:
            if fix_mode:
                self.add(
                    f"{id_}-mode",
                    ERROR,
                    f"the {what} has mode {_mode(st)}: group/others can get in "
                    f"(credhelper refuses it; it must be {mode:04o})",
                    path,
                    f"{FIX_COMMAND} (or chmod {mode:o} {path})",
                    fixable=True,
                )
                self._chmods.append((path, mode))
            else:
                # Never chmod a directory that holds other things (CREDHELPER_HOME=$HOME).
                self.add(
                    f"{id_}-mode",
                    ERROR,
                    f"the {what} has mode {_mode(st)} and holds files that are not "
                    "credhelper's: it is not a dedicated store directory",
                    path,
                    "point CREDHELPER_HOME at a directory of its own (or unset it)",
                )
        return ok

    def _check_file(self, path: str, id_: str, what: str, mode: int) -> None:
        st = _lstat(path)
        if st is not None:
            self._check_node(path, st, id_, what, mode)

    def check_key(self) -> None:
        if not self.store_usable:
            return
        record = self.snapshot.doc.get("keyProvider") if self.snapshot else None
        record = record if isinstance(record, dict) else None
        try:
            name = keys.provider_name(record)
            provider = keys.select(record, self.store.directory)
        except KeyProblem as err:
            self.add("key.provider", ERROR, err.message, self.store.directory, "credhelper install")
            return
        sealed = self._sealed_key_ids()
        key_path = getattr(provider, "path", None) if name == "file" else None
        if isinstance(key_path, str):
            st = _lstat(key_path)
            if st is None:
                if sealed:
                    self.add(
                        "key.missing",
                        ERROR,
                        f"the key file is missing, so the {len(sealed)} stored login(s) sealed "
                        "with it cannot be opened (deleted, or the store copied without it?)",
                        key_path,
                        "restore the aeskey from a backup, or log in again to each registry "
                        "(credhelper list shows them)",
                    )
                else:
                    self.add(
                        "key.not-created",
                        INFO,
                        "no key yet; it is created at the first login",
                        key_path,
                        "credhelper install",
                    )
                return
            if not self._check_node(key_path, st, "key", "key file", 0o600):
                return
        try:
            key = provider.load()
        except KeyProblem as err:
            if not any(f.id.startswith("key") for f in self.findings):
                self.add("key.unreadable", ERROR, err.message, self.store.directory, KEY_FIX)
            return
        except CredhelperError as err:
            self.add("key.unreadable", ERROR, err.message, self.store.directory, KEY_FIX)
            return
        if key is None:
            if sealed:
                self.add(
                    "key.missing",
                    ERROR,
                    f"{provider.describe()} holds no key; {len(sealed)} stored login(s) need it",
                    self.store.directory,
                    "restore the key, or log in again to each registry",
                )
            return
        self.key_ok = True
        from credhelper.crypto import key_id

        current = key_id(key)
        if sealed and current not in sealed:
            self.add(
                "key.mismatch",
                ERROR,
                f"the current key ({current}, {provider.describe()}) sealed none of the stored "
                f"logins (they need key {', '.join(sorted(sealed))}): the key was replaced",
                self.store.path,
                "restore the old key, or log in again to each registry (credhelper list)",
            )

    def _sealed_key_ids(self) -> set[str]:
        if self.snapshot is None:
            return set()
        return {
            e["keyId"]
            for e in self.snapshot.auths.values()
            if isinstance(e, dict) and isinstance(e.get("keyId"), str) and e.get("sealed")
        }

    def check_entries(self) -> None:
        if self.snapshot is None:
            return
        try:
            statuses = self.snapshot.statuses()
        except CredhelperError as err:
            if not any(f.id.startswith("key") for f in self.findings):
                self.add("key.unreadable", ERROR, err.message, self.store.directory, KEY_FIX)
            return
        usable = 0
        for status in statuses:
            if status.state == STATE_OK:
                usable += 1
            elif status.state == STATE_RELOGIN:
                self.add(
                    "store.entry-needs-login",
                    WARNING,
                    f"{status.server}: {status.detail.removeprefix('credhelper: ')}",
                    self.store.path,
                    login_command(status.server),
                    server=status.server,
                )
            elif status.state == STATE_CORRUPT:
                self.add(
                    "store.entry-corrupt",
                    ERROR,
                    f"{status.server}: stored entry is corrupt ({status.detail})",
                    self.store.path,
                    f"{FIX_COMMAND} (moves it aside to a backup of the store), then: "
                    f"{login_command(status.server)}",
                    fixable=True,
                    server=status.server,
                )
                self._corrupt.append(status.server)
        if statuses:
            self.add(
                "store.entries",
                INFO,
                f"{usable} of {len(statuses)} stored login(s) usable",
                self.store.path,
                "",
            )

    def check_helpers(self) -> None:
        exe = shutil.which(HELPER_EXE, path=self.search_path)
        self.helper_found = exe is not None
        cfg = self.cfg if self.cfg is not None and self.cfg.doc is not None else None
        referenced = cfg is not None and (
            cfg.creds_store() == HELPER_NAME or HELPER_NAME in cfg.cred_helpers().values()
        )
        if exe is None:
            self.add(
                "helper.not-on-path",
                ERROR if referenced else WARNING,
                f"{HELPER_EXE} is not on PATH; docker fails with: error getting credentials - "
                f'err: exec: "{HELPER_EXE}": executable file not found in $PATH',
                "$PATH",
                "put the directory holding docker-credential-credhelper on PATH "
                "(e.g. pipx install credhelper, or scripts/install)",
            )
        else:
            self._check_helper_runs(exe)
        if os.environ.get("DOCKER_AUTH_CONFIG"):
            self.add(
                "docker.auth-config-env",
                INFO,
                "DOCKER_AUTH_CONFIG is set: docker uses the logins in it before any helper",
                "DOCKER_AUTH_CONFIG",
                "unset DOCKER_AUTH_CONFIG to use the stored logins",
            )
        if cfg is None or self.cfg is None or self.cfg.type_errors:
            return
        path = self.docker_path
        store_now = cfg.creds_store()
        if store_now and store_now != HELPER_NAME:
            if dockerconfig.which_helper(store_now, self.search_path) is None:
                self.add(
                    "docker-config.helper-missing",
                    ERROR,
                    f'"credsStore": "{store_now}" names docker-credential-{store_now}, which is '
                    "not on PATH: every docker login/pull/push fails with error getting "
                    "credentials",
                    path,
                    f'{FIX_COMMAND} (sets "credsStore": "credhelper")',
                    fixable=True,
                )
                self._set_creds_store = True
            else:
                self.add(
                    "docker-config.other-creds-store",
                    WARNING,
                    f'"credsStore": "{store_now}": docker keeps logins in '
                    f"docker-credential-{store_now}, not in credhelper",
                    path,
                    "credhelper install (switches credsStore to credhelper)",
                )
        elif not store_now:
            auto = "" if cfg.contains_auth() else dockerconfig.auto_store(self.search_path)
            where = (
                f"docker picks docker-credential-{auto} by itself"
                if auto
                else "docker keeps logins in config.json as plaintext base64"
            )
            self.add(
                "docker-config.creds-store-unset",
                WARNING,
                f"no credsStore: {where}",
                path,
                f'{FIX_COMMAND} or credhelper install (sets "credsStore": "credhelper")',
                fixable=True,
            )
            self._set_creds_store = True
        for key, helper in sorted(cfg.cred_helpers().items()):
            if (
                helper != HELPER_NAME
                and dockerconfig.which_helper(helper, self.search_path) is None
            ):
                self.add(
                    "docker-config.helper-missing",
                    ERROR,
                    f'credHelpers["{key}"] names docker-credential-{helper}, which is not on '
                    f"PATH: docker fails for {key}",
                    path,
                    f"{FIX_COMMAND} (points it at credhelper)",
                    fixable=True,
                    server=key,
                )
                self._helper_switch.append(key)
        helpers_now = cfg.cred_helpers()
        for alias in ("docker.io", "index.docker.io"):
            if alias in helpers_now and dockerconfig.DOCKER_HUB not in helpers_now:
                self.add(
                    "docker-config.hub-key",
                    WARNING,
                    f'credHelpers["{alias}"] is used by skopeo/podman only: the docker CLI looks '
                    f'up Docker Hub as "{dockerconfig.DOCKER_HUB}"',
                    path,
                    f'{FIX_COMMAND} (adds credHelpers["{dockerconfig.DOCKER_HUB}"] = '
                    f'"{helpers_now[alias]}")',
                    fixable=True,
                )
                self._hub_alias = alias
                break
        stored = set(self.snapshot.auths) if self.snapshot is not None else set()
        registries = sorted(stored | set(cfg.auths()) | set(cfg.cred_helpers()))
        for server in registries:
            helper, why = dockerconfig.helper_for(cfg, server, self.search_path)
            shown = f"docker-credential-{helper}" if helper else "config.json itself"
            self.add(
                "helper.route",
                INFO,
                f"{server}: docker uses {shown} ({why})",
                path,
                "",
                server=server,
            )
            if server in stored and helper and helper != HELPER_NAME:
                if server in self._helper_switch:
                    continue
                self.add(
                    "helper.overridden",
                    WARNING,
                    f"{server}: credhelper holds a login, but docker calls "
                    f"docker-credential-{helper} ({why})",
                    path,
                    f"{FIX_COMMAND} (adds credHelpers[{server!r}] = credhelper)",
                    fixable=True,
                    server=server,
                )
                self._use_credhelper.append(server)

    def _check_helper_runs(self, exe: str) -> None:
        try:
            proc = subprocess.run(
                [exe, "version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
            ok = proc.returncode == 0 and proc.stdout.startswith(HELPER_EXE.encode())
            detail = proc.stdout.decode("utf-8", "replace").strip()[:200]
        except (OSError, subprocess.TimeoutExpired) as err:
            ok, detail = False, str(err)
        if not ok:
            self.add(
                "helper.broken",
                ERROR,
                f"{exe} does not run ({detail or 'no output'})",
                exe,
                "reinstall credhelper",
            )
            return
        from credhelper import __version__

        theirs = detail.split()[-1] if detail.split() else ""
        if theirs != __version__:
            self.add(
                "helper.version-mismatch",
                WARNING,
                f"docker runs {exe}, version {theirs or 'unknown'}, but this credhelper is "
                f"{__version__}: another installation comes first on PATH",
                exe,
                "remove the other installation or reorder PATH",
            )

    def check_isulad(self) -> None:
        directory = self.isulad_dir or legacy.isulad_dir_default()
        auths_path = os.path.join(directory, "auths.json")
        if not os.path.exists(auths_path):
            return
        try:
            cfg = dockerconfig.load(auths_path)
        except CredhelperError as err:
            self.add("isulad.unreadable", WARNING, err.message, auths_path, "")
            return
        key_path = os.path.join(directory, "aeskey")
        try:
            key = legacy.load_key(key_path)
            key_error = None if key is not None else f"its key {key_path} is missing"
        except legacy.LegacyError as err:
            key, key_error = None, str(err)
        for host, entry in sorted(cfg.auths().items()):
            value = entry.get("auth") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                continue
            if key is not None:
                try:
                    legacy.decrypt(value, key)
                except legacy.LegacyError as err:
                    key_error = f"{key_path} does not decrypt it ({err})"
                else:
                    self.add(
                        "isulad.importable",
                        INFO,
                        f"{host}: an iSulad login that credhelper can import",
                        auths_path,
                        f"credhelper migrate --from isulad --isulad-dir {directory}",
                        server=host,
                    )
                    continue
            self.add(
                "isulad.undecryptable",
                WARNING,
                f"{host}: an iSulad login that cannot be decrypted: {key_error}",
                auths_path,
                f"isula login {host} (or credhelper login {host})",
                server=host,
            )

    def check_online(self) -> None:
        try:
            from credhelper.registry import AuthRejected, verify_login
        except ImportError:
            self.add(
                "online.unavailable",
                INFO,
                "--online is unavailable: this build has no registry handshake",
                "",
                "",
            )
            return
        if self.snapshot is None or not self.key_ok:
            return
        for server in self.snapshot.servers():
            try:
                creds = self.snapshot.get(server)
            except CredhelperError:
                continue  # already reported by the entry checks
            try:
                verify_login(server, creds.username, creds.secret)
            except AuthRejected as err:
                self.add(
                    "online.rejected",
                    ERROR,
                    f"{server}: the registry refuses the stored login ({err.message})",
                    self.store.path,
                    login_command(server),
                    server=server,
                )
            except CredhelperError as err:
                self.add(
                    "online.unreachable",
                    WARNING,
                    f"{server}: could not check the login ({err.message})",
                    self.store.path,
                    "check the network, the registry address and its TLS certificate",
                    server=server,
                )
            else:
                self.add(
                    "online.ok", INFO, f"{server}: the registry accepts the stored login", "", ""
                )

    # ------------------------------------------------------------------ fixes

    def fix(self) -> FixReport:
        """Apply every planned repair; callers run a fresh Doctor afterwards to re-check."""
        report = FixReport()
        self._fix_nodes(report)
        self._guard(report, "store", self._fix_store)
        self._guard(report, "Docker config", self._fix_docker_config)
        return report

    def _guard(self, report: FixReport, what: str, step: Callable[[FixReport], None]) -> None:
        try:
            step(report)
        except CredhelperError as err:
            report.failures.append(f"could not repair the {what}: {err.message}")

    def _fix_nodes(self, report: FixReport) -> None:
        for path in self._chowns:
            try:
                os.chown(path, os.geteuid(), os.getegid(), follow_symlinks=False)
                report.actions.append(f"chown {os.geteuid()} {path}")
            except OSError as err:
                report.failures.append(f"chown {path}: {err.strerror}")
        for path, mode in self._chmods:
            try:
                os.chmod(path, mode, follow_symlinks=False)
                report.actions.append(f"chmod {mode:o} {path}")
            except (OSError, NotImplementedError) as err:
                report.failures.append(f"chmod {path}: {err}")
        for path in self._unlinks:
            st = _lstat(path)
            if st is not None and stat.S_ISLNK(st.st_mode):
                os.unlink(path)
                report.actions.append(f"removed the symbolic link {path}")

    def _fix_store(self, report: FixReport) -> None:
        if not (self._store_move_aside or self._corrupt or self._stale_temps):
            return
        directory = self.store.directory
        fsutil.check_private_dir(directory)
        with fsutil.locked(self.store.lock_path):
            if self._stale_temps:
                fsutil.remove_stale_temps(directory)
                report.actions.append(f"removed interrupted-write temp files in {directory}")
            raw = fsutil.read_file_nofollow(self.store.path, "store")
            if raw is None:
                return
            if self._store_move_aside:
                try:
                    store_mod.parse_document(raw, self.store.path)
                except StoreError:
                    backup = dockerconfig.write_backup(self.store.path, raw)
                    os.unlink(self.store.path)
                    fsutil.fsync_dir(directory)
                    report.backups.append(backup)
                    report.actions.append(
                        f"moved the unreadable store aside to {backup}; log in again"
                    )
                return
            doc = store_mod.parse_document(raw, self.store.path)
            snap = store_mod.Snapshot(doc, self.store.path, directory, raw)
            still = [
                s
                for s in self._corrupt
                if s in snap.auths and snap.status(s).state == STATE_CORRUPT
            ]
            if not still:
                return
            backup = dockerconfig.write_backup(self.store.path, raw)
            report.backups.append(backup)
            for server in still:
                del doc["auths"][server]
                report.actions.append(f"moved the corrupt entry for {server} aside to {backup}")
                report.needs_login.append(server)
            fsutil.atomic_write(self.store.path, store_mod.serialize_document(doc), what="store")

    def _fix_docker_config(self, report: FixReport) -> None:
        if not (
            self._strip
            or self._imports
            or self._use_credhelper
            or self._set_creds_store
            or self._helper_switch
            or self._hub_alias
        ):
            return
        held: list[migrate.Candidate] = []
        import_failed = False
        if not self.helper_found and (self._imports or self._set_creds_store):
            # Pointing docker at a helper it cannot run would break every pull.
            report.failures.append(
                f"did not point docker at credhelper or move logins into it: {HELPER_EXE} "
                "is not on PATH"
            )
            self._imports = []
            self._set_creds_store = False
            self._use_credhelper = []
            self._helper_switch = []
        if self._imports:
            mig = migrate.MigrationReport("docker")
            try:
                held = migrate.import_candidates(self._imports, mig)
            except CredhelperError as err:
                # The plaintext stays where it is; the other repairs still happen.
                report.failures.append(f"could not move logins into the store: {err.message}")
                held = []
                import_failed = True
            report.backups.extend(mig.backups)
            for server in mig.imported:
                report.actions.append(f"moved the login for {server} into the encrypted store")
            for server in [*mig.unchanged, *mig.kept_existing]:
                report.actions.append(
                    f"removed the plaintext copy of {server} (the store already holds its login)"
                )
        stripped: list[str] = []

        def change(doc: dict[str, Any]) -> bool:
            changed = False
            stripped.clear()
            for check in [*self._strip, *(c.check for c in held if c.check is not None)]:
                if dockerconfig.strip_credentials(doc, check):
                    changed = True
                    stripped.append(check.server)
            for cand in held:
                changed |= dockerconfig.use_credhelper(doc, cand.server)
            for server in self._use_credhelper:
                changed |= dockerconfig.use_credhelper(doc, server)
            helpers_key, helpers = dockerconfig.go_field(doc, "credHelpers")
            if helpers_key is not None and isinstance(helpers, dict):
                for key in self._helper_switch:
                    if key in helpers and helpers[key] != HELPER_NAME:
                        helpers[key] = HELPER_NAME
                        changed = True
            if (
                self._hub_alias is not None
                and helpers_key is not None
                and isinstance(helpers, dict)
                and isinstance(helpers.get(self._hub_alias), str)
                and dockerconfig.DOCKER_HUB not in helpers
            ):
                helpers[dockerconfig.DOCKER_HUB] = helpers[self._hub_alias]
                changed = True
            # Switching docker to credhelper while the plaintext logins could not
            # move would make docker stop using them.
            if (
                self._set_creds_store
                and not import_failed
                and dockerconfig.go_str(doc, "credsStore") != HELPER_NAME
            ):
                dockerconfig.set_creds_store_key(doc, HELPER_NAME)
                changed = True
            return changed

        result = dockerconfig.modify(self.docker_path, change)
        if not result.changed:
            return
        if result.backup:
            report.backups.append(result.backup)
        for check in self._strip:
            if check.server not in stripped:
                continue
            if check.state == AUTH_EMPTY:
                report.actions.append(f'removed "auth": "" from {check.server}')
            else:
                report.actions.append(f"removed the undecodable auth value of {check.server}")
                report.needs_login.append(check.server)
        report.actions.append(f"updated {result.path}")


def diagnose(
    docker_config_path: str | None = None,
    *,
    isulad_dir: str | None = None,
    online: bool = False,
) -> Doctor:
    doctor = Doctor(docker_config_path, isulad_dir=isulad_dir, online=online)
    doctor.run()
    return doctor
