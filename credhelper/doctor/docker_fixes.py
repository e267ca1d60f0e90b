"""`doctor --fix` for Docker's config.json: temp files of killed writes removed,
plaintext backups sealed, then one locked read-modify-write (after a backup) that
moves plaintext logins into the store, strips undecodable values, points docker at
credhelper and folds duplicate keys, each as the findings' remedies ask.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from credhelper import backups, dockerconfig, fsutil, migrate
from credhelper.dockerconfig import AUTH_EMPTY, HELPER_NAME, EntryCheck
from credhelper.dockerconfig.edit import still_holds
from credhelper.doctor import remedies as r
from credhelper.doctor.model import HELPER_EXE, HELPER_NOT_ON_PATH, Context, Finding, FixReport
from credhelper.errors import CredhelperError


@dataclass
class DockerPlan:
    """The edits of Docker's config the findings ask for, gathered by remedy type."""

    strip: list[EntryCheck] = field(default_factory=list)
    imports: list[migrate.Candidate] = field(default_factory=list)
    use_credhelper: list[str] = field(default_factory=list)
    switch: list[str] = field(default_factory=list)
    hub_alias: str | None = None
    set_creds_store: bool = False
    fold: bool = False

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> DockerPlan:
        plan = cls()
        for finding in findings:
            remedy = finding.remedy
            if isinstance(remedy, r.StripEntry):
                plan.strip.append(remedy.check)
            elif isinstance(remedy, r.ImportLogin):
                plan.imports.append(remedy.candidate)
            elif isinstance(remedy, r.UseCredhelper):
                plan.use_credhelper.append(remedy.server)
            elif isinstance(remedy, r.SwitchHelper):
                plan.switch.append(remedy.key)
            elif isinstance(remedy, r.HubAlias):
                plan.hub_alias = remedy.alias
            elif remedy is r.Step.SET_CREDS_STORE:
                plan.set_creds_store = True
            elif remedy is r.Step.FOLD_DUPLICATES:
                plan.fold = True
        return plan

    def empty(self) -> bool:
        return not (
            self.strip
            or self.imports
            or self.use_credhelper
            or self.switch
            or self.hub_alias
            or self.set_creds_store
            or self.fold
        )


def fix_docker_config(ctx: Context, findings: Sequence[Finding], report: FixReport) -> None:
    fix_leftovers(ctx, findings, report)
    plan = DockerPlan.of(findings)
    if plan.empty():
        return
    if any(f.id == HELPER_NOT_ON_PATH for f in findings) and (plan.imports or plan.set_creds_store):
        # Pointing docker at a helper it cannot run would break every pull.
        report.failures.append(
            f"did not point docker at credhelper or move logins into it: {HELPER_EXE} "
            "is not on PATH"
        )
        plan.imports, plan.set_creds_store, plan.use_credhelper, plan.switch = [], False, [], []
    moves = Imports(plan.imports, report)
    stripped: list[str] = []

    def change(doc: dict[str, Any]) -> bool:
        # Under the config lock, on the file as it is now: only a login still as
        # diagnosed moves, and only what moved is routed to credhelper.
        stripped.clear()
        held, unsure = moves.run(doc)
        return edit_docker(doc, plan, held, unsure, stripped)

    result = dockerconfig.modify(ctx.docker_path, change, create_key=True)
    moves.report_stale()
    if not result.changed:
        return
    if result.backup:
        report.backups.append(result.backup)
    for check in plan.strip:
        if check.server not in stripped:
            continue
        if check.state == AUTH_EMPTY:
            report.actions.append(f'removed "auth": "" from {check.server}')
        else:
            report.actions.append(f"removed the undecodable auth value of {check.server}")
            report.needs_login.append(check.server)
    if plan.fold:
        report.actions.append("folded duplicate keys into one, as docker reads them")
    report.actions.append(f"updated {result.path}")


def fix_leftovers(ctx: Context, findings: Sequence[Finding], report: FixReport) -> None:
    """Temp files of killed writes go; plaintext backups get sealed (when a key exists)."""
    if any(f.remedy is r.Step.REMOVE_DOCKER_TEMPS for f in findings):
        for temp in dockerconfig.clean_stale_temps(ctx.docker_path):
            report.actions.append(f"removed the interrupted-write temp file {temp}")
    plain = [p for f in findings if isinstance(f.remedy, r.SealBackups) for p in f.remedy.paths]
    if not plain:
        return
    sealer = dockerconfig.store_sealer()
    if sealer is None:
        report.failures.append(
            "did not seal the plaintext backups of Docker's config: the store has no key "
            "yet (run: credhelper install)"
        )
        return
    # Under Docker's config lock (credhelper writes its backups under it), each file
    # is checked again as diagnosed: one swapped since is left, and one that cannot
    # be sealed does not stop the others.
    with fsutil.locked(os.path.join(os.path.dirname(plain[0]) or ".", dockerconfig.LOCK_NAME)):
        for backup in plain:
            try:
                sealed = backups.seal_in_place(backup, sealer, dockerconfig.raw_holds_credentials)
            except CredhelperError as err:
                report.failures.append(f"did not seal the backup {backup}: {err.message}")
                continue
            if sealed:
                report.actions.append(f"sealed the plaintext backup {backup} with the store key")
            else:
                report.actions.append(f"left {backup} alone: it no longer holds plaintext logins")


