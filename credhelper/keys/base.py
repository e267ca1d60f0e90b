"""The key-provider interface: a narrow core every provider has, rotation as an extra.

`KeyProvider` is what the store needs to open and seal entries: where the key is
(`describe`), the key itself (`load`, never creating anything, for get/list) and,
for writers, `load_or_create`. A provider whose key credhelper holds itself
(file, keyring, vault) also answers `rotation()` with its `Rotatable` side; one
whose key belongs to an outside secret system (env) answers None, so nothing
has to be filled in with refusals.

`Rotatable` is the pending-key lifecycle of a rotation (write, load, promote,
discard; credhelper/rotate.py has the whole crash-safe sequence) plus
`remove_key`. Moving a key between providers uses the same operations:
`install_key` writes the key as pending and promotes it into the new provider,
then the old provider's `remove_key` drops its copy.

`rotation()` is an accessor rather than an isinstance() check on a runtime
Protocol because the store asks it on the `get` path (a rotation's pending key),
where importing `typing` would cost start-up time.
"""

from __future__ import annotations

from typing import Protocol


class Rotatable(Protocol):
    """A provider's own key storage: a current key and at most one pending key.

    Called only by writers holding the store lock, except `load_pending`
    (readers use a pending key mid-rotation; it never creates anything).
    """

    def load_pending(self) -> bytes | None:
        """The pending key of an unfinished rotation, or None."""
        ...

    def write_pending(self, key: bytes) -> None:
        """Store `key` durably as the pending key (replacing any earlier one)."""
        ...

    def promote_pending(self) -> None:
        """Make the pending key the current key; the old key is gone after."""
        ...

    def discard_pending(self) -> None:
        """Remove a pending key if there is one (a rotation that never reached the store)."""
        ...

    def remove_key(self) -> None:
        """Delete the current key and any pending one; quiet when there is none."""
        ...


class KeyProvider(Protocol):
    """Where the store's AES-256 key lives.

    `load` never creates anything (get/list must not make a key);
    `load_or_create` is called only by writers holding the store lock.
    """

    name: str

    def describe(self) -> str:
        """Where the key is, for messages: e.g. "key file /home/u/.docker/credhelper/aeskey"."""
        ...

    def load(self) -> bytes | None:
        """The current key, or None when none exists yet."""
        ...

    def load_or_create(self) -> bytes:
        """The current key, creating one first if none exists (or a one-line KeyProblem)."""
        ...

    def rotation(self) -> Rotatable | None:
        """The provider's own key storage, or None when an outside system owns the key."""
        ...


def install_key(provider: KeyProvider, key: bytes) -> None:
    """Make `key` the current key of `provider` (moving a key in from another provider).

    Staged as the pending key and promoted, the same two steps a rotation takes,
    so a provider needs no separate "store" operation and a crash in between
    leaves the old key current. A provider that cannot hold a key refuses.
    """
    from credhelper.errors import KeyProblem

    slots = provider.rotation()
    if slots is None:
        raise KeyProblem(
            f"credhelper: the {provider.name} key provider cannot store a key; its key comes "
            f"from {provider.describe()}, which only the secret system behind it can change"
        )
    slots.write_pending(key)
    slots.promote_pending()
