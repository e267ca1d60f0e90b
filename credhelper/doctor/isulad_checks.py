"""Checks of iSulad's logins (~/.isulad/auths.json and its aeskey): what credhelper
could import, and what nobody can decrypt any more.
"""

from __future__ import annotations

import os

from credhelper import dockerconfig, legacy, migrate
from credhelper.doctor.base import INFO, WARNING, DoctorBase
from credhelper.errors import CredhelperError


class IsuladChecks(DoctorBase):
    """iSulad's auths.json: left as it is (isula reads it); only reported."""

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
                    creds = legacy.decrypt(value, key)
                except legacy.LegacyError as err:
                    key_error = f"{key_path} does not decrypt it ({err})"
                else:
                    if self._already_stored(migrate.isulad_server(host), creds):
                        continue
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

    def _already_stored(self, server: str, creds: legacy.LegacyCredentials) -> bool:
        """Whether the store already holds exactly this login (imported before)."""
        if self.snapshot is None or server not in self.snapshot.auths:
            return False
        try:
            stored = self.snapshot.get(server)
        except CredhelperError:
            return False
        return (stored.username, stored.secret) == (creds.username, creds.password)
