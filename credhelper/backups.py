"""Every backup credhelper writes, and the clean-up of what interrupted writes leave.

A backup is `<name>.bak-<UTC timestamp>` next to the file it copies, created 0600
and atomically (written to a private temp file, then hard-linked into place, so
it is never seen half written and never overwrites another). A backup of
Docker's config is sealed with the store's key whenever one exists (and one whose
bytes hold any credential value is never written in plaintext): `open_backup`
opens it, and once the key is rotated away `purge_sealed_backups` removes every
copy the old key opens.

Sealed backup file (JSON, one object):
    {"credhelperSealedBackup": 1, "keyId": "<16 hex>", "of": "config.json",
     "sealed": "<base64 of nonce || AES-256-GCM(ciphertext || tag)>"}
The associated data binds it to the key id and to the name of the file it copies.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from credhelper import fsutil
from credhelper.errors import CredhelperError

if TYPE_CHECKING:
    from credhelper.crypto import Sealer

SEALED_MARK = "credhelperSealedBackup"
_LABEL = "credhelper-backup:"  # the AAD "server" of a sealed backup, + the file's name
_BAK = ".bak-"
_MAX_NAMES = 1000


class BackupError(CredhelperError):
    """A backup could not be written, or a sealed one cannot be opened."""


def backup_path(path: str, stamp: str | None = None) -> str:
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{path}{_BAK}{stamp}"


def seal(data: bytes, of: str, sealer: Sealer) -> bytes:
    """`data` (a file's bytes) sealed under `sealer`'s key as a sealed-backup document."""
    text = data.decode("utf-8", "surrogateescape")
    blob = sealer.seal(_LABEL + of, "", text)
    doc = {SEALED_MARK: 1, "keyId": sealer.key_id, "of": of, "sealed": blob}
    return json.dumps(doc).encode("ascii")


def sealed_key_id(data: bytes) -> str | None:
    """The key id of a sealed backup's bytes, or None when it is not one."""
    if not data.startswith(b"{"):
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get(SEALED_MARK) != 1:
        return None
    kid = doc.get("keyId")
    return kid if isinstance(kid, str) else None


def open_backup(data: bytes, sealer: Sealer) -> bytes:
    """The original bytes of a backup (sealed or not); BackupError if the key does not open it."""
    if sealed_key_id(data) is None:
        return data
    from credhelper.crypto import SealError

    doc = json.loads(data)
    try:
        _user, text = sealer.unseal(_LABEL + str(doc.get("of")), str(doc.get("sealed")))
    except SealError as err:
        raise BackupError(f"credhelper: cannot open the sealed backup: {err}") from None
    return text.encode("utf-8", "surrogateescape")


def write_backup(path: str, data: bytes, sealer: Sealer | None = None) -> str:
    """Write a new `<path>.bak-<UTC timestamp>` (0600, never overwriting one); its name.

    With `sealer`, the backup is sealed: its temp file and final file hold only
    ciphertext.
    """
    if sealer is not None:
        data = seal(data, os.path.basename(path), sealer)
    base = backup_path(path)
    for attempt in range(_MAX_NAMES):
        candidate = base if attempt == 0 else f"{base}.{attempt}"
        if fsutil.create_exclusive(candidate, data, what="backup"):
            return candidate
    raise BackupError(f"credhelper: cannot find a free backup name for {path}")


def backups_of(path: str) -> list[str]:
    """Every `<path>.bak-*` next to `path` (no temp files), oldest name first."""
    directory, name = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    prefix = name + _BAK
    return sorted(
        os.path.join(directory, n)
        for n in names
        if n.startswith(prefix) and fsutil.TEMP_MARK not in n
    )


def _read(path: str) -> bytes | None:
    try:
        return fsutil.read_file_nofollow(path, "backup")
    except CredhelperError:
        return None


def sealed_backups(path: str) -> list[tuple[str, str]]:
    """(backup, key id) of each sealed backup of `path`."""
    found: list[tuple[str, str]] = []
    for backup in backups_of(path):
        data = _read(backup)
        kid = sealed_key_id(data) if data is not None else None
        if kid is not None:
            found.append((backup, kid))
    return found


def purge_sealed_backups(
    old_key_id: str | None, config_path: str | None = None, *, keep_key_id: str | None = None
) -> list[str]:
    """Remove every sealed backup of Docker's config that the key `old_key_id` opens
    (with `keep_key_id`, every one that key does not open: all earlier keys are gone).

    For a forced rotation (the old key leaked): afterwards no copy credhelper wrote
    beside Docker's config can be opened with it. Backups sit next to the file a
    symlinked config.json points to (writes go there). Returns the removed paths.
    """
    from credhelper import paths

    path = config_path or paths.docker_config_file()
    path = os.path.realpath(path) if os.path.islink(path) else path
    removed: list[str] = []
    for backup, kid in sealed_backups(path):
        if kid == old_key_id or (keep_key_id is not None and kid != keep_key_id):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup)
                removed.append(backup)
    if removed:
        with contextlib.suppress(OSError):
            fsutil.fsync_dir(os.path.dirname(path) or ".")
    return removed


def stale_temps(path: str) -> list[str]:
    """credhelper's temp files for `path` and its backups (`.<name>[.bak-*].tmp-*`).

    Only credhelper names temp files this way (docker's own are `<name><digits>`),
    and it creates them only while it holds the file's lock: seen under that
    lock, each is left by a writer that was killed.
    """
    directory, name = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    prefix = f".{name}"
    return sorted(
        os.path.join(directory, n)
        for n in names
        if n.startswith(prefix)
        and fsutil.TEMP_MARK in n
        and (n[len(prefix) :].startswith(fsutil.TEMP_MARK) or n[len(prefix) :].startswith(_BAK))
    )


def remove_stale_temps(path: str) -> list[str]:
    """Remove `stale_temps(path)` (call only under the file's lock); the removed paths."""
    removed: list[str] = []
    for temp in stale_temps(path):
        # A directory or a file we may not remove under that name is not ours: left
        # alone (doctor keeps reporting it), never a reason to fail the write.
        with contextlib.suppress(OSError):
            os.unlink(temp)
            removed.append(temp)
    return removed


def plaintext_backups(path: str, holds_credentials: Callable[[bytes], bool]) -> list[str]:
    """Backups of `path` that are not sealed and hold credentials (`holds_credentials`)."""
    found: list[str] = []
    for backup in backups_of(path):
        data = _read(backup)
        if data is not None and sealed_key_id(data) is None and holds_credentials(data):
            found.append(backup)
    return found


def seal_in_place(
    backup: str, sealer: Sealer, holds_credentials: Callable[[bytes], bool] | None = None
) -> bool:
    """Replace a plaintext backup by its sealed form (atomically: never both lost);
    whether it did. With `holds_credentials`, only a file that still holds them (as
    when it was found) is sealed: one swapped for another file since is left alone."""
    data = fsutil.read_file_nofollow(backup, "backup")
    if data is None or sealed_key_id(data) is not None:
        return False
    if holds_credentials is not None and not holds_credentials(data):
        return False
    of = os.path.basename(backup).split(_BAK, 1)[0]
    fsutil.atomic_write(backup, seal(data, of, sealer), what="backup")
    return True
