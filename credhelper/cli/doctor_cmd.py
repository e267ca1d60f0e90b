"""`credhelper doctor`: print the findings (or JSON), repair with --fix, exit 0/10."""

from __future__ import annotations

import json

import click

from credhelper.advice import login_command
from credhelper.cli.options import DOCKER_CONFIG_HELP, use_docker_config
from credhelper.doctor import ERROR, INFO, WARNING, Doctor, Finding, FixReport
from credhelper.errors import ExitCode
from credhelper.store.model import shown


def _echo(text: str) -> None:
    """One line to the terminal: findings quote server names, key ids and paths from
    files anyone with write access could edit; a control character is escaped, and a
    lone surrogate cannot crash the encoder."""
    click.echo(shown(text))


def _print_findings(findings: list[Finding], verbose: bool) -> None:
    listed = [f for f in findings if verbose or f.severity != INFO]
    for finding in listed:
        _echo(f"{finding.severity.upper():8} {finding.id}  {finding.path}")
        _echo(f"         {finding.message}")
        if finding.fix:
            _echo(f"         fix: {finding.fix}")


def _summary(findings: list[Finding]) -> str:
    errors = sum(f.severity == ERROR for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    if not errors and not warnings:
        return "credhelper doctor: no problems found."
    fixable = sum(f.fixable for f in findings if f.severity != INFO)
    tail = f"; {fixable} can be repaired with credhelper doctor --fix" if fixable else ""
    return f"credhelper doctor: {errors} error(s), {warnings} warning(s){tail}."


def _print_fix(report: FixReport) -> None:
    for action in report.actions:
        _echo(f"fixed: {action}")
    for backup in report.backups:
        _echo(f"backup: {backup}")
    for failure in report.failures:
        _echo(f"not fixed: {failure}")
    for server in report.needs_login:
        _echo(f"log in again: {login_command(server)}")
    if not (report.actions or report.failures):
        click.echo("Nothing to fix; nothing was written.")


@click.command("doctor")
@click.option("--fix", "do_fix", is_flag=True, help="Repair what can be repaired (backups first).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON object.")
@click.option("--online", is_flag=True, help="Also check each stored login with its registry.")
@click.option("--verbose", "-v", is_flag=True, help="Also show informational findings.")
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option(
    "--isulad-dir", metavar="DIR", help="Also look at iSulad's logins here (default: ~/.isulad)."
)
def command(
    do_fix: bool,
    as_json: bool,
    online: bool,
    verbose: bool,
    docker_config: str | None,
    isulad_dir: str | None,
) -> None:
    """Diagnose docker, its config.json, the store and the key; --fix repairs.

    \b
    Read-only unless --fix. Each finding has an id, a severity (error,
    warning, info), one line saying what is wrong, the path, and the fix.
    --fix writes a 0600 backup (<name>.bak-<UTC time>) of every file it
    changes, never deletes the only copy of anything, and a second run with
    nothing left to fix writes nothing.

    \b
    Exit status: 0 no errors or warnings (after --fix: none left),
    10 findings remain, 1 doctor itself failed.

    \b
    Examples:
      credhelper doctor
      credhelper doctor --fix
      credhelper doctor --json | jq '.findings[] | select(.severity=="error")'
      credhelper doctor --online
    """
    path = use_docker_config(docker_config)
    doctor = Doctor(path, isulad_dir=isulad_dir, online=online)
    doctor.run()
    report: FixReport | None = None
    if do_fix:
        report = doctor.fix()
        doctor = Doctor(path, isulad_dir=isulad_dir, online=online)
        doctor.run()
    findings = doctor.findings
    healthy = not doctor.problems()
    if as_json:
        out: dict[str, object] = {
            "healthy": healthy,
            "findings": [f.as_dict() for f in findings],
        }
        if report is not None:
            out["fixed"] = report.actions
            out["backups"] = report.backups
            out["notFixed"] = report.failures
            out["needsLogin"] = [{"server": s, "fix": login_command(s)} for s in report.needs_login]
        click.echo(json.dumps(out, indent=2))
    else:
        if report is not None:
            _print_fix(report)
        _print_findings(findings, verbose)
        click.echo(_summary(findings))
    if not healthy:
        click.get_current_context().exit(int(ExitCode.FINDINGS))
