"""`credhelper rotate --schedule PERIOD [--reencrypt]` and `--unschedule`: the output
of credhelper.schedule, for people (a few lines) and scripts (one JSON object).
"""

from __future__ import annotations

import json
import shlex

import click

from credhelper import schedule
from credhelper.errors import UsageError
from credhelper.schedule.job import new_job


def run_schedule(period: str, reencrypt: bool, as_json: bool) -> None:
    job = new_job(period, reencrypt)
    result = schedule.install(job)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    verb = "Replaced the schedule" if result.replaced else "Scheduled key rotation"
    mode = "re-encrypting the logins" if reencrypt else "forcing a new login everywhere"
    click.echo(
        f"{verb}: {result.scheduler} checks the key {job.interval_text} and rotates it when "
        f"older than {job.period} ({mode})."
    )
    click.echo(f"Where: {result.location}")
    click.echo(f"Runs: {shlex.join(job.argv())}")
    for note in result.notes:
        click.echo(f"Note: {note}")


def run_unschedule(as_json: bool) -> None:
    removed = schedule.uninstall()
    if as_json:
        click.echo(json.dumps({"unscheduled": bool(removed), "removed": removed}))
    elif removed:
        click.echo(f"Removed the scheduled rotation: {', '.join(removed)}.")
    else:
        click.echo("No scheduled rotation was installed; nothing changed.")


def run(
    period: str | None, unschedule: bool, reencrypt: bool, as_json: bool, key_from_env: bool
) -> None:
    """Dispatch from `credhelper rotate`; --schedule/--unschedule never rotate now."""
    if key_from_env or (period is not None and unschedule):
        raise UsageError(
            "credhelper: --schedule and --unschedule go alone (--schedule takes --reencrypt "
            "and --json; --unschedule takes --json)"
        )
    if unschedule:
        if reencrypt:
            raise UsageError("credhelper: --unschedule takes no --reencrypt")
        run_unschedule(as_json)
    else:
        run_schedule(period or "", reencrypt, as_json)
