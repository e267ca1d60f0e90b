"""The small interface every key provider implements (including rotation's pending key).

A rotation writes the new key beside the current one as a *pending* key, rewrites
the store under it, then promotes the pending key over the current one; see
credhelper/rotate.py for the whole on-disk sequence and why it is crash-safe.
"""

from __future__ import annotations

from typing import Protocol


class KeyProvider(Protocol):
    """Where the store's AES-256 key lives.

    `load` and `load_pending` never create anything (get/list must not make a
    key); everything else is called only by writers holding the store lock.
    """

    name: str

    def describe(self) -> str:
        """Where the key is, for messages: e.g. "key file /home/u/.docker/credhelper/aeskey"."""
        ...

    def load(self) -> bytes | None:
        """The current key, or None when none exists yet."""
        ...

    def load_or_create(self) -> bytes:
        """The current key, creating one first if none exists."""
        ...

    def rotation_refusal(self) -> str | None:
        """Why this provider cannot rotate its own key (one line), or None if it can."""
        ...

    def load_pending(self) -> bytes | None:
        """The pending key of an unfinished rotation, or None."""
        ...

    def write_pending(self, key: bytes) -> None:
        """Store `key` durably as the pending key (replacing any earlier one)."""
        ...

    def promote_pending(self) -> None:
        """Atomically make the pending key the current key; the old key is gone after."""
        ...

    def discard_pending(self) -> None:
        """Remove a pending key if there is one (a rotation that never reached the store)."""
        ...

    def store_key(self, key: bytes) -> None:
        """Make `key` the current key (switching providers moves the key this way)."""
        ...

    def remove_key(self) -> None:
        """Delete the current key (after it was moved to another provider)."""
        ...
