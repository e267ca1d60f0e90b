"""Checks of iSulad's logins (~/.isulad/auths.json and its aeskey): what credhelper
could import (unless the store already holds exactly that login), and what nobody
can decrypt any more. iSulad's file is left as it is (isula reads it): only reported.
"""

from __future__ import annotations

import os

from credhelper import dockerconfig, legacy, migrate
from credhelper.doctor.model import INFO, WARNING, Context, Finding
from credhelper.errors import CredhelperError
from credhelper.store import Snapshot


def load_legacy_key(path: str) -> tuple[bytes | None, str | None]:
    """(the legacy AES key at `path`, or None and why it cannot be used)."""
    try:
        key = legacy.load_key(path)
    except legacy.LegacyError as err:
        return None, str(err)
    return key, None if key is not None else f"its key {path} is missing"


def check_isulad(ctx: Context, snapshot: Snapshot | None) -> list[Finding]:
    """iSulad's logins; `snapshot` is the store as check_store read it (None: unusable)."""
    directory = ctx.isulad_dir or legacy.isulad_dir_default()
    auths_path = os.path.join(directory, "auths.json")
    if not os.path.exists(auths_path):
        return []
    try:
        cfg = dockerconfig.load(auths_path)
    except CredhelperError as err:
        return [Finding("isulad.unreadable", WARNING, err.message, auths_path, "")]
    key_path = os.path.join(directory, "aeskey")
    key, key_error = load_legacy_key(key_path)
    out: list[Finding] = []
    for host, entry in sorted(cfg.auths().items()):
        value = entry.get("auth") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value:
            continue
        if key is not None:
            try:
                creds = legacy.decrypt(value, key)
            except legacy.LegacyError as err:
                key_error = f"{key_path} does not decrypt it ({err})"
            else:
                if not already_stored(snapshot, migrate.isulad_server(host), creds):
                    fix = f"credhelper migrate --from isulad --isulad-dir {directory}"
                    message = f"{host}: an iSulad login that credhelper can import"
                    out.append(
                        Finding("isulad.importable", INFO, message, auths_path, fix, server=host)
                    )
                continue
        message = f"{host}: an iSulad login that cannot be decrypted: {key_error}"
        fix = f"isula login {host} (or credhelper login {host})"
        out.append(Finding("isulad.undecryptable", WARNING, message, auths_path, fix, server=host))
    return out


def already_stored(snapshot: Snapshot | None, server: str, creds: legacy.LegacyCredentials) -> bool:
    """Whether the store already holds exactly this login (imported before)."""
    if snapshot is None or server not in snapshot.auths:
        return False
    try:
        stored = snapshot.get(server)
    except CredhelperError:
        return False
    return (stored.username, stored.secret) == (creds.username, creds.password)
