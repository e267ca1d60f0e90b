"""Checks of the store's key (`check_key`): the provider the store names, the key
file (file provider), whether the key loads and is the one that sealed the logins,
an interrupted or forged rotation, an edited provider record, and the key's age.

Its result (`KeyState`) gates the checks after it: entries are only opened, and
registries only asked, when the key is usable.
"""

from __future__ import annotations

from dataclasses import dataclass

from credhelper import durations, keys
from credhelper.doctor.model import (
    ERROR,
    FIX_COMMAND,
    INFO,
    WARNING,
    Context,
    Finding,
    lstat_or_none,
)
from credhelper.doctor.remedies import Step
from credhelper.doctor.store_checks import StoreState, check_node
from credhelper.errors import CredhelperError, KeyProblem
from credhelper.store import STATE_RELOGIN, ProviderRecordEdited, Snapshot
from credhelper.store.model import InvalidatedEntry, SealedEntry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.keys.base import KeyProvider

START_OVER = "credhelper rotate, then log in again to each registry"
KEY_FIX = (
    "restore the key from a backup; without it, move it aside and log in again to each "
    "registry (credhelper list shows them)"
)


@dataclass(frozen=True)
class KeyState:
    """What check_key found: the key opens the store (`ok`); `reported`: a key finding
    was made, so later checks need not repeat why the store cannot be opened."""

    ok: bool
    reported: bool


def logins_needing_key(snapshot: Snapshot | None) -> int:
    """How many stored logins were sealed with a key (each needs it to open)."""
    if snapshot is None:
        return 0
    count = 0
    for server in snapshot.auths:
        entry = snapshot.doc.entry(server)
        if isinstance(entry, SealedEntry | InvalidatedEntry) and entry.key_id is not None:
            count += 1
    return count


def check_key(ctx: Context, state: StoreState) -> tuple[list[Finding], KeyState]:
    """The key the store needs, as credhelper will load it."""
    out: list[Finding] = []
    if not state.usable:
        return out, KeyState(False, False)
    snapshot = state.snapshot
    directory = ctx.store.directory
    record = snapshot.provider_record if snapshot else None
    try:
        name = keys.provider_name(record)
        provider = keys.select(record, directory)
    except KeyProblem as err:
        out.append(Finding("key.provider", ERROR, err.message, directory, "credhelper install"))
        return out, KeyState(False, True)
    needing = logins_needing_key(snapshot)
    if name == "file" and not _check_key_file(provider, snapshot, needing, out):
        return out, _state(False, out)
    try:
        key = provider.load()
    except CredhelperError as err:
        # A key file already reported unusable (mode, owner) is not reported twice.
        if not isinstance(err, KeyProblem) or not _state(False, out).reported:
            out.append(Finding("key.unreadable", ERROR, err.message, directory, KEY_FIX))
        return out, _state(False, out)
    if key is None:
        if needing:
            message = f"{provider.describe()} holds no key; {needing} stored login(s) need it"
            fix = f"restore the key, or {start_over(snapshot)} (credhelper list shows them)"
            out.append(Finding("key.missing", ERROR, message, directory, fix))
        return out, _state(False, out)
    from credhelper.crypto import key_id

    out.extend(_check_sealed_with(ctx, snapshot, key_id(key), provider))
    return out, _state(True, out)


def _state(ok: bool, findings: list[Finding]) -> KeyState:
    return KeyState(ok, any(f.id.startswith("key") for f in findings))


def start_over(snapshot: Snapshot | None) -> str:
    """How to go on without the lost key: log in again, as the store's own hint for each
    entry says; a rotation first only where the store says a login would be refused
    (its header names another provider's key). A forced rotation also drops usernames."""
    try:
        statuses = snapshot.statuses() if snapshot is not None else []
    except CredhelperError:
        statuses = []
    if any(s.state == STATE_RELOGIN and "credhelper rotate" in s.detail for s in statuses):
        return f"start over: {START_OVER}"
    return "log in again to each registry"


