"""The repairs a finding can carry (`Finding.remedy`): a `Step` where the finding
says all, else a small immutable value holding exactly what `fix` needs.

`fix` (fixes.py, docker_fixes.py) dispatches on the type. Some remedies hold a
login on its way into the store (`ImportLogin`) or an entry's credential text
(`StripEntry`): their contents are never printed (no repr) and they live only
for one `doctor --fix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from credhelper import migrate
from credhelper.dockerconfig import EntryCheck
from credhelper.schedule import Installed


class Step(Enum):
    """Repairs that need nothing but the finding; the value says what is done."""

    REMOVE_STORE_TEMPS = "remove temp files of an interrupted store write (under the lock)"
    FINISH_ROTATION = "finish a rotation killed before its key was promoted (under the lock)"
    DROP_FORGED_MARK = "drop a rotation mark nothing vouches for; the key stays (under the lock)"
    MOVE_STORE_ASIDE = "back up the store file that cannot be parsed, then remove it"
    RESTORE_PROVIDER_RECORD = "put back the keyProvider record the store's header authenticates"
    SET_CREDS_STORE = 'set "credsStore": "credhelper" (unless the plaintext logins cannot move)'
    FOLD_DUPLICATES = "rewrite Docker's config as docker reads it (one key where there were more)"
    REMOVE_DOCKER_TEMPS = "remove temp files of an interrupted credhelper write of Docker's config"


@dataclass(frozen=True)
class Chown:
    path: str  # a store path owned by another user: given back (only root can)


@dataclass(frozen=True)
class Chmod:
    path: str
    mode: int
    # A store directory: chmod only while it still holds only credhelper's files.
    dedicated_dir: bool = False


@dataclass(frozen=True)
class UnlinkSymlink:
    path: str  # a link where the lock file should be (a lock holds no data)
    # (st_dev, st_ino) of the directory it was found in: it is removed only there.
    parent: tuple[int, int]


@dataclass(frozen=True)
class RemoveCorrupt:
    server: str  # its corrupt entry is moved aside into a backup of the store


@dataclass(frozen=True)
class StripEntry:
    """Remove an entry's credential value from Docker's config (after a backup)."""

    check: EntryCheck = field(repr=False)


@dataclass(frozen=True)
class ImportLogin:
    """Move a plaintext (or legacy-encrypted) login of Docker's config into the store."""

    candidate: migrate.Candidate = field(repr=False)


@dataclass(frozen=True)
class UseCredhelper:
    server: str  # docker calls another helper for it: add credHelpers[server] = credhelper


@dataclass(frozen=True)
class SwitchHelper:
    key: str  # credHelpers[key] names a helper that is not on PATH: point it at credhelper


@dataclass(frozen=True)
class HubAlias:
    alias: str  # credHelpers key skopeo reads for Docker Hub; docker needs its v1 key too


@dataclass(frozen=True)
class SealBackups:
    paths: tuple[str, ...]  # backups of Docker's config holding plaintext logins


@dataclass(frozen=True)
class RepointSchedule:
    """Re-install a schedule whose executable is gone, run by this credhelper."""

    installed: Installed = field(repr=False)


Remedy = (
    Step
    | Chown
    | Chmod
    | UnlinkSymlink
    | RemoveCorrupt
    | StripEntry
    | ImportLogin
    | UseCredhelper
    | SwitchHelper
    | HubAlias
    | SealBackups
    | RepointSchedule
)