class Imports:
    """The planned plaintext logins, moved into the store from inside `modify`'s
    change (which may run more than once: each login is imported at most once)."""

    def __init__(self, planned: list[migrate.Candidate], report: FixReport) -> None:
        self.planned, self.report = planned, report
        self.tried: set[int] = set()  # indexes into planned
        self.held: set[int] = set()
        self.failed = False
        self.stale: list[migrate.Candidate] = []

    def run(self, doc: dict[str, Any]) -> tuple[list[migrate.Candidate], bool]:
        """Import the planned logins `doc` still holds as diagnosed: (the held ones
        among them, whether docker must not be switched to credhelper as a whole)."""
        current = [
            i
            for i, cand in enumerate(self.planned)
            if cand.check is not None
            and still_holds(doc, cand.check)
            and routed_to(doc, cand.server) in ("", HELPER_NAME)
        ]
        todo = [i for i in current if i not in self.tried and not self.failed]
        self.tried.update(todo)
        # Whether docker reads the copy itself is taken from the file as it is now.
        now = [
            replace(self.planned[i], docker_uses=routed_to(doc, self.planned[i].server) == "")
            for i in todo
        ]
        held = import_plaintext(now, self.report)
        if held is None:
            self.failed = True
        else:
            held_ids = {id(c) for c in held}
            self.held.update(i for i, c in zip(todo, now, strict=True) if id(c) in held_ids)
        gone = set(range(len(self.planned))) - set(current)
        self.stale = [self.planned[i] for i in sorted(gone)]
        return [self.planned[i] for i in current if i in self.held], self.failed or bool(gone)

    def report_stale(self) -> None:
        for cand in self.stale:
            self.report.failures.append(
                f"did not move the login for {cand.server} into the store: Docker's config "
                "for it changed since diagnosis; run --fix again"
            )


def routed_to(doc: dict[str, Any], server: str) -> str:
    """The helper docker calls for `server` per `doc` ("": it reads config.json itself;
    the entry exists, so docker makes no automatic choice)."""
    _key, helpers = dockerconfig.go_field(doc, "credHelpers")
    helper = helpers.get(server) if isinstance(helpers, dict) else None
    if isinstance(helper, str) and helper:
        return helper
    return dockerconfig.go_str(doc, "credsStore")


def import_plaintext(
    imports: list[migrate.Candidate], report: FixReport
) -> list[migrate.Candidate] | None:
    """Move these plaintext logins into the store: those whose plaintext copy may go
    (None: the store could not be written).

    A copy that differs from the login the store holds for its server and was not
    imported (docker was using the store's) stays: it may be the newer one.
    """
    if not imports:
        return []
    mig = migrate.MigrationReport("docker")
    try:
        held = migrate.import_candidates(imports, mig)
    except CredhelperError as err:
        # The plaintext stays where it is; the other repairs still happen.
        report.failures.append(f"could not move logins into the store: {err.message}")
        return None
    report.backups.extend(mig.backups)
    for server in mig.imported:
        report.actions.append(f"moved the login for {server} into the encrypted store")
    for server in mig.replaced:
        report.actions.append(
            f"replaced the stored login for {server} with the one docker was using"
        )
    for server in mig.unchanged:
        report.actions.append(
            f"removed the plaintext copy of {server} (the store already holds its login)"
        )
    for server in mig.kept_existing:
        report.failures.append(
            f"left the plaintext login of {server} in Docker's config: the store holds a "
            f"different one for it; keep one (credhelper login {server}), then remove the "
            "other by hand"
        )
    kept = set(mig.kept_existing)
    return [c for c in held if c.server not in kept]


def edit_docker(
    doc: dict[str, Any],
    plan: DockerPlan,
    held: list[migrate.Candidate],
    unsure: bool,
    stripped: list[str],
) -> bool:
    """The planned edits of Docker's config (the owned view); True if any changed it."""
    changed = plan.fold  # rendering folds the duplicates
    for check in [*plan.strip, *(c.check for c in held if c.check is not None)]:
        if dockerconfig.strip_credentials(doc, check):
            changed = True
            stripped.append(check.server)
    for server in [*(c.server for c in held), *plan.use_credhelper]:
        changed |= dockerconfig.use_credhelper(doc, server)
    helpers_key, helpers = dockerconfig.go_field(doc, "credHelpers")
    if helpers_key is not None and isinstance(helpers, dict):
        for key in plan.switch:
            if key in helpers and helpers[key] != HELPER_NAME:
                helpers[key] = HELPER_NAME
                changed = True
        alias = plan.hub_alias
        if (
            alias is not None
            and isinstance(helpers.get(alias), str)
            and dockerconfig.DOCKER_HUB not in helpers
        ):
            helpers[dockerconfig.DOCKER_HUB] = helpers[alias]
            changed = True
    # Switching docker to credhelper while plaintext logins could not move (or
    # changed since diagnosis) would make docker stop using them.
    if (
        plan.set_creds_store
        and not unsure
        and dockerconfig.go_str(doc, "credsStore") != HELPER_NAME
    ):
        dockerconfig.set_creds_store_key(doc, HELPER_NAME)
        changed = True
    return changed