def _check_key_file(
    provider: KeyProvider, snapshot: Snapshot | None, needing: int, out: list[Finding]
) -> bool:
    """The file provider's key file exists and is private; False: stop checking the key."""
    key_path = getattr(provider, "path", None)
    if not isinstance(key_path, str):
        return True
    st = lstat_or_none(key_path)
    if st is not None:
        found, usable = check_node(key_path, st, "key", "key file", 0o600)
        out.extend(found)
        return usable
    if needing:
        message = (
            f"the key file is missing, so the {needing} stored login(s) sealed with it cannot "
            "be opened (deleted, or the store copied without it?)"
        )
        then = start_over(snapshot)
        fix = f"restore the aeskey from a backup, or {then} (credhelper list shows them)"
        out.append(Finding("key.missing", ERROR, message, key_path, fix))
    else:
        message = "no key yet; it is created at the first login"
        out.append(Finding("key.not-created", INFO, message, key_path, "credhelper install"))
    return False


def _check_sealed_with(
    ctx: Context, snapshot: Snapshot | None, current: str, provider: KeyProvider
) -> list[Finding]:
    """With the key loaded: rotation marks, the provider record, age, and a replaced key."""
    path = ctx.store.path
    try:
        unfinished = snapshot.unfinished_rotation() if snapshot else None
        forged = snapshot.forged_rotation() if snapshot else None
        created = snapshot.key_created() if snapshot else None
    except ProviderRecordEdited as err:
        fix = f"{FIX_COMMAND} (puts back the record the key authenticates)"
        edited = Step.RESTORE_PROVIDER_RECORD
        return [
            Finding("store.provider-edited", ERROR, err.message, path, fix, True, remedy=edited)
        ]
    except CredhelperError as err:
        return [Finding("key.unreadable", ERROR, err.message, path, KEY_FIX)]
    if unfinished is not None:
        message = (
            f"a key rotation was interrupted after the store was rewritten under the new key "
            f"{unfinished}, before that key replaced {current}; every login is usable"
        )
        fix = f"{FIX_COMMAND} (or any credhelper login/logout) finishes it"
        finish = Step.FINISH_ROTATION
        return [
            Finding("store.rotation-unfinished", WARNING, message, path, fix, True, remedy=finish)
        ]
    out: list[Finding] = []
    if forged is not None:
        # Never advise promoting a pending key the store's header does not vouch for.
        message = (
            f"the store's key-rotation mark names key {forged}, but no held key of that id "
            f"sealed the store's header: the mark (or a pending key) was planted or edited; "
            f"the current key {current} stays"
        )
        fix = f"{FIX_COMMAND} (drops the mark and discards any pending key; the key stays)"
        drop = Step.DROP_FORGED_MARK
        out.append(Finding("store.rotation-forged", ERROR, message, path, fix, True, remedy=drop))
    out.extend(key_age(ctx.store.directory, created))
    sealed = snapshot.key_ids_in_use() if snapshot is not None else set()
    if sealed and current not in sealed:
        message = (
            f"the current key ({current}, {provider.describe()}) sealed none of the stored "
            f"logins (they need key {', '.join(sorted(sealed))}): the key was replaced"
        )
        fix = f"restore the old key, or start over: {START_OVER} (credhelper list)"
        out.append(Finding("key.mismatch", ERROR, message, path, fix))
    return out


def key_age(directory: str, created: str | None) -> list[Finding]:
    """The key's age (info), and a warning when it was made by a clock that was ahead."""
    age = durations.age_seconds(created) if created is not None else None
    text = (
        f"the key was created at {created} ({durations.format_duration(age)} ago)"
        if created is not None and age is not None
        else "the key's age is unknown (made before credhelper recorded it, or an env key)"
    )
    out = [Finding("key.age", INFO, text, directory, "")]
    if age is not None and age < -durations.CLOCK_SKEW_SECONDS:
        # A clock that was ahead: rotation by age would wait until it catches up.
        message = (
            f"the key's recorded creation time {created} is {durations.format_duration(-age)} "
            "in the future (the clock was ahead when it was made); rotate --if-older-than and "
            "the schedule rotate it at their next run"
        )
        fix = "credhelper rotate --reencrypt (a new key with a true creation time)"
        out.append(Finding("key.created-in-future", WARNING, message, directory, fix))
    return out
