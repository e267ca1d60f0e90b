"""`credhelper doctor`: the `Doctor` composed of its check and fix parts, and `diagnose`.

Diagnosis is read-only; `Doctor.fix()` (fixes.py) repairs, backing up first.
"""

from __future__ import annotations

from credhelper.doctor.base import (
    ERROR,
    FIX_COMMAND,
    HELPER_EXE,
    INFO,
    KEY_FIX,
    WARNING,
    Finding,
    FixReport,
)
from credhelper.doctor.docker_checks import DockerConfigChecks
from credhelper.doctor.expiry_checks import ExpiryChecks
from credhelper.doctor.fixes import Fixes
from credhelper.doctor.helper_checks import HelperChecks
from credhelper.doctor.schedule_checks import ScheduleChecks
from credhelper.doctor.store_checks import StoreChecks
from credhelper.doctor.vault_checks import VaultChecks

__all__ = [
    "ERROR",
    "FIX_COMMAND",
    "HELPER_EXE",
    "INFO",
    "KEY_FIX",
    "WARNING",
    "Doctor",
    "Finding",
    "FixReport",
    "diagnose",
]


class Doctor(
    DockerConfigChecks,
    StoreChecks,
    ExpiryChecks,
    HelperChecks,
    ScheduleChecks,
    VaultChecks,
    Fixes,
):
    """Runs every check once; `findings` is the result."""

    def run(self) -> list[Finding]:
        self.check_docker_config()
        self.check_store()
        self.check_key()
        self.check_vault()
        self.check_entries()
        self.check_expiry()
        self.check_helpers()
        self.check_isulad()
        self.check_schedule()
        if self.online:
            self.check_online()
        return self.findings

    def fix(self) -> FixReport:
        report = super().fix()
        self._guard(report, "schedule", self.fix_schedule)
        return report


def diagnose(
    docker_config_path: str | None = None,
    *,
    isulad_dir: str | None = None,
    online: bool = False,
) -> Doctor:
    doctor = Doctor(docker_config_path, isulad_dir=isulad_dir, online=online)
    doctor.run()
    return doctor
