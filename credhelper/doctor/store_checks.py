"""Checks of credhelper's own side: the store directory and files, the lock and
leftover temp files, the key, each stored entry, and (with --online) the registries.
"""

from __future__ import annotations

import contextlib
import os
import stat

from credhelper import fsutil, keys, paths
from credhelper.advice import login_command
from credhelper.doctor.base import (
    ERROR,
    FIX_COMMAND,
    INFO,
    KEY_FIX,
    WARNING,
    DoctorBase,
    _lstat,
    _mode,
)
from credhelper.errors import CredhelperError, KeyProblem, StoreError
from credhelper.store import (
    STATE_CORRUPT,
    STATE_EXPIRED,
    STATE_OK,
    STATE_RELOGIN,
    ProviderRecordEdited,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.keys.base import KeyProvider


def _is_dedicated(directory: str) -> bool:
    """Whether `directory` holds only credhelper's own files (so doctor may chmod it)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    return all(name.lstrip(".").startswith((paths.STORE_NAME, paths.KEY_NAME)) for name in names)


def _is_root() -> bool:
    return os.geteuid() == 0


class StoreChecks(DoctorBase):
    """The store, its key and its entries, as credhelper itself will find them."""

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
        record = self.snapshot.provider_record if self.snapshot else None
        try:
            name = keys.provider_name(record)
            provider = keys.select(record, self.store.directory)
        except KeyProblem as err:
            self.add("key.provider", ERROR, err.message, self.store.directory, "credhelper install")
            return
        sealed = self._sealed_key_ids()
        if name == "file" and not self._check_key_file(provider, sealed):
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
                    "restore the key, or start over: credhelper rotate, then log in again to "
                    "each registry",
                )
            return
        self.key_ok = True
        from credhelper.crypto import key_id

        current = key_id(key)
        try:
            unfinished = self.snapshot.unfinished_rotation() if self.snapshot else None
            forged = self.snapshot.forged_rotation() if self.snapshot else None
            created = self.snapshot.key_created() if self.snapshot else None
        except ProviderRecordEdited as err:
            self.add(
                "store.provider-edited",
                ERROR,
                err.message.removeprefix("credhelper: ").split("; run:")[0],
                self.store.path,
                f"{FIX_COMMAND} (puts back the record the key authenticates)",
                fixable=True,
            )
            self._restore_provider = True
            return
        except CredhelperError as err:
            self.add("key.unreadable", ERROR, err.message, self.store.path, KEY_FIX)
            return
        if unfinished is not None:
            self.add(
                "store.rotation-unfinished",
                WARNING,
                f"a key rotation was interrupted after the store was rewritten under the new "
                f"key {unfinished}, before that key replaced {current}; every login is usable",
                self.store.path,
                f"{FIX_COMMAND} (or any credhelper login/logout) finishes it",
                fixable=True,
            )
            self._unfinished_rotation = True
            return
        if forged is not None:
            # Never advise promoting a pending key the store's header does not vouch for.
            self.add(
                "store.rotation-forged",
                ERROR,
                f"the store's key-rotation mark names key {forged}, but no held key of that "
                f"id sealed the store's header: the mark (or a pending key) was planted or "
                f"edited; the current key {current} stays",
                self.store.path,
                f"{FIX_COMMAND} (drops the mark and discards any pending key; the key stays)",
                fixable=True,
            )
        self._report_key_age(created)
        if sealed and current not in sealed:
            self.add(
                "key.mismatch",
                ERROR,
                f"the current key ({current}, {provider.describe()}) sealed none of the stored "
                f"logins (they need key {', '.join(sorted(sealed))}): the key was replaced",
                self.store.path,
                "restore the old key, or start over: credhelper rotate, then log in again to "
                "each registry (credhelper list)",
            )

    def _check_key_file(self, provider: KeyProvider, sealed: set[str]) -> bool:
        """The file provider's key file exists and is private; False: stop checking the key."""
        key_path = getattr(provider, "path", None)
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
                        "restore the aeskey from a backup, or start over: credhelper rotate, "
                        "then log in again to each registry (credhelper list shows them)",
                    )
                else:
                    self.add(
                        "key.not-created",
                        INFO,
                        "no key yet; it is created at the first login",
                        key_path,
                        "credhelper install",
                    )
                return False
            return self._check_node(key_path, st, "key", "key file", 0o600)
        return True

    def _sealed_key_ids(self) -> set[str]:
        return self.snapshot.key_ids_in_use() if self.snapshot is not None else set()

    def _report_key_age(self, created: str | None) -> None:
        from credhelper import durations

        age = durations.age_seconds(created) if created is not None else None
        text = (
            f"the key was created at {created} ({durations.format_duration(age)} ago)"
            if created is not None and age is not None
            else "the key's age is unknown (made before credhelper recorded it, or an env key)"
        )
        self.add("key.age", INFO, text, self.store.directory, "")
        if age is not None and age < -durations.CLOCK_SKEW_SECONDS:
            # A clock that was ahead: rotation by age would wait until it catches up.
            self.add(
                "key.created-in-future",
                WARNING,
                f"the key's recorded creation time {created} is "
                f"{durations.format_duration(-age)} in the future (the clock was ahead when "
                "it was made); rotate --if-older-than and the schedule rotate it at their "
                "next run",
                self.store.directory,
                "credhelper rotate --reencrypt (a new key with a true creation time)",
            )

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
            elif status.state == STATE_EXPIRED:
                self.add(
                    "store.entry-expired",
                    WARNING,
                    f"{status.server}: the login expired at {status.expires}",
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
