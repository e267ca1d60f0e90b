"""Checks of the stored logins: each entry's state (`check_entries`), logins that
expire within a day (`check_expiry`), and with --online whether each registry
still accepts its login (`check_online`).

Each takes the store snapshot check_store read, and (where it matters) the
`KeyState` check_key found, instead of reading the store again.
"""

from __future__ import annotations

from credhelper import durations
from credhelper.advice import login_command
from credhelper.doctor.key_checks import KEY_FIX, KeyState
from credhelper.doctor.model import ERROR, FIX_COMMAND, INFO, WARNING, Context, Finding
from credhelper.doctor.remedies import RemoveCorrupt
from credhelper.errors import CredhelperError
from credhelper.store import (
    STATE_CORRUPT,
    STATE_EXPIRED,
    STATE_OK,
    STATE_RELOGIN,
    EntryStatus,
    Snapshot,
)

# How far ahead doctor warns: a day covers a nightly job and a working day.
WARN_AHEAD_SECONDS = 86400


def check_entries(ctx: Context, snapshot: Snapshot | None, key: KeyState) -> list[Finding]:
    """Every stored entry that needs a login or is corrupt, and how many are usable."""
    if snapshot is None:
        return []
    try:
        statuses = snapshot.statuses()
    except CredhelperError as err:
        if key.reported:
            return []
        return [Finding("key.unreadable", ERROR, err.message, ctx.store.directory, KEY_FIX)]
    path = ctx.store.path
    out = [f for f in (_entry_finding(status, path) for status in statuses) if f is not None]
    if statuses:
        usable = sum(status.state == STATE_OK for status in statuses)
        message = f"{usable} of {len(statuses)} stored login(s) usable"
        out.append(Finding("store.entries", INFO, message, path, ""))
    return out


def _entry_finding(status: EntryStatus, path: str) -> Finding | None:
    server = status.server
    relogin = login_command(server)
    if status.state == STATE_RELOGIN:
        # The store's wording names the server; the finding already starts with it.
        detail = status.detail.removeprefix("credhelper: ")
        detail = detail.replace(f"credentials for {server} ", "the credentials ", 1)
        message = f"{server}: {detail}"
        return Finding("store.entry-needs-login", WARNING, message, path, relogin, server=server)
    if status.state == STATE_EXPIRED:
        message = f"{server}: the login expired at {status.expires}"
        return Finding("store.entry-expired", WARNING, message, path, relogin, server=server)
    if status.state == STATE_CORRUPT:
        message = f"{server}: stored entry is corrupt ({status.detail})"
        fix = f"{FIX_COMMAND} (moves it aside to a backup of the store), then: {relogin}"
        remedy = RemoveCorrupt(server)
        return Finding("store.entry-corrupt", ERROR, message, path, fix, True, server, remedy)
    return None


def check_expiry(ctx: Context, snapshot: Snapshot | None) -> list[Finding]:
    """Logins that stop working within a day (the authenticated expiry; an edited one
    makes the entry corrupt). Logins already expired are check_entries' to report."""
    if snapshot is None:
        return []
    try:
        statuses = snapshot.statuses()
    except CredhelperError:
        return []  # the entry check has already reported why the store cannot be read
    now = durations.utc_now()
    out: list[Finding] = []
    for status in statuses:
        if status.state != STATE_OK or not status.expires:
            continue
        when = durations.parse_utc(status.expires)
        if when is None:
            continue
        left = (when - now).total_seconds()
        if 0 < left <= WARN_AHEAD_SECONDS:
            message = (
                f"{status.server}: the login expires at {status.expires} "
                f"(in {durations.format_duration(left)})"
            )
            fix = f"log in again before then: {login_command(status.server)}"
            where, server = ctx.store.path, status.server
            out.append(Finding("store.entry-expiring", WARNING, message, where, fix, server=server))
    return out


def check_online(ctx: Context, snapshot: Snapshot | None, key: KeyState) -> list[Finding]:
    """Ask each registry whether it accepts the stored login (only with a usable key)."""
    from credhelper.registry import AuthRejected, verify_login

    if snapshot is None or not key.ok:
        return []
    path = ctx.store.path
    out: list[Finding] = []
    for server in snapshot.servers():
        try:
            creds = snapshot.get(server)
        except CredhelperError:
            continue  # already reported by the entry checks
        try:
            verify_login(server, creds.username, creds.secret)
        except AuthRejected as err:
            message = f"{server}: the registry refuses the stored login ({err.message})"
            fix = login_command(server)
            out.append(Finding("online.rejected", ERROR, message, path, fix, server=server))
        except CredhelperError as err:
            message = f"{server}: could not check the login ({err.message})"
            fix = "check the network, the registry address and its TLS certificate"
            out.append(Finding("online.unreachable", WARNING, message, path, fix, server=server))
        else:
            message = f"{server}: the registry accepts the stored login"
            out.append(Finding("online.ok", INFO, message, "", ""))
    return out
