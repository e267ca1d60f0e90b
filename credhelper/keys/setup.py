"""Choosing the key provider once: `configure_provider`, called by `credhelper install`.

Records the choice in the store's `keyProvider` record (for `keyring`, also the
backend class, so the hot path never runs keyring's detection) and moves the key
so that every existing entry stays readable. Not on the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credhelper import crypto, keys
from credhelper.errors import KeyProblem, UsageError
from credhelper.keys.base import KeyProvider, install_key
from credhelper.store.document import same_record

if TYPE_CHECKING:
    from credhelper.store import Transaction


def configure_provider(
    name: str, directory: str | None = None, options: dict[str, str | None] | None = None
) -> None:
    """Make `name` ("file", "keyring", "env" or "vault") the store's key provider.

    `options` are the provider's settings from the command line (for vault:
    keys.vault.configure.OPTION_MOUNT and OPTION_KEY).

    Under the store lock. The current key (of the provider the store records) is
    moved to the new provider and then removed from the old one, so entries stay
    readable; for `env`, whose key cannot be written, entries are re-sealed under
    the environment's key instead. If entries would become unreadable, nothing
    changes and a KeyProblem says why and what to do. Idempotent.
    """
    from credhelper.store import Store

    if name not in keys.PROVIDERS:
        raise UsageError(
            f"credhelper: unknown key provider {name!r} "
            f"(choose one of: {', '.join(keys.PROVIDERS)})"
        )
    store = Store(directory)
    with store.exclusive(switching=True) as session:
        txn = session.read()
        recorded = txn.provider_record
        old_name = _store_provider_name(txn.doc.header_claim(), recorded)
        old = keys.by_name(old_name, recorded, store.directory)
        record: dict[str, Any] = {"name": name}
        if name == "vault":
            from credhelper.keys.vault.configure import provider_for

            vault = provider_for(recorded, options, store.directory)
            record = vault.record  # gets the wrapped data key when it is made or moved
            new: KeyProvider = vault
        else:
            new = keys.by_name(name, None, store.directory)
        if name == "keyring":
            from credhelper.keys.keyring_provider import KeyringKeyProvider

            assert isinstance(new, KeyringKeyProvider)
            new.backend()  # detection runs here, once, and is recorded below
            record["backend"] = new.backend_path

        old_key = old.load()
        if name == "env":
            _switch_to_env(txn, old, old_key, new, txn.key_ids_in_use())
        elif old_name == "env":
            _leave_env(txn, old, old_key, new)
        else:
            _move_key(txn, old_key, new, moving=old_name != name)
        if not same_record(recorded, record) or txn.doc.header_claim() != name:
            txn.set_provider(record)
        if txn.dirty:  # a rerun that changes nothing writes nothing
            session.write(txn)
        # Only now that the store names the new provider may the old copy go
        # (an env key has no Rotatable side: its secret system keeps it). Killed
        # before this, the next writer removes a key file left behind (store/locked.py).
        old_slots = old.rotation()
        if old_name != name and old_slots is not None and old_key is not None:
            old_slots.remove_key()


def _store_provider_name(claim: str, recorded: dict[str, Any] | None) -> str:
    """The provider holding the store's key now: the one its header names (authenticated
    by that key), else the recorded one, else `file` (what the store uses by itself,
    not a one-off environment override)."""
    if claim in keys.PROVIDERS:
        return claim
    name = recorded.get("name") if recorded else None
    return name if isinstance(name, str) and name in keys.PROVIDERS else "file"


def _move_key(txn: Transaction, old_key: bytes | None, new: KeyProvider, *, moving: bool) -> None:
    """Give `new` the store's key: the old provider's (moving), else one made if none."""
    needed = txn.key_ids_in_use()
    if not moving:
        if old_key is None:
            txn.use_key(new.load_or_create(), created=True)
        return
    new_key = new.load()
    # The new provider's own key is never overwritten while a record needs it.
    new_kid = crypto.key_id(new_key) if new_key is not None and new_key != old_key else None
    keep_new = new_kid is not None and new_kid in needed
    if new_kid is not None and keep_new and old_key and crypto.key_id(old_key) in needed:
        _refuse_two_keys(txn, new_kid, new)
    # vault: a key no entry needs is not moved (that would need transit/encrypt,
    # which a runner's least-privilege policy lacks); a new data key is made.
    if old_key is not None and (needed or new.name != "vault") and not keep_new:
        install_key(new, old_key)
        txn.use_key(old_key, created=False)
    elif new_key is None:
        txn.use_key(new.load_or_create(), created=True)


def _refuse_two_keys(txn: Transaction, new_kid: str, new: KeyProvider) -> None:
    """Both the store's key and `new`'s own key seal logins: moving either would lose the
    other's logins, so nothing changes; the user re-logs in to those of `new`'s key."""
    from credhelper.store.model import printable

    servers = sorted(
        printable(server, "?")
        for server, raw in txn.doc.auths.items()
        if isinstance(raw, dict) and raw.get("keyId") == new_kid
    )
    raise KeyProblem(
        f"credhelper: cannot switch to the {new.name} key provider: {new.describe()} holds "
        f"another key that stored logins need ({', '.join(servers) or 'some logins'}); nothing "
        "was changed; log in again to those (they are re-sealed under the store's key), "
        "then run this again"
    )


def _switch_to_env(
    txn: Transaction, old: KeyProvider, old_key: bytes | None, new: KeyProvider, needed: set[str]
) -> None:
    env_key = new.load()
    if env_key is None:
        if needed:
            raise KeyProblem(
                "credhelper: cannot switch to the env key provider: CREDHELPER_AESKEY and "
                "CREDHELPER_AESKEY_FILE are unset, and the stored logins need a key; set one "
                "and run this again (the stored logins are re-sealed under it)"
            )
        return
    env_sealer = crypto.Sealer(env_key)
    if not needed - {env_sealer.key_id}:
        header = txn.header()
        if header is None or header.key_id != env_sealer.key_id:
            txn.use_key(env_key, created=False)  # else: already sealed by it, nothing to do
        return
    if old_key is None:
        raise KeyProblem(
            f"credhelper: cannot switch to the env key provider: stored logins are sealed by "
            f"a key that {old.describe()} no longer holds; log in again after switching"
        )
    txn.rekey(env_sealer, reencrypt=True, opener=txn.opener_for(crypto.Sealer(old_key)))
    txn.use_key(env_key, created=False)  # an env key's age is the secret system's


def _leave_env(txn: Transaction, old: KeyProvider, env_key: bytes | None, new: KeyProvider) -> None:
    """Away from `env`: a new key of `new` seals the store; the env key is never written.

    The env key is the fleet's secret (it may open every runner's store), so it
    stays with the secret system that supplies it; logins it sealed are re-sealed.
    """
    needed = txn.key_ids_in_use()
    if env_key is None and needed:
        raise KeyProblem(
            f"credhelper: cannot switch away from the env key provider: {old.describe()} "
            "holds no key, and the stored logins need it; set CREDHELPER_AESKEY (or "
            "CREDHELPER_AESKEY_FILE) to that key and run this again (the logins are "
            "re-sealed under a new key)"
        )
    if env_key is not None and new.name != "file":
        _drop_env_key_file(txn, env_key)
    key = new.load()
    created = key is None
    if key is None:
        key = new.load_or_create()
    elif env_key is not None and key == env_key:
        # A copy of the env key (an older credhelper wrote it there): replaced.
        install_key(new, crypto.new_key())
        key, created = new.load_or_create(), True
    sealer = crypto.Sealer(key)
    if needed - {sealer.key_id}:
        old_sealer = crypto.Sealer(env_key) if env_key is not None else None
        txn.rekey(sealer, reencrypt=True, opener=txn.opener_for(old_sealer))
    else:
        txn.use_key(key, created=created)


def _drop_env_key_file(txn: Transaction, env_key: bytes) -> None:
    """Remove a key file (or pending one) that holds exactly the env key.

    An older credhelper wrote the env key into `aeskey`; a switch to a provider
    other than `file` (which replaces it) would otherwise leave that plaintext copy
    of the fleet's key for good. The env key itself stays where the fleet keeps it.
    """
    import os

    from credhelper import paths
    from credhelper.keys.file import FileKeyProvider

    left = FileKeyProvider(os.path.join(txn.directory, paths.KEY_NAME))
    left.drop_copies_of(crypto.key_id(env_key))
