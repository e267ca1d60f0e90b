"""Edits of the owned view (see view.py) that install, migrate, login, logout and
doctor --fix pass to `modify`: each changes only what it names, and says whether it did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from credhelper.dockerconfig.auths import (
    AUTH_EMPTY,
    AUTH_NONE,
    EntryCheck,
    entry_credentials,
)
from credhelper.dockerconfig.gotypes import CREDENTIAL_FIELDS
from credhelper.dockerconfig.model import HELPER_NAME, go_field, go_str

_NO_SECRET = (AUTH_NONE, AUTH_EMPTY)


def set_creds_store_key(doc: dict[str, Any], value: str) -> None:
    key, _old = go_field(doc, "credsStore")
    doc[key or "credsStore"] = value


def _object_field(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The object field `name` of `doc` (found as Go finds it), created if missing."""
    key, value = go_field(doc, name)
    if not isinstance(value, dict):
        value = {}
        doc[key or name] = value
    return value


def helpers_map(doc: dict[str, Any]) -> dict[str, Any]:
    """The credHelpers object of `doc`, created if missing."""
    return _object_field(doc, "credHelpers")


def auths_map(doc: dict[str, Any]) -> dict[str, Any]:
    """The auths object of `doc`, created if missing."""
    return _object_field(doc, "auths")


def still_holds(doc: dict[str, Any], check: EntryCheck) -> bool:
    """Whether the entry of `check` in `doc` still holds exactly what `check` saw
    (read only: a missing `auths` is not created)."""
    _key, auths = go_field(doc, "auths")
    entry = auths.get(check.server) if isinstance(auths, dict) else None
    return isinstance(entry, dict) and entry_credentials(check.server, entry) == check


def strip_credentials(doc: dict[str, Any], check: EntryCheck) -> bool:
    """Turn the entry of `check` into docker's usual `{}` form (other fields kept).

    Only if it still holds what `check` saw: a concurrent edit is never undone.
    """
    entry = auths_map(doc).get(check.server)
    if not isinstance(entry, dict) or entry_credentials(check.server, entry) != check:
        return False
    changed = False
    # A registrytoken stays: no helper can hold one, so removing it would lose it.
    for name in [n for n in CREDENTIAL_FIELDS if n != "registrytoken"]:
        key, _value = go_field(entry, name)
        while key is not None:
            del entry[key]
            changed = True
            key, _value = go_field(entry, name)
    return changed


def forget_logins(doc: dict[str, Any], servers: list[str]) -> bool:
    """What `docker logout` does to the file: drop the `auths` entries of `servers`.

    Only entries that hold no credentials (docker's `{}` for a helper's login):
    a plaintext login that is still there is doctor's to report, not ours to lose.
    """
    _key, auths = go_field(doc, "auths")
    if not isinstance(auths, dict):
        return False
    changed = False
    for server in servers:
        entry = auths.get(server)
        if isinstance(entry, dict) and entry_credentials(server, entry).state in _NO_SECRET:
            del auths[server]
            changed = True
    return changed


def use_credhelper(doc: dict[str, Any], server_key: str, *, alone: bool = False) -> bool:
    """Make docker call credhelper for `server_key`; True if `doc` changed.

    credHelpers[key] exists -> set it to credhelper; credsStore is credhelper ->
    nothing; another credsStore -> add credHelpers[key]; else set credsStore (with
    `alone`, add credHelpers[key]: a login docker reads itself must stay in use).
    """
    _hkey, helpers = go_field(doc, "credHelpers")
    if isinstance(helpers, dict) and server_key in helpers:
        if helpers[server_key] == HELPER_NAME:
            return False
        helpers[server_key] = HELPER_NAME
        return True
    store = go_str(doc, "credsStore")
    if store == HELPER_NAME:
        return False
    if store or alone:
        helpers_map(doc)[server_key] = HELPER_NAME
        return True
    set_creds_store_key(doc, HELPER_NAME)
    return True


class _FromEntry(Protocol):
    @property
    def check(self) -> EntryCheck | None: ...


_C = TypeVar("_C", bound=_FromEntry)


class FreshImports(Generic[_C]):
    """Logins read from Docker's config, moved into the store from inside `modify`'s
    change, on the file as re-read under its lock: only those whose entry still holds
    what was read move (a `docker login` or `logout` meanwhile must win), each at most
    once (the change may run again), and only what moved is routed to credhelper.
    A login without an entry (`check` None: from another source) always moves."""

    def __init__(self, planned: list[_C], move: Callable[[list[_C]], list[_C]]) -> None:
        self.planned, self.move = planned, move
        self.tried: set[int] = set()  # indexes into planned
        self.held: set[int] = set()
        self.stale: list[_C] = []

    def run(self, doc: dict[str, Any]) -> list[_C]:
        """Move the planned logins `doc` still holds; return those held and current."""
        current = [
            i
            for i, cand in enumerate(self.planned)
            if cand.check is None or still_holds(doc, cand.check)
        ]
        todo = [i for i in current if i not in self.tried]
        self.tried.update(todo)
        moved = {id(c) for c in self.move([self.planned[i] for i in todo])} if todo else set()
        self.held.update(i for i in todo if id(self.planned[i]) in moved)
        self.stale = [c for i, c in enumerate(self.planned) if i not in current]
        return [self.planned[i] for i in current if i in self.held]
