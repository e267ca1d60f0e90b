"""`doctor --fix`: carry out the repairs the checks planned. Each changed file is backed up
first (0600 `<name>.bak-<UTC timestamp>` next to it), the only copy of anything is never
destroyed, and with nothing left to fix nothing is written.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from typing import Any

from credhelper import backups, dockerconfig, fsutil, migrate
from credhelper.dockerconfig import AUTH_EMPTY, HELPER_NAME
from credhelper.doctor.base import HELPER_EXE, DoctorBase, FixReport, _lstat
from credhelper.errors import CredhelperError


class Fixes(DoctorBase):
    """The repairs; each reads only the plans the checks left on the Doctor."""

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
        planned = self._store_move_aside or self._corrupt or self._stale_temps
        forged = any(f.id == "store.rotation-forged" for f in self.findings)
        if not (planned or self._unfinished_rotation or forged or self._restore_provider):
            return
        if self._restore_provider:
            restored = self.store.restore_provider_record()
            if restored is not None:
                report.actions.append(
                    f"put back the store's keyProvider record {json.dumps(restored[1])} (it "
                    f"had been edited to {json.dumps(restored[0])})"
                )
        directory = self.store.directory
        fsutil.check_private_dir(directory)
        if self._store_move_aside:
            backup = self.store.move_aside_if_unreadable(
                lambda raw: backups.write_backup(self.store.path, raw)
            )
            if backup is not None:
                report.backups.append(backup)
                report.actions.append(f"moved the unreadable store aside to {backup}; log in again")
            return
        if self._stale_temps or self._unfinished_rotation or forged:
            # Taking the lock removes stale temp files and finishes a killed rotation
            # (or drops a forged mark and discards the pending key it names).
            with self.store.exclusive():
                pass
            if forged:
                report.actions.append("dropped the unverifiable key-rotation mark; key kept")
            if self._stale_temps:
                report.actions.append(f"removed interrupted-write temp files in {directory}")
            if self._unfinished_rotation:
                report.actions.append("finished the interrupted key rotation (new key promoted)")
        if self._corrupt:
            backup, removed = self.store.remove_corrupt(
                list(self._corrupt), lambda raw: backups.write_backup(self.store.path, raw)
            )
            if backup is not None:
                report.backups.append(backup)
            for server in removed:
                report.actions.append(f"moved the corrupt entry for {server} aside to {backup}")
                report.needs_login.append(server)

    def _fix_docker_config(self, report: FixReport) -> None:
        self._fix_docker_leftovers(report)
        if not (
            self._strip
            or self._imports
            or self._use_credhelper
            or self._set_creds_store
            or self._helper_switch
            or self._hub_alias
            or self._fold_duplicates
        ):
            return
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
        held, import_failed = self._import_plaintext(report)
        stripped: list[str] = []

        def change(doc: dict[str, Any]) -> bool:
            stripped.clear()
            return self._edit_docker(doc, held, import_failed, stripped)

        result = dockerconfig.modify(self.docker_path, change, create_key=True)
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
        if self._fold_duplicates:
            report.actions.append("folded duplicate keys into one, as docker reads them")
        report.actions.append(f"updated {result.path}")

    def _fix_docker_leftovers(self, report: FixReport) -> None:
        """Temp files of killed writes go; plaintext backups get sealed (when a key exists)."""
        if self._docker_temps:
            for temp in dockerconfig.clean_stale_temps(self.docker_path):
                report.actions.append(f"removed the interrupted-write temp file {temp}")
        if not self._plain_backups:
            return
        sealer = dockerconfig.store_sealer()
        if sealer is None:
            report.failures.append(
                "did not seal the plaintext backups of Docker's config: the store has no key "
                "yet (run: credhelper install)"
            )
            return
        for backup in self._plain_backups:
            backups.seal_in_place(backup, sealer)
            report.actions.append(f"sealed the plaintext backup {backup} with the store key")

    def _import_plaintext(self, report: FixReport) -> tuple[list[migrate.Candidate], bool]:
        """Move the planned plaintext logins into the store: (held, whether it failed)."""
        if not self._imports:
            return [], False
        mig = migrate.MigrationReport("docker")
        try:
            held = migrate.import_candidates(self._imports, mig)
        except CredhelperError as err:
            # The plaintext stays where it is; the other repairs still happen.
            report.failures.append(f"could not move logins into the store: {err.message}")
            return [], True
        report.backups.extend(mig.backups)
        for server in mig.imported:
            report.actions.append(f"moved the login for {server} into the encrypted store")
        for server in mig.replaced:
            report.actions.append(
                f"replaced the stored login for {server} with the one docker was using"
            )
        for server in [*mig.unchanged, *mig.kept_existing]:
            report.actions.append(
                f"removed the plaintext copy of {server} (the store already holds its login)"
            )
        return held, False

    def _edit_docker(
        self,
        doc: dict[str, Any],
        held: list[migrate.Candidate],
        import_failed: bool,
        stripped: list[str],
    ) -> bool:
        """The planned edits of Docker's config (the owned view); True if any changed it."""
        changed = self._fold_duplicates  # rendering folds the duplicates
        for check in [*self._strip, *(c.check for c in held if c.check is not None)]:
            if dockerconfig.strip_credentials(doc, check):
                changed = True
                stripped.append(check.server)
        for server in [*(c.server for c in held), *self._use_credhelper]:
            changed |= dockerconfig.use_credhelper(doc, server)
        helpers_key, helpers = dockerconfig.go_field(doc, "credHelpers")
        if helpers_key is not None and isinstance(helpers, dict):
            for key in self._helper_switch:
                if key in helpers and helpers[key] != HELPER_NAME:
                    helpers[key] = HELPER_NAME
                    changed = True
            alias = self._hub_alias
            if (
                alias is not None
                and isinstance(helpers.get(alias), str)
                and dockerconfig.DOCKER_HUB not in helpers
            ):
                helpers[dockerconfig.DOCKER_HUB] = helpers[alias]
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
