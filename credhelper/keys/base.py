"""The small interface every key provider implements."""

from __future__ import annotations

from typing import Protocol


class KeyProvider(Protocol):
    """Where the store's AES-256 key lives.

    `load` never creates anything (get/list must not make a key); only writers,
    holding the store lock, call `load_or_create`.
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
