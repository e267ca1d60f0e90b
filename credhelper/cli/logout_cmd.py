"""`credhelper logout`: erase logins from the store, and their placeholders from Docker's config.

`logout [SERVER]` erases one registry's login under every key docker may have
used for it; `--all` every login; `--expired` every expired one. Afterwards
Docker's config is consistent with the store: the `auths` placeholders (`{}`)
that stood for the removed logins are gone, while `credsStore` and the
`credHelpers` entries naming credhelper stay, so that a later `docker login`
still stores encrypted rather than as base64 in config.json.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from credhelper import reference
from credhelper.errors import CredhelperError, UsageError
from credhelper.store import Store
from credhelper.store.model import shown


def _routed_to_credhelper(doc: dict[str, Any], server: str) -> bool:
    from credhelper import dockerconfig

    _key, helpers = dockerconfig.go_field(doc, "credHelpers")
    if isinstance(helpers, dict) and server in helpers:
        return bool(helpers[server] == dockerconfig.HELPER_NAME)
    return dockerconfig.go_str(doc, "credsStore") == dockerconfig.HELPER_NAME


def forget_placeholders(servers: list[str], *, every_credhelper_entry: bool = False) -> None:
    """Drop Docker's `auths` placeholders of `servers` (with the flag: of every server).

    Only placeholders docker routes to credhelper: a `{}` that stands for another
    helper's login is that helper's. Never creates Docker's config; a failure is
    a warning (the store is already right; `credhelper doctor` reports the rest).
    """
    from credhelper import dockerconfig

    path = dockerconfig.default_path()
    if not os.path.exists(path):
        return

    def change(doc: dict[str, Any]) -> bool:
        names = list(servers)
        _key, auths = dockerconfig.go_field(doc, "auths")
        if every_credhelper_entry and isinstance(auths, dict):
            names += list(auths)
        routed = [name for name in names if _routed_to_credhelper(doc, name)]
        return bool(routed) and dockerconfig.forget_logins(doc, routed)

    try:
        dockerconfig.modify(None, change, create=False)
    except CredhelperError as err:
        # One hint: the message may already name doctor (or its own fix).
        then = "" if "credhelper doctor" in err.message else "; run: credhelper doctor"
        click.echo(
            f"WARNING: logged out, but Docker's config was not updated: {err.message}{then}",
            err=True,
        )


def _remove_all(store: Store) -> list[str]:
    if not store.exists():
        return []
    with store.transaction() as txn:
        servers = txn.servers()
        for server in servers:
            txn.delete(server)
    return servers


def _report(what: str, removed: list[str], as_json: bool, nothing: str) -> None:
    if as_json:
        click.echo(json.dumps({"server": None, "removed": removed, "loggedOut": bool(removed)}))
    elif removed:
        click.echo(f"Removed {what}: {shown(', '.join(removed))}")
    else:
        click.echo(nothing)


@click.command("logout")
@click.argument("server", required=False)
@click.option("--all", "all_", is_flag=True, help="Remove every stored login.")
@click.option("--expired", is_flag=True, help="Remove every login whose expiry has passed.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def command(server: str | None, all_: bool, expired: bool, as_json: bool) -> None:
    """Remove the stored login for SERVER (default: Docker Hub), or --all / --expired ones.

    \b
    Like `docker logout`, every spelling docker may have stored is erased:
    SERVER as typed, host[:port], http://host[:port] and https://host[:port]
    (for Docker Hub: https://index.docker.io/v1/, its access/refresh-token keys
    and docker.io). Entries invalidated by a key rotation are removed too.
    Docker's `auths` placeholders ({}) for the removed logins are deleted;
    credsStore and credHelpers stay, so later logins are still encrypted.
    Exit status 0 whether or not anything was stored; 2 for bad usage.

    \b
    Examples:
      credhelper logout registry.example.com:5000
      credhelper logout                      # Docker Hub
      credhelper logout --all                # every login (a CI job's last step)
      credhelper logout --expired
    """
    if sum((server is not None, all_, expired)) > 1:
        raise UsageError("credhelper: give one of SERVER, --all or --expired")
    store = Store()
    if all_:
        removed = _remove_all(store)
        forget_placeholders(removed, every_credhelper_entry=True)
        _report("every login", removed, as_json, "Not logged in anywhere: nothing was stored")
        return
    if expired:
        removed = store.purge_expired()
        forget_placeholders(removed)
        _report("expired logins", removed, as_json, "No expired logins")
        return
    key = reference.server_key(server)
    candidates = reference.logout_keys(server)
    removed = []
    if store.exists():
        with store.transaction() as txn:
            removed = [candidate for candidate in candidates if txn.delete(candidate)]
    forget_placeholders(candidates)
    if as_json:
        click.echo(json.dumps({"server": key, "removed": removed, "loggedOut": bool(removed)}))
    elif removed:
        click.echo(f"Removed login credentials for {shown(key)}{_other_spellings(key, removed)}")
    else:
        click.echo(f"Not logged in to {shown(key)}: nothing was stored")


def _other_spellings(key: str, removed: list[str]) -> str:
    """The keys other than `key` a login was also stored under (docker's http://, ...)."""
    others = [name for name in removed if name != key]
    if not others:
        return ""
    also = "also " if key in removed else ""
    return f" ({also}stored as {shown(', '.join(others))})"
