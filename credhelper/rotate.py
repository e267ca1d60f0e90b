"""Key rotation: replace the store's key, invalidating (default) or re-sealing every entry.

The on-disk sequence, all under the store lock, is what makes a SIGKILL at any
instant safe (see `rotate`). Also the env provider's fleet rotation
(`rotate_from_env`), which is one atomic store write. Not on the hot path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from credhelper import crypto
from credhelper.errors import CorruptEntry, CredhelperError, ExitCode, Invalidated, KeyProblem
from credhelper.keys import env as env_keys
from credhelper.store import ROTATION_MARK, Snapshot, Store, utc_now

REASON = "key rotation"
MODE_FORCED = "forced"
MODE_REENCRYPT = "reencrypt"

# Test hook: name of a file to which each step's name is appended (fsynced)
# just after the step is durable, so crash tests can kill at chosen points.
_TRACE_ENV = "CREDHELPER_ROTATE_TRACE"


class RotationRefused(CredhelperError):
    """Rotation cannot run with this key provider or configuration."""

    exit_code = ExitCode.ERROR


@dataclass(frozen=True)
class RotationResult:
    mode: str
    provider: str
    old_key_id: str | None
    new_key_id: str
    rotated_at: str
    reencrypted: list[str] = field(default_factory=list)
    needs_login: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "keyProvider": self.provider,
            "oldKeyId": self.old_key_id,
            "newKeyId": self.new_key_id,
            "rotatedAt": self.rotated_at,
            "reencrypted": self.reencrypted,
            "needsLogin": self.needs_login,
        }


def _key_id(sealer: crypto.Sealer | None) -> str | None:
    return sealer.key_id if sealer is not None else None


def _trace(step: str) -> None:
    path = os.environ.get(_TRACE_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, step.encode() + b"\n")
    finally:
        os.close(fd)


def _invalidated(when: str, reason: str = REASON) -> dict[str, Any]:
    return {"invalidated": when, "reason": reason}


def _new_auths(
    snap: Snapshot, new: crypto.Sealer, reencrypt: bool, now: str
) -> tuple[dict[str, Any], list[str], list[str]]:
    """(new auths, servers re-sealed, servers needing a login) for the rotated store."""
    auths: dict[str, Any] = {}
    kept: list[str] = []
    relogin: list[str] = []
    for server in snap.servers():
        entry = snap.auths[server]
        already = isinstance(entry, dict) and entry.get("sealed") is None and "invalidated" in entry
        if already:
            auths[server] = entry  # keeps when and why it was first invalidated
            relogin.append(server)
            continue
        if not reencrypt:
            auths[server] = _invalidated(now)
            relogin.append(server)
            continue
        try:
            creds = snap.get(server)
        except Invalidated:
            kid = entry.get("keyId") if isinstance(entry, dict) else None
            auths[server] = _invalidated(now, f"{REASON} (it was sealed by key {kid}, now lost)")
            relogin.append(server)
            continue
        except CorruptEntry as err:
            auths[server] = _invalidated(now, f"{REASON} (it was corrupt: {err.cause})")
            relogin.append(server)
            continue
        auths[server] = {
            "sealed": new.seal(server, creds.username, creds.secret),
            "keyId": new.key_id,
            "updated": entry.get("updated") or now,
        }
        kept.append(server)
    return auths, kept, relogin


def rotate(
    *,
    reencrypt: bool = False,
    store: Store | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RotationResult:
    """Replace the key; forced re-login by default, re-sealed logins with `reencrypt`.

    Under the store lock (an interrupted earlier rotation is finished first):

    1. the new key is written durably as the provider's *pending* key
       (`aeskey.pending`); the store and current key are untouched — killed
       here, the next writer discards the pending key (state before);
    2. the store is atomically rewritten: entries re-sealed under the new key id
       (or turned into "invalidated" records), plus a `keyRotation` mark naming
       the new key id — killed here, readers that meet the new key id find it
       as the pending key, forced entries already say "needs re-login", and the
       next writer sees the mark and promotes the pending key (state after);
    3. the pending key is promoted over the current one (rename(2) for a file):
       the old key is gone in that same step;
    4. the store is rewritten without the mark.

    So no instant exists at which an entry needs a key that is not on disk.
    """
    store = store if store is not None else Store()
    step = on_step or _trace
    with store.exclusive() as session:
        snap = session.read()
        provider = snap.provider
        refusal = provider.rotation_refusal()
        if refusal:
            raise RotationRefused(refusal)
        old = snap.sealer()
        if (
            reencrypt
            and old is None
            and any(
                isinstance(e, dict) and isinstance(e.get("sealed"), str)
                for e in snap.auths.values()
            )
        ):
            # Nothing can be re-sealed; say so rather than silently invalidating.
            raise KeyProblem(
                f"credhelper: cannot re-encrypt: the {provider.describe()} is missing, so the "
                "stored logins cannot be opened; run `credhelper rotate` (without --reencrypt) "
                "and log in again"
            )
        key = crypto.new_key()
        new = crypto.Sealer(key)
        now = utc_now()
        auths, kept, relogin = _new_auths(snap, new, reencrypt, now)

        provider.write_pending(key)
        del key
        step("pending-written")
        doc = dict(snap.doc)
        doc["auths"] = auths
        doc[ROTATION_MARK] = {
            "newKeyId": new.key_id,
            "oldKeyId": _key_id(old),
            "mode": MODE_REENCRYPT if reencrypt else MODE_FORCED,
            "started": now,
        }
        session.write(doc)
        step("store-written")
        provider.promote_pending()
        step("key-promoted")
        del doc[ROTATION_MARK]
        session.write(doc)
        step("done")
        return RotationResult(
            mode=MODE_REENCRYPT if reencrypt else MODE_FORCED,
            provider=provider.describe(),
            old_key_id=_key_id(old),
            new_key_id=new.key_id,
            rotated_at=now,
            reencrypted=kept,
            needs_login=relogin,
        )


def rotate_from_env(*, reencrypt: bool = False, store: Store | None = None) -> RotationResult:
    """After a fleet put a new key in CREDHELPER_AESKEY[_FILE]: bring the store to it.

    With `reencrypt`, entries sealed by the previous key (given in
    CREDHELPER_OLD_AESKEY or CREDHELPER_OLD_AESKEY_FILE) are re-sealed under the
    new one; otherwise they are invalidated. Entries already sealed by the new key
    are kept. Both keys live outside credhelper, so this is one atomic store write.
    """
    store = store if store is not None else Store()
    with store.exclusive() as session:
        snap = session.read()
        provider = snap.provider
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
        now = utc_now()
        auths: dict[str, Any] = {}
        kept: list[str] = []
        relogin: list[str] = []
        for server in snap.servers():
            entry = snap.auths[server]
            kid = entry.get("keyId") if isinstance(entry, dict) else None
            sealed = entry.get("sealed") if isinstance(entry, dict) else None
            if isinstance(entry, dict) and sealed is None and "invalidated" in entry:
                auths[server] = entry
                relogin.append(server)
            elif kid == new.key_id:
                auths[server] = entry  # logged in again since the key changed
                kept.append(server)
            elif old is not None and kid == old.key_id and isinstance(sealed, str):
                try:
                    username, secret = old.unseal(server, sealed)
                except crypto.SealError as err:
                    auths[server] = _invalidated(now, f"{REASON} (it was corrupt: {err})")
                    relogin.append(server)
                    continue
                auths[server] = {
                    "sealed": new.seal(server, username, secret),
                    "keyId": new.key_id,
                    "updated": entry.get("updated") or now,
                }
                kept.append(server)
            else:
                auths[server] = _invalidated(now)
                relogin.append(server)
        doc = dict(snap.doc)
        doc["auths"] = auths
        session.write(doc)
        return RotationResult(
            mode=MODE_REENCRYPT if reencrypt else MODE_FORCED,
            provider=provider.describe(),
            old_key_id=_key_id(old),
            new_key_id=new.key_id,
            rotated_at=now,
            reencrypted=kept,
            needs_login=relogin,
        )
