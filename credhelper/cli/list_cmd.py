"""`credhelper list`: every stored entry with its state; never a secret."""

from __future__ import annotations

import json

import click

from credhelper.store import STATE_OK, Store


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def command(as_json: bool) -> None:
    """List stored logins: server, state, username, last write.

    \b
    States: ok (usable), needs-relogin (invalidated by a key rotation or
    sealed by a key that no longer exists), corrupt (see credhelper doctor).

    \b
    Examples:
      credhelper list
      credhelper list --json | jq -r '.[] | select(.state != "ok") | .server'
    """
    statuses = Store().snapshot().statuses()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    if not statuses:
        click.echo("No stored logins. Log in with: credhelper login [SERVER]")
        return
    rows = [("SERVER", "STATE", "USERNAME", "UPDATED")]
    for s in statuses:
        rows.append((s.server, s.state, s.username or "-", s.updated or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    for s in statuses:
        if s.state != STATE_OK:
            # The detail is already a whole sentence naming the server and the fix.
            click.echo(
                s.detail if s.detail.startswith("credhelper:") else f"{s.server}: {s.detail}"
            )
