"""The locked read-modify-write of Docker's config.json, with its backup.

Edits work on the owned view (credsStore, credHelpers, auths as docker sees them);
everything else is copied from the file as written (render.splice). credhelper
processes serialise on a lock file beside the config; docker, which takes no lock,
is caught by a re-read just before the rename.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credhelper import backups, fsutil
from credhelper.dockerconfig.auths import raw_holds_credentials
from credhelper.dockerconfig.model import ConfigRefused, DockerConfig, DockerConfigError, load
from credhelper.dockerconfig.render import canonical, splice
from credhelper.dockerconfig.view import owned_view
from credhelper.errors import CredhelperError

if TYPE_CHECKING:
    from credhelper.crypto import Sealer

LOCK_NAME = ".config.json.credhelper-lock"
_MAX_WRITE_ATTEMPTS = 5


@dataclass
class WriteResult:
    changed: bool
    backup: str | None = None
    path: str = ""
    removed_temps: tuple[str, ...] = ()


def default_path() -> str:
    from credhelper.dockerconfig.model import default_path as path

    return path()


def _real_target(path: str) -> str:
    """Where a write must go: docker writes through a symlinked config.json, so do we."""
    return os.path.realpath(path) if os.path.islink(path) else path


def _ensure_dir(directory: str) -> None:
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as err:
        raise DockerConfigError(
            f"credhelper: cannot create Docker's config directory {directory}: {err.strerror}"
        ) from None


def store_sealer(*, create: bool = False) -> Sealer | None:
    """The store's current key, to seal a backup holding credentials (None: no key).

    With `create`, a store without a key gets one from its provider first, as the
    first `docker login` through credhelper would (None if the provider cannot).
    """
    from credhelper.store import Store

    try:
        sealer = Store().snapshot().sealer()
        if sealer is None and create:
            with Store().transaction() as txn:
                sealer = txn.write_sealer()
        return sealer
    except CredhelperError:
        return None


def modify(
    path: str | None,
    change: Callable[[dict[str, Any]], bool],
    *,
    create: bool = True,
    backup_additions: bool = True,
    create_key: bool = False,
) -> WriteResult:
    """Read-modify-write Docker's config.json, keeping every key `change` leaves alone.

    `change(view)` edits the owned view in place and says whether it changed
    anything. The previous file is backed up first (sealed when it holds
    credentials); with `backup_additions=False` a change that only adds to a file
    already in docker's own layout writes none (the old bytes are recoverable).
    A backup of bytes holding credential text is always sealed; with no store key
    (`create_key`: none could be made) the change is refused rather than leave a
    plaintext copy. A file that does not parse completely is never touched. If docker rewrote the
    file between our read and our write, the whole cycle starts again (bounded).
    """
    path = path or default_path()
    target = _real_target(path)
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        if not create:
            return WriteResult(False, None, target)
        _ensure_dir(directory)
    with fsutil.locked(os.path.join(directory, LOCK_NAME)):
        # Under the lock every temp file of ours belongs to a writer that died.
        removed = tuple(backups.remove_stale_temps(target))
        result = _modify_locked(path, target, change, create, backup_additions, create_key)
        result.removed_temps = removed
        return result


def _contains(new: Any, old: Any) -> bool:
    """Whether `new` still holds everything `old` held (equal, or a superset of objects)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return all(k in new and _contains(new[k], v) for k, v in old.items())
    return bool(new == old) and type(new) is type(old)


def _needs_backup(cfg: DockerConfig, after: dict[str, Any], backup_additions: bool) -> bool:
    if cfg.raw is None or not cfg.raw.strip():
        return False
    if backup_additions or cfg.doc is None:
        return True
    # Skippable only when nothing is lost, byte for byte: the change just adds,
    # and the old file is exactly docker's own layout of the old document.
    in_docker_layout = cfg.tree is not None and canonical(cfg.tree).encode() == cfg.raw
    return not (in_docker_layout and _contains(after, cfg.doc))


def _write_backup(
    cfg: DockerConfig, path: str, target: str, view: dict[str, Any], create_key: bool
) -> str | None:
    """The backup of the old bytes: sealed whenever the store has a key (a login docker
    does not see is still in the bytes), never plaintext when they hold credentials."""
    raw = cfg.raw or b""
    holds = raw_holds_credentials(raw)
    sealer = store_sealer(create=create_key and holds)
    if sealer is None and holds:
        if not _needs_backup(cfg, view, False):
            return None  # the change only adds: the new file keeps every old byte's meaning
        raise DockerConfigError(
            f"credhelper: not changing {path}: it holds logins and the store key is not "
            "available to seal its backup (credhelper never writes a plaintext copy); "
            "run: credhelper doctor"
        )
    return backups.write_backup(target, raw, sealer)


def refuse(cfg: DockerConfig, path: str) -> ConfigRefused:
    return ConfigRefused(
        f"credhelper: refusing to rewrite {path}: {cfg.refusal()}; fix it by hand, "
        "then run this again; run: credhelper doctor"
    )


def _modify_locked(
    path: str,
    target: str,
    change: Callable[[dict[str, Any]], bool],
    create: bool,
    backup_additions: bool,
    create_key: bool = False,
) -> WriteResult:
    for _attempt in range(_MAX_WRITE_ATTEMPTS):
        cfg = load(path)
        if not cfg.exists and not create:
            return WriteResult(False, None, target)
        if cfg.exists and not cfg.writable:
            raise refuse(cfg, path)
        view = owned_view(cfg.tree)
        if not cfg.exists and "auths" not in view:
            view["auths"] = {}
        if not change(view):
            return WriteResult(False, None, target)
        data = splice(cfg.tree, owned_view(cfg.tree), view)
        if cfg.raw == data:
            return WriteResult(False, None, target)
        _ensure_dir(os.path.dirname(target) or ".")
        backup = None
        if _needs_backup(cfg, view, backup_additions):
            backup = _write_backup(cfg, path, target, view, create_key)
        if load(path).raw != cfg.raw:  # docker does not lock: re-read just before the rename
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
            continue
        fsutil.atomic_write(target, data, what="Docker config")
        return WriteResult(True, backup, target)
    raise DockerConfigError(
        f"credhelper: {path} kept changing while credhelper tried to update it; try again"
    )


def ensure_uses_credhelper(server_key: str, config_path: str | None = None) -> bool:
    """Make the docker CLI call docker-credential-credhelper for `server_key` (see
    edit.use_credhelper); whether the file changed."""
    from credhelper.dockerconfig.edit import use_credhelper

    def change(doc: dict[str, Any]) -> bool:
        return use_credhelper(doc, server_key)

    return modify(config_path, change, backup_additions=False).changed


def clean_stale_temps(path: str | None = None) -> list[str]:
    """Remove credhelper's interrupted-write temp files beside Docker's config (under
    its lock, so none belongs to a live writer); the removed paths."""
    target = _real_target(path or default_path())
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        return []
    with fsutil.locked(os.path.join(directory, LOCK_NAME)):
        return backups.remove_stale_temps(target)
