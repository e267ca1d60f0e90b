"""`credhelper list`: every stored entry with its state and the key's age; never a secret."""

from __future__ import annotations

import json

import click

from credhelper import advice, durations
from credhelper.store import STATE_CORRUPT, STATE_OK, Store
from credhelper.store.model import shown as _shown


def _key_line(created: str | None) -> str:
    if created is None:
        return "Key created: unknown (made before credhelper recorded key ages, or an env key)"
    age = durations.age_seconds(created)
    shown = f" ({durations.format_duration(age)} ago)" if age is not None else ""
    return f"Key created: {created}{shown}"


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def command(as_json: bool) -> None:
    """List stored logins: server, state, username, last write, expiry; and the key's age.

    \b
    States: ok (usable), expired (its --expires-in/--expires-at passed),
    needs-relogin (invalidated by a key rotation, which keeps the username, or
    sealed by a key that no longer exists), corrupt (see credhelper doctor).

    \b
    Examples:
      credhelper list
      credhelper list --json | jq -r '.[] | select(.state != "ok") | .server'
      credhelper list --json | jq -r '.[0].keyCreated'
    """
    snapshot = Store().snapshot()
    statuses = snapshot.statuses()
    created = snapshot.key_created() if snapshot.sealer() is not None else None
    if as_json:
        # Still a JSON list of entries (scripts rely on it); each says when the key
        # that sealed it was created, if that is the current key and its age is known.
        sealer = snapshot.sealer()
        current = sealer.key_id if sealer is not None else None
        entries = []
        for s in statuses:
            entry = s.as_dict()
            entry["keyCreated"] = created if current is not None and s.key_id == current else None
            entries.append(entry)
        click.echo(json.dumps(entries, indent=2))
        return
    if not statuses:
        click.echo("No stored logins. Log in with: credhelper login [SERVER]")
        return
    rows = [("SERVER", "STATE", "USERNAME", "UPDATED", "EXPIRES")]
    for s in statuses:
        user, when, until = s.username or "-", s.updated or "-", s.expires or "-"
        rows.append((_shown(s.server), s.state, _shown(user), _shown(when), _shown(until)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        )
    click.echo(_key_line(created))
    corrupt = [s.server for s in statuses if s.state == STATE_CORRUPT]
    relogin = [s.server for s in statuses if s.state not in (STATE_OK, STATE_CORRUPT)]
    # Not a line per entry: the table already names each one and its state; the
    # reason of each is in `list --json` (`detail`) and in `credhelper doctor`.
    if corrupt:
        click.echo(f"{len(corrupt)} corrupt login(s); run: credhelper doctor", err=True)
    if relogin:
        fix = advice.login_command(relogin[0]) if len(relogin) == 1 else None
        click.echo(
            f"1 login needs a new login; run: {_shown(fix)}"
            if fix
            else f"{len(relogin)} logins need a new login; run: credhelper login SERVER for each",
            err=True,
        )
