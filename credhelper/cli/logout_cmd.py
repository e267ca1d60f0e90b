"""`credhelper logout`: erase a registry's login under every key docker may have used for it."""

from __future__ import annotations

import json

import click

from credhelper import reference
from credhelper.store import Store


@click.command("logout")
@click.argument("server", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def command(server: str | None, as_json: bool) -> None:
    """Remove the stored login for SERVER (default: Docker Hub).

    \b
    Like `docker logout`, every spelling docker may have stored is erased:
    SERVER as typed, host[:port], http://host[:port] and https://host[:port]
    (for Docker Hub: https://index.docker.io/v1/, its access/refresh-token keys
    and docker.io). Entries invalidated by a key rotation are removed too.
    Exit status 0 whether or not anything was stored.

    \b
    Examples:
      credhelper logout registry.example.com:5000
      credhelper logout                      # Docker Hub
    """
    key = reference.server_key(server)
    candidates = reference.logout_keys(server)
    store = Store()
    removed: list[str] = []
    if store.exists():
        with store.transaction() as txn:
            for candidate in candidates:
                if txn.delete(candidate):
                    removed.append(candidate)
    if as_json:
        click.echo(json.dumps({"server": key, "removed": removed, "loggedOut": bool(removed)}))
    elif removed:
        click.echo(f"Removed login credentials for {key} ({', '.join(removed)})")
    else:
        click.echo(f"Not logged in to {key}: nothing was stored under {', '.join(candidates)}")
