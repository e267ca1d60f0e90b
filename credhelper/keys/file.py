"""The default key provider: 32 raw random bytes in a 0600 `aeskey` file.

The file is refused, ssh-style, when it is a symlink, owned by someone else or
accessible to group/others; the message names the path and the exact fix.
A rotation's pending key is `aeskey.pending` beside it, promoted by rename(2);
the provider is its own `Rotatable` (keys/base.py).
"""

from __future__ import annotations

import os

from credhelper import crypto, fsutil
from credhelper.crypto import KEY_BYTES, new_key
from credhelper.errors import KeyProblem, StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time contextlib is imported on first use (hot path)
    import contextlib
else:
    from credhelper import lazycontext as contextlib

PENDING_SUFFIX = ".pending"


class FileKeyProvider:
    name = "file"

    def __init__(self, path: str) -> None:
        self.path = path
        self.pending_path = path + PENDING_SUFFIX

    def describe(self) -> str:
        return f"key file {self.path}"

    def load(self) -> bytes | None:
        return _load(self.path, "key file")

    def load_or_create(self) -> bytes:
        key = self.load()
        if key is not None:
            return key
        fsutil.ensure_private_dir(os.path.dirname(self.path))
        fsutil.create_exclusive(self.path, new_key(), what="key file")
        # Whether we or a concurrent first run created it, the file now holds
        # the one key everybody uses.
        key = self.load()
        if key is None:
            raise KeyProblem(f"credhelper: key file {self.path} vanished while being created")
        return key

    def rotation(self) -> FileKeyProvider:
        return self  # the key file is credhelper's own: it rotates it in place

    def load_pending(self) -> bytes | None:
        return _load(self.pending_path, "pending key file")

    def write_pending(self, key: bytes) -> None:
        fsutil.ensure_private_dir(os.path.dirname(self.path))
        fsutil.atomic_write(self.pending_path, key, what="pending key file")

    def promote_pending(self) -> None:
        # rename(2) is the atomic step: at every instant `aeskey` is the whole old
        # key or the whole new one, and the old key's name is gone in the same step.
        try:
            os.replace(self.pending_path, self.path)
            fsutil.fsync_dir(os.path.dirname(self.path) or ".")
        except OSError as err:
            raise KeyProblem(
                f"credhelper: cannot install the new key {self.path}: {err.strerror}; "
                "the next credhelper write finishes the rotation"
            ) from None

    def discard_pending(self) -> None:
        _unlink(self.pending_path)

    def drop_copies_of(self, key_id: str) -> None:
        """Remove the key file and the pending one where they hold key `key_id`.

        For a copy left behind by a switch to another provider (store/locked.py);
        a file that cannot be read safely is left for doctor to report.
        """
        for path, what in ((self.pending_path, "pending key file"), (self.path, "key file")):
            try:
                key = _load(path, what)
            except KeyProblem:
                continue
            if key is not None and crypto.key_id(key) == key_id:
                _unlink(path)

    def remove_key(self) -> None:
        _unlink(self.pending_path)
        _unlink(self.path)


def _unlink(path: str) -> None:
    """Remove `path` if it exists, durably (the directory is fsynced)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise KeyProblem(f"credhelper: cannot remove {path}: {err.strerror}") from None
    with contextlib.suppress(OSError):
        fsutil.fsync_dir(os.path.dirname(path) or ".")


def _load(path: str, what: str) -> bytes | None:
    try:
        data = _read_key_file(path, what)
    except StoreError as err:
        raise KeyProblem(err.message) from None
    if data is None:
        return None
    if len(data) != KEY_BYTES:
        raise KeyProblem(
            f"credhelper: {what} {path} is not a 32-byte AES-256 key "
            f"({len(data)} bytes); run: credhelper doctor"
        )
    return data


def _read_key_file(path: str, what: str = "key file") -> bytes | None:
    """Read the key, refusing a symlink, a foreign owner or group/other access."""
    return fsutil.read_file_nofollow(path, what, private=True, limit=KEY_BYTES + 1)
