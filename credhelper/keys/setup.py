"""Choosing the key provider once: `configure_provider`, called by `credhelper install`.

Records the choice in the store's `keyProvider` record (for `keyring`, also the
backend class, so the hot path never runs keyring's detection) and moves the key
so that every existing entry stays readable. Not on the hot path.
"""

from __future__ import annotations

from typing import Any

from credhelper import crypto, keys
from credhelper.errors import KeyProblem, UsageError
from credhelper.keys.base import KeyProvider


def _sealed_key_ids(auths: dict[str, Any]) -> set[str]:
    return {
        entry["keyId"]
        for entry in auths.values()
        if isinstance(entry, dict)
        and isinstance(entry.get("sealed"), str)
        and isinstance(entry.get("keyId"), str)
    }


def configure_provider(name: str, directory: str | None = None) -> None:
    """Make `name` ("file", "keyring" or "env") the store's key provider.

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
    with store.exclusive() as session:
        txn = session.read()
        recorded = txn.doc.get("keyProvider")
        recorded = recorded if isinstance(recorded, dict) else None
        # What the store uses now, by its own record (not a one-off env override).
        old_name = (
            recorded.get("name") if recorded and isinstance(recorded.get("name"), str) else "file"
        )
        old = keys.by_name(str(old_name), recorded, store.directory)
        new = keys.by_name(name, None, store.directory)
        record: dict[str, Any] = {"name": name}
        if name == "keyring":
            from credhelper.keys.keyring_provider import KeyringKeyProvider

            assert isinstance(new, KeyringKeyProvider)
            new.backend()  # detection runs here, once, and is recorded below
            record["backend"] = new.backend_path

        old_key = old.load()
        needed = _sealed_key_ids(txn.auths)
        if name == "env":
            _switch_to_env(txn, old, old_key, new, needed)
        elif old_name != name:
            new_key = new.load()
            if old_key is not None and (
                new_key is None
                or crypto.key_id(new_key) not in needed
                or crypto.key_id(old_key) in needed
            ):
                new.store_key(old_key)
            elif new_key is None:
                new.load_or_create()
        else:
            new.load_or_create()
        txn.doc["keyProvider"] = record
        session.write(txn.doc)
        # Only now that the store names the new provider may the old copy go.
        if old_name != name and old.name != "env" and old_key is not None:
            old.remove_key()


def _switch_to_env(
    txn: Any, old: KeyProvider, old_key: bytes | None, new: KeyProvider, needed: set[str]
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
        return
    if old_key is None:
        raise KeyProblem(
            f"credhelper: cannot switch to the env key provider: stored logins are sealed by "
            f"a key that {old.describe()} no longer holds; log in again after switching"
        )
    old_sealer = crypto.Sealer(old_key)
    for server, entry in sorted(txn.auths.items()):
        if not isinstance(entry, dict) or entry.get("keyId") != old_sealer.key_id:
            continue
        try:
            username, secret = old_sealer.unseal(server, entry["sealed"])
        except (crypto.SealError, KeyError, TypeError):
            continue  # corrupt stays corrupt; doctor reports it
        txn.set_entry(
            server,
            {
                "sealed": env_sealer.seal(server, username, secret),
                "keyId": env_sealer.key_id,
                "updated": entry.get("updated") or "",
            },
        )
