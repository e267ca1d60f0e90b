"""`credhelper doctor`: independent checks over one immutable `Context`, and `fix`.

`run_checks(ctx)` calls each check in turn: a check is a function of the context
(and of any earlier result it needs, passed as a typed value: `StoreState`,
`KeyState`) that returns findings and changes nothing. `fix(ctx, findings)`
(fixes.py) carries out the remedies the findings carry, backing up first.
`Doctor` is the thin facade the CLI uses: one diagnosis, then its fix.
"""

from __future__ import annotations

from credhelper.doctor.docker_checks import check_docker_config
from credhelper.doctor.entry_checks import check_entries, check_expiry, check_online
from credhelper.doctor.fixes import fix
from credhelper.doctor.helper_checks import check_helpers
from credhelper.doctor.isulad_checks import check_isulad
from credhelper.doctor.key_checks import KEY_FIX, KeyState, check_key
from credhelper.doctor.model import (
    ERROR,
    FIX_COMMAND,
    HELPER_EXE,
    INFO,
    WARNING,
    Context,
    Finding,
    FixReport,
)
from credhelper.doctor.schedule_checks import check_schedule
from credhelper.doctor.store_checks import StoreState, check_store
from credhelper.doctor.vault_checks import check_vault
from credhelper.errors import CredhelperError

__all__ = [
    "ERROR",
    "FIX_COMMAND",
    "HELPER_EXE",
    "INFO",
    "KEY_FIX",
    "WARNING",
    "Context",
    "Doctor",
    "Finding",
    "FixReport",
    "KeyState",
    "StoreState",
    "docker_config_step",
    "fix",
    "run_checks",
]


def run_checks(ctx: Context) -> list[Finding]:
    """Every check once, in the order their findings are shown."""
    findings = check_docker_config(ctx)
    store_findings, store = check_store(ctx)
    findings += store_findings
    key_findings, key = check_key(ctx, store)
    findings += key_findings
    findings += check_vault(store.snapshot)
    findings += check_entries(ctx, store.snapshot, key)
    findings += check_expiry(ctx, store.snapshot)
    findings += check_helpers(ctx, store.snapshot)
    findings += check_isulad(ctx, store.snapshot)
    findings += check_schedule(ctx)
    if ctx.online:
        findings += check_online(ctx, store.snapshot, key)
    return findings


def docker_config_step(docker_config_path: str | None = None) -> str:
    """The step that makes docker use credhelper when a command could not update
    Docker's config: `credhelper doctor --fix` when doctor can repair the file, else the
    fix by hand of the first file-wide problem it cannot (what to edit, move or chown)."""
    try:
        findings = check_docker_config(Context.build(docker_config_path))
    except (CredhelperError, OSError):
        findings = []  # the file changed under us: doctor --fix looks again
    for finding in findings:
        if finding.severity != INFO and finding.server is None and not finding.fixable:
            return finding.fix
    return f"run: {FIX_COMMAND}"


class Doctor:
    """One diagnosis (`run`) of Docker's config at `docker_config_path` and the store."""

    def __init__(
        self,
        docker_config_path: str | None = None,
        *,
        isulad_dir: str | None = None,
        online: bool = False,
        search_path: str | None = None,
    ) -> None:
        self.ctx = Context.build(
            docker_config_path, isulad_dir=isulad_dir, online=online, search_path=search_path
        )
        self.findings: list[Finding] = []

    def run(self) -> list[Finding]:
        self.findings = run_checks(self.ctx)
        return self.findings

    def fix(self) -> FixReport:
        """Carry out the remedies of this run's findings; diagnose afresh to re-check."""
        return fix(self.ctx, self.findings)

    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != INFO]
