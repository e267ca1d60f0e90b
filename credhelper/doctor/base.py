"""What every doctor part shares: severities, Finding, FixReport, and `DoctorBase`,
the diagnosis state and repair plans that the check and fix mixins read and write.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, migrate
from credhelper import store as store_mod
from credhelper.dockerconfig import EntryCheck
from credhelper.store import Store

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


class DoctorBase:
    """The state of one diagnosis; the mixins in this package add the checks and fixes."""

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
        self._unfinished_rotation = False  # a rotation killed before its key was promoted
        self._restore_provider = False  # keyProvider record edited; the header has the real one
        self._corrupt: list[str] = []
        self._strip: list[EntryCheck] = []  # undecodable: removed, re-login needed
        self._imports: list[migrate.Candidate] = []
        self._use_credhelper: list[str] = []
        self._set_creds_store = False
        self._helper_switch: list[str] = []  # credHelpers keys naming a missing helper
        self._hub_alias: str | None = None  # credHelpers["docker.io"] without the v1 key
        # Docker's directory: credhelper's temp files left by a killed write, backups
        # holding plaintext logins (to seal), owned fields split over case-variant keys.
        self._docker_temps: list[str] = []
        self._plain_backups: list[str] = []
        self._fold_duplicates = False

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
