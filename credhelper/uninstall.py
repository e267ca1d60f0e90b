"""`credhelper uninstall`: docker works without credhelper again.

credsStore/credHelpers entries naming credhelper are removed, and what install or
migrate --from-helper replaced is put back from the validated record
(previous_helpers), even when that helper is no longer on PATH (then named, so the
user can install it or drop the entry). The encrypted store is kept. Logins are
handed back only with restore_credentials: to the helper docker is routed to
afterwards (the one put back), through its protocol `store`, else into
config.json as plaintext. Never as plaintext for a registry docker sends to a
helper: docker would not read it there, and it would lie in the file for nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, previous_helpers
from credhelper.advice import login_command
from credhelper.store import STATE_OK, Store

TOKEN_USERNAME = dockerconfig.TOKEN_USERNAME


@dataclass
class UninstallReport:
    config_path: str
    config_changed: bool = False
    restored: list[str] = field(default_factory=list)
    restored_to_helper: dict[str, str] = field(default_factory=dict)  # server -> helper
    not_restored: list[tuple[str, str]] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    store_path: str = ""
    restored_creds_store: str | None = None  # the credsStore put back
    restored_helpers: dict[str, str] = field(default_factory=dict)  # credHelpers put back
    missing_helpers: list[str] = field(default_factory=list)  # put back, not on PATH
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "configPath": self.config_path,
            "configChanged": self.config_changed,
            "restoredCredsStore": self.restored_creds_store,
            "restoredCredHelpers": self.restored_helpers,
            "helpersNotOnPath": self.missing_helpers,
            "notes": self.notes,
            "restoredAsPlaintext": self.restored,
            "restoredToHelper": self.restored_to_helper,
            "notRestored": [
                {"server": s, "reason": r, "fix": login_command(s)} for s, r in self.not_restored
            ],
            "backups": self.backups,
            "storeKept": self.store_path,
        }


def uninstall(config_path: str | None = None, restore_credentials: bool = False) -> UninstallReport:
    """Remove credhelper from Docker's config; optionally hand logins back as plaintext.

    The encrypted store is never deleted here: it stays as the copy of every login.
    """
    path = config_path or dockerconfig.default_path()
    store = Store()
    report = UninstallReport(path, store_path=store.path)
    plain: dict[str, dict[str, str]] = {}
    logins: dict[str, tuple[str, str]] = {}
    to_helper: dict[str, str] = {}
    if restore_credentials and store.exists():
        _stored_logins(store, report, plain, logins)

    prev, problem = previous_helpers.load(path)
    if problem:
        report.notes.append(problem)

    def change(doc: dict[str, Any]) -> bool:
        report.restored_creds_store, report.restored_helpers = None, {}
        report.restored = []
        changed = _restore_routing(doc, prev, report)
        to_helper.clear()
        for server in plain:
            helper = _routed(doc, server)
            if helper:
                to_helper[server] = helper
        auths = dockerconfig.auths_map(doc)
        for server, fields in plain.items():
            if server in to_helper:
                continue
            entry = auths.get(server)
            entry = dict(entry) if isinstance(entry, dict) else {}
            for name in ("auth", "identitytoken", "username", "password"):
                fkey, _v = dockerconfig.go_field(entry, name)
                if fkey is not None:
                    del entry[fkey]
            entry.update(fields)
            if auths.get(server) != entry:
                auths[server] = entry
                changed = True
                report.restored.append(server)
        return changed

    # Logins to restore with no config.json: create it, never drop them silently.
    result = dockerconfig.modify(path, change, create=bool(plain))
    report.config_changed = result.changed
    if result.backup:
        report.backups.append(result.backup)
    # Docker is off credhelper now (put back, or already by hand): nothing recorded
    # is current any more, and a later install records what it replaces afresh.
    previous_helpers.forget(path)
    for server, helper in sorted(to_helper.items()):
        _hand_to_helper(server, helper, logins[server], report)
    put_back = {report.restored_creds_store or "", *report.restored_helpers.values()}
    report.missing_helpers = sorted(
        h for h in put_back if h and dockerconfig.which_helper(h) is None
    )
    return report


def _stored_logins(
    store: Store,
    report: UninstallReport,
    plain: dict[str, dict[str, str]],
    logins: dict[str, tuple[str, str]],
) -> None:
    """Fill `logins` (server -> (username, secret)) and `plain` (their config.json
    fields) from the store; a login it cannot open is reported, not restored."""
    snapshot = store.snapshot()
    for status in snapshot.statuses():
        if status.state != STATE_OK:
            report.not_restored.append((status.server, status.detail or status.state))
            continue
        creds = snapshot.get(status.server)
        logins[status.server] = (creds.username, creds.secret)
        if creds.username == TOKEN_USERNAME:
            plain[status.server] = {"identitytoken": creds.secret}
        elif ":" in creds.username:
            # docker splits `auth` at its first ':': such a name goes in the
            # username/password fields, which docker uses when `auth` is empty.
            plain[status.server] = {"username": creds.username, "password": creds.secret}
        else:
            pair = f"{creds.username}:{creds.secret}".encode()
            plain[status.server] = {"auth": base64.b64encode(pair).decode("ascii")}


def _routed(doc: dict[str, Any], server: str) -> str:
    """The helper docker calls for `server` in `doc` ("" for config.json itself)."""
    _key, helpers = dockerconfig.go_field(doc, "credHelpers")
    if isinstance(helpers, dict) and server in helpers:
        value = helpers[server]
        return value if isinstance(value, str) else ""
    return dockerconfig.go_str(doc, "credsStore")


def _hand_to_helper(
    server: str, helper: str, login: tuple[str, str], report: UninstallReport
) -> None:
    """`docker-credential-HELPER store` of one login (the secret on its stdin only)."""
    import json

    from credhelper import helper_call, helper_import

    if not helper_import.valid_name(helper) or helper == dockerconfig.HELPER_NAME:
        report.not_restored.append((server, f"docker sends it to {helper_import.shown(helper)}"))
        return
    exe = dockerconfig.which_helper(helper)
    why = f"docker-credential-{helper} is not on PATH"
    if exe is not None:
        body = {"ServerURL": server, "Username": login[0], "Secret": login[1]}
        try:
            helper_call.call(exe, "store", json.dumps(body).encode())
        except helper_call.CallFailed as err:
            why = f"docker-credential-{helper} store: {err}"
        else:
            report.restored_to_helper[server] = helper
            return
    report.not_restored.append(
        (server, f"{why}; not written as plaintext, docker would not read it")
    )


def _restore_routing(
    doc: dict[str, Any], prev: previous_helpers.Previous, report: UninstallReport
) -> bool:
    """Drop credhelper from credsStore/credHelpers, putting back what it replaced
    (the validated record) and dropping the entries install added."""
    changed = False
    key, value = dockerconfig.go_field(doc, "credsStore")
    if key is not None and value == dockerconfig.HELPER_NAME:
        if prev.creds_store:
            doc[key] = prev.creds_store
            report.restored_creds_store = prev.creds_store
        else:
            del doc[key]
        changed = True
    hkey, helpers = dockerconfig.go_field(doc, "credHelpers")
    if hkey is not None and isinstance(helpers, dict):
        for server, helper in list(helpers.items()):
            if helper == dockerconfig.HELPER_NAME:
                old = prev.cred_helpers.get(server)
                if old:
                    helpers[server] = report.restored_helpers[server] = old
                else:
                    del helpers[server]
                changed = True
            elif prev.added.get(server) == helper:
                del helpers[server]
                changed = True
        if not helpers and changed:
            del doc[hkey]
    return changed
