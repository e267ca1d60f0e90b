"""`credhelper rotate`: replace the key; forced re-login by default, or --reencrypt."""

from __future__ import annotations

import json
import sys

import click

from credhelper import durations
from credhelper.advice import login_command
from credhelper.errors import UsageError
from credhelper.rotate import (
    MODE_FORCED,
    REASON_FUTURE,
    RotationResult,
    rotate,
    rotate_from_env,
)


def _confirm(reencrypt: bool, key_from_env: bool) -> None:
    if key_from_env:
        what = "bring the store to the key now in CREDHELPER_AESKEY"
    else:
        what = "replace the key"
    if reencrypt:
        what += " and re-encrypt every stored login under it"
    else:
        what += "; every stored login is invalidated and needs `credhelper login` again"
    if not sys.stdin.isatty():
        raise UsageError(
            f"credhelper: rotate would {what}; refusing without a terminal to confirm "
            "(add --yes, as in cron or a systemd timer)"
        )
    click.confirm(f"This will {what}. Continue?", abort=True)


def _report(result: RotationResult, if_older_than: str | None) -> None:
    old = result.old_key_id or "none"
    if not result.rotated:
        click.echo(
            f"Not rotated: key {old} was created at {result.key_created}, less than "
            f"{if_older_than} ago; nothing changed."
        )
        return
    click.echo(f"Rotated the key ({result.provider}): key {old} -> key {result.new_key_id}.")
    if result.reason == REASON_FUTURE:
        click.echo(
            "Rotated because the key's recorded creation time lay in the future (the clock "
            "was ahead when it was made), so its real age was unknown."
        )
    if result.mode != MODE_FORCED:
        click.echo(f"Re-encrypted {len(result.reencrypted)} stored login(s) under the new key.")
    if result.kept_lost:
        click.echo(
            f"Kept {len(result.kept_lost)} login(s) exactly as they were: sealed by a key that "
            f"is not available now ({', '.join(result.kept_lost)}); restoring that key does "
            "not bring them back after this rotation, so log in again to them:"
        )
        for server in result.kept_lost:
            click.echo(f"  {login_command(server)}")
    if result.needs_login:
        click.echo(f"{len(result.needs_login)} registry login(s) need a new login:")
        for server in result.needs_login:
            click.echo(f"  {login_command(server)}")
    elif result.mode == MODE_FORCED:
        click.echo("No stored logins were affected.")
    for path in result.removed:
        click.echo(f"Removed {path} (a backup the old key opens).")


@click.command("rotate")
@click.option("--reencrypt", is_flag=True, help="Keep the logins: re-seal them under the new key.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (cron, scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
@click.option(
    "--key-from-env",
    is_flag=True,
    help="env key provider: the secret system now supplies a new key in CREDHELPER_AESKEY; "
    "bring the store to it (with --reencrypt, from the old key in CREDHELPER_OLD_AESKEY).",
)
@click.option(
    "--schedule",
    "schedule_period",
    metavar="PERIOD",
    help="Install a systemd timer or crontab entry that rotates the key whenever it is "
    "older than PERIOD (30d, 12h, 2w); with --reencrypt the logins are kept.",
)
@click.option("--unschedule", is_flag=True, help="Remove the schedule --schedule installed.")
@click.option(
    "--if-older-than",
    "if_older_than",
    metavar="DURATION",
    help="Rotate only if the key is older than DURATION (90d, 12h, 2w, 30m); else change "
    "nothing and say so (exit 0 both ways). Safe to run every minute from several places.",
)
def command(
    reencrypt: bool,
    yes: bool,
    as_json: bool,
    key_from_env: bool,
    schedule_period: str | None = None,
    unschedule: bool = False,
    if_older_than: str | None = None,
) -> None:
    """Replace the store's key with a new random one.

    By default every stored login is invalidated: the old key, any old copy of
    the store and the old ciphertexts become useless, and each registry needs
    `credhelper login` (or `docker login`) again; the registries are listed.
    With --reencrypt the logins are kept, re-sealed under the new key. Atomic
    under the store lock: killed at any moment, the store is before or after.

    \b
    Examples:
      credhelper rotate                       # asks, then forces re-login
      credhelper rotate --reencrypt --yes     # from cron / a systemd timer
      credhelper rotate --yes --json | jq -r '.needsLogin[]'
      CREDHELPER_OLD_AESKEY=... credhelper rotate --key-from-env --reencrypt --yes
      credhelper rotate --schedule 30d --reencrypt   # a timer / cron job
      credhelper rotate --unschedule
    """
    if schedule_period is not None or unschedule:
        from credhelper.cli import rotate_schedule

        rotate_schedule.run(schedule_period, unschedule, reencrypt, as_json, key_from_env)
        return
    seconds = _period(if_older_than, key_from_env)
    if not yes:
        _confirm(reencrypt, key_from_env)
    if key_from_env:
        result = rotate_from_env(reencrypt=reencrypt)
    else:
        result = rotate(reencrypt=reencrypt, if_older_than=seconds)
    if as_json:
        click.echo(json.dumps(result.as_dict()))  # one line, for logs
    else:
        _report(result, if_older_than)


def _period(if_older_than: str | None, key_from_env: bool) -> int | None:
    if if_older_than is None:
        return None
    if key_from_env:
        raise UsageError(
            "credhelper: --if-older-than cannot be combined with --key-from-env (the env "
            "key's age is the business of the secret system that supplies it)"
        )
    try:
        return durations.parse_duration(if_older_than)
    except durations.DurationError as err:
        raise UsageError(str(err)) from None
