"""Key rotation: replace the store's key, invalidating (default) or re-sealing every entry.

The on-disk sequence, all under the store lock, is what makes a SIGKILL at any
instant safe (see `rotate`). Also the env provider's fleet rotation
(`rotate_from_env`), which is one atomic store write, and the age check of
`rotate --if-older-than`, decided under the same lock so that concurrent runs
rotate once. The entries themselves are re-sealed in one place: Transaction.rekey.
Not on the hot path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from credhelper import crypto, durations
from credhelper.errors import CredhelperError, ExitCode, KeyProblem
from credhelper.jsonfields import fields_dict
from credhelper.keys import env as env_keys
from credhelper.store import LockedStore, Store, Transaction
from credhelper.store.locked import purge_old_copies
from credhelper.store.recovery import seal_mark
from credhelper.store.rekey import RekeyReport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.keys.base import KeyProvider, Rotatable

MODE_FORCED = "forced"
MODE_REENCRYPT = "reencrypt"
# RotationResult.reason under --if-older-than: why the key counted as old.
REASON_OLDER = "older-than-period"
REASON_UNKNOWN_AGE = "age-unknown"
REASON_FUTURE = "created-in-future"

# Test hook: name of a file to which each step's name is appended (fsynced)
# just after the step is durable, so crash tests can kill at chosen points.
_TRACE_ENV = "CREDHELPER_ROTATE_TRACE"


class RotationRefused(CredhelperError):
    """Rotation cannot run with this key provider or configuration."""

    exit_code = ExitCode.ERROR


class RotationResult:
    """What a rotation did (or, for --if-older-than, why it did nothing)."""

    __slots__ = (
        "kept_lost",
        "key_created",
        "mode",
        "needs_login",
        "new_key_id",
        "old_key_id",
        "provider",
        "provider_name",
        "reason",
        "reencrypted",
        "removed",
        "rotated",
        "rotated_at",
    )

    def __init__(self, mode: str, provider: Any, old_key_id: str | None) -> None:
        self.mode = mode
        self.provider = provider.describe()
        self.provider_name: str = provider.name
        self.old_key_id = old_key_id
        self.new_key_id: str | None = None
        self.rotated = False
        self.rotated_at: str | None = None
        self.key_created: str | None = None
        self.reencrypted: list[str] = []
        self.needs_login: list[str] = []
        self.kept_lost: list[str] = []
        self.removed: list[str] = []
        # For --if-older-than: why the key counted as old (None without the option).
        self.reason: str | None = None

    def record(self, report: RekeyReport, new_key_id: str, now: str) -> None:
        self.rotated = True
        self.new_key_id = new_key_id
        self.rotated_at = self.key_created = now
        self.reencrypted = report.reencrypted
        self.needs_login = report.needs_login
        self.kept_lost = report.kept_lost

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self, _JSON_FIELDS)


# RotationResult's --json object, in output order (credhelper.jsonfields).
_JSON_FIELDS = (
    "rotated mode keyProvider=provider_name keyLocation=provider old_key_id new_key_id "
    "rotated_at key_created reencrypted needs_login keptLostKey=kept_lost "
    "removedBackups=removed reason"
)


def _trace(step: str) -> None:
    path = os.environ.get(_TRACE_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, step.encode() + b"\n")
    finally:
        os.close(fd)


def _young_enough(txn: Transaction, seconds: int, result: RotationResult) -> bool:
    """True if the key is younger than `seconds` (then nothing rotates).

    A key of unknown age (made before ages were recorded) counts as old: it is
    the one a rotation policy most needs to replace, and afterwards it has one.
    """
    if txn.provider.name == "env":
        raise RotationRefused(
            "credhelper: --if-older-than does not work with the env key provider: the key's "
            "age is the business of the secret system that supplies it; rotate it there, "
            "then run: credhelper rotate --key-from-env"
        )
    created = txn.key_created()
    result.key_created = created
    age = durations.age_seconds(created) if created is not None else None
    if age is None:
        result.reason = REASON_UNKNOWN_AGE
        return False
    if age < -durations.CLOCK_SKEW_SECONDS:
        # Recorded by a clock that was ahead: believing it would leave the key
        # unrotated until the clock catches up (years, maybe). Its true age is
        # unknown, so it counts as old, like a key made before ages were recorded.
        result.reason = REASON_FUTURE
        return False
    if age < seconds:
        return True
    result.reason = REASON_OLDER
    return False


def rotate(
    *,
    reencrypt: bool = False,
    store: Store | None = None,
    on_step: Callable[[str], None] | None = None,
    if_older_than: int | None = None,
) -> RotationResult:
    """Replace the key; forced re-login by default, re-sealed logins with `reencrypt`.

    With `if_older_than` (seconds), only when the key is older (decided under
    the lock). Under the store lock (a killed earlier rotation is finished first):

    1. the new key is written durably as the provider's *pending* key — killed
       here, the next writer discards it (state before);
    2. the store is rewritten atomically under the new key id (entries re-sealed
       or invalidated keeping the username, the header re-sealed) with a rotation
       mark naming the new key — killed here, readers use the pending key, and
       the next writer (or `doctor --fix`) promotes it (state after);
    3. the pending key is promoted (rename(2) for a file): the old key is gone;
    4. the store is rewritten without the mark; after a forced rotation the
       store's backups, which the old key opens, are removed.

    So no instant exists at which an entry needs a key that is not on disk.
    """
    store = store if store is not None else Store()
    step = on_step or _trace
    with store.exclusive() as session:
        txn = session.read()
        provider = txn.provider
        slots = provider.rotation()
        old = txn.sealer()
        mode = MODE_REENCRYPT if reencrypt else MODE_FORCED
        result = RotationResult(mode, provider, old.key_id if old is not None else None)
        if if_older_than is not None and _young_enough(txn, if_older_than, result):
            return result
        if slots is None:
            raise RotationRefused(_refusal(provider))
        if provider.name == "vault":  # transit rotate + rewrap, or a new data key
            from credhelper.keys.vault import VaultKeyProvider
            from credhelper.keys.vault.rotation import rotate_vault

            assert isinstance(provider, VaultKeyProvider)
            rotate_vault(session, txn, provider, result, reencrypt=reencrypt)
            if not reencrypt:
                result.removed = _purge_old_copies(store, result)
            step("done")
            return result
        if reencrypt and old is None and txn.doc.key_ids_in_use():
            # Nothing can be re-sealed; say so rather than silently invalidating.
            raise KeyProblem(
                f"credhelper: cannot re-encrypt: the {provider.describe()} is missing, so the "
                "stored logins cannot be opened; run `credhelper rotate` (without --reencrypt) "
                "and log in again"
            )
        _refuse_needed_pending(txn, slots)
        _replace_key(session, txn, slots, result, step)
        if not reencrypt:
            result.removed = _purge_old_copies(store, result)
        step("done")
        return result


def _refuse_needed_pending(txn: Transaction, slots: Rotatable) -> None:
    """Never start over while a pending key the records need is held: writing a new
    pending key would destroy it (the writer's recovery kept it for that reason)."""
    try:
        pending = slots.load_pending()
    except KeyProblem:
        return  # unreadable: write_pending replaces it, and no record can need it
    if pending is not None and crypto.key_id(pending) in txn.doc.key_ids_in_use():
        raise KeyProblem(
            f"credhelper: refusing to rotate: the pending key {crypto.key_id(pending)} of an "
            "unfinished rotation seals stored logins; run: credhelper doctor"
        )


def _refusal(provider: KeyProvider) -> str:
    """Why a provider without its own key storage (env) is not rotated here, one line."""
    return (
        f"credhelper: refusing to rotate: the key comes from {provider.describe()}, which "
        "belongs to the secret system that supplies it; put a new key there, then run "
        f"`credhelper rotate --key-from-env --reencrypt` with the old one in "
        f"{env_keys.OLD_ENV_KEY} (or `credhelper rotate --key-from-env` and log in again)"
    )


def _purge_old_copies(store: Store, result: RotationResult) -> list[str]:
    """After a forced rotation: the store's backups and every sealed backup of Docker's
    config that a previous key opens are removed (the old key may have leaked). The same
    purge finishes a killed forced rotation (store.locked.recover_rotation's caller)."""
    return purge_old_copies(store, result.old_key_id, result.new_key_id)


def _replace_key(
    session: LockedStore,
    txn: Transaction,
    slots: Rotatable,
    result: RotationResult,
    step: Callable[[str], None],
) -> None:
    """Steps 1-4 of `rotate` for a provider that holds its own key (`slots`)."""
    key = crypto.new_key()
    new = crypto.Sealer(key)
    report = txn.rekey(new, reencrypt=result.mode == MODE_REENCRYPT)
    result.record(report, new.key_id, report.at)
    slots.write_pending(key)
    del key
    step("pending-written")
    # Tagged under the new key, so that only this mark (never an edited one) can make
    # a later writer purge the old key's copies (store/recovery.py mark_authentic).
    txn.mark_rotation(
        seal_mark(
            {
                "newKeyId": new.key_id,
                "oldKeyId": result.old_key_id,
                "mode": result.mode,
                "started": result.rotated_at,
            },
            new,
        )
    )
    session.write(txn)
    step("store-written")
    slots.promote_pending()
    step("key-promoted")
    txn.mark_rotation(None)
    session.write(txn)


def rotate_from_env(*, reencrypt: bool = False, store: Store | None = None) -> RotationResult:
    """After a fleet put a new key in CREDHELPER_AESKEY[_FILE]: bring the store to it.

    With `reencrypt`, entries sealed by the previous key (given in
    CREDHELPER_OLD_AESKEY or CREDHELPER_OLD_AESKEY_FILE) are re-sealed under the
    new one; otherwise they are invalidated. Entries already sealed by the new key
    are kept. Both keys live outside credhelper, so this is one atomic store write.
    """
    store = store if store is not None else Store()
    with store.exclusive() as session:
        txn = session.read()
        provider = txn.provider
        if provider.name != "env":
            raise RotationRefused(
                "credhelper: --key-from-env is for the env key provider (CREDHELPER_AESKEY or "
                f"CREDHELPER_AESKEY_FILE); the key is in the {provider.describe()}: run "
                "credhelper rotate without --key-from-env"
            )
        new = crypto.Sealer(provider.load_or_create())
        old_key = env_keys.load_from(env_keys.OLD_ENV_KEY, env_keys.OLD_ENV_KEY_FILE)
        if reencrypt and old_key is None:
            raise RotationRefused(
                f"credhelper: --reencrypt needs the previous key in {env_keys.OLD_ENV_KEY} or "
                f"{env_keys.OLD_ENV_KEY_FILE}; without it, run --key-from-env alone and "
                "log in again"
            )
        old = crypto.Sealer(old_key) if old_key is not None and reencrypt else None
        result = RotationResult(
            MODE_REENCRYPT if reencrypt else MODE_FORCED,
            provider,
            old.key_id if old is not None else None,
        )
        opener = txn.opener_for(old)
        report = txn.rekey(new, reencrypt=reencrypt, opener=opener)
        result.record(report, new.key_id, report.at)
        result.key_created = None  # the secret system knows, not credhelper
        session.write(txn)
        if not reencrypt:
            result.removed = _purge_old_copies(store, result)
        return result
