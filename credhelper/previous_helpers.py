"""What Docker's config named before credhelper took a registry over, so that
`credhelper uninstall` can put it back.

`install` records the `credsStore` it replaces (or that there was none) and the
`credHelpers` entries it adds to keep another helper's registries with that
helper; `migrate --from-helper` records the `credHelpers` values it switches to
credhelper. The record is `config.json.previous-helpers` in the store directory
(0700), 0600 from creation, written atomically under the store lock, one entry
per Docker config (keyed by its real path, so any spelling of the directory finds
it). A value credhelper replaces is recorded when it replaces it (the latest wins;
"credhelper" itself never is), and uninstall forgets the entry once docker is off
credhelper (also when it found nothing to change), so a later install starts
afresh. Read back, every helper name must be a plain name (helper_import.check_name's
rule) and the record must parse: anything else is reported and ignored, never acted
on, and never overwritten (record says so).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from credhelper import dockerconfig, fsutil, paths
from credhelper.errors import CredhelperError

FILE_NAME = paths.STORE_NAME + ".previous-helpers"
MAX_SIZE = 1 << 20
_ABSENT = object()


@dataclass
class Previous:
    """One Docker config's record. creds_store: the name, "" for none, None unknown."""

    creds_store: str | None = None
    cred_helpers: dict[str, str] = field(default_factory=dict)  # server -> replaced helper
    added: dict[str, str] = field(default_factory=dict)  # entries install added

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"credHelpers": self.cred_helpers, "added": self.added}
        if self.creds_store is not None:
            out["credsStore"] = self.creds_store
        return out


def record_path() -> str:
    return os.path.join(paths.store_dir(), FILE_NAME)


def _valid_name(value: object) -> bool:
    from credhelper.helper_import import valid_name

    return isinstance(value, str) and valid_name(value)


def _parse(raw: Any, key: str) -> Previous:
    entry = raw.get(key) if isinstance(raw, dict) else None
    if entry is None:
        return Previous()
    if not isinstance(entry, dict):
        raise ValueError("an entry is not an object")
    store = entry.get("credsStore", _ABSENT)
    prev = Previous()
    if store is not _ABSENT:
        if store != "" and not _valid_name(store):
            raise ValueError("a credsStore value is not a plain helper name")
        prev.creds_store = str(store)
    for name in ("credHelpers", "added"):
        mapping = entry.get(name, {})
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and _valid_name(v) for k, v in mapping.items()
        ):
            raise ValueError(f"its {name} are not server: helper-name pairs")
        setattr(prev, "cred_helpers" if name == "credHelpers" else "added", dict(mapping))
    return prev


def _read_all() -> dict[str, Any]:
    path = record_path()
    raw = fsutil.read_file_nofollow(path, "record", private=True, limit=MAX_SIZE + 1)
    if raw is None:
        return {}
    if len(raw) > MAX_SIZE:
        raise ValueError("it is larger than 1 MiB")
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("it is not a JSON object")
    return doc


_UNUSABLE = (CredhelperError, ValueError, UnicodeDecodeError, RecursionError)


def _keys(config_path: str) -> tuple[str, str]:
    """(the key written: the real path, the one older versions wrote: abspath)."""
    return os.path.realpath(config_path), os.path.abspath(config_path)


def _entry(doc: dict[str, Any], config_path: str) -> Previous:
    real, spelled = _keys(config_path)
    return _parse(doc, real if real in doc else spelled)


def load(config_path: str) -> tuple[Previous, str | None]:
    """(the record for `config_path`, None) or (an empty one, the one-line problem)."""
    try:
        return _entry(_read_all(), config_path), None
    except _UNUSABLE as err:
        return Previous(), (
            f"credhelper: ignored {record_path()} ({err}): the helpers docker used before "
            "credhelper are not known; set credsStore/credHelpers in Docker's config by hand"
        )


def _left_as_is(err: object) -> str:
    return (
        f"credhelper: left {record_path()} as it is ({err}): uninstall will not know what "
        "docker used before; fix or remove that file, then run this again"
    )


def _write(config_path: str, prev: Previous | None) -> str | None:
    """Store (or with None drop) the entry; a record that does not parse or is not
    trusted is never overwritten: the one-line reason is returned instead."""
    real, spelled = _keys(config_path)
    directory = paths.store_dir()
    fsutil.ensure_private_dir(directory)
    with fsutil.locked(os.path.join(directory, paths.LOCK_NAME)):
        try:
            doc = _read_all()
        except _UNUSABLE as err:
            return _left_as_is(err)
        old = dict(doc)
        doc.pop(spelled, None)
        if prev is None:
            doc.pop(real, None)
        else:
            doc[real] = prev.to_json()
        if doc == old and (prev is None or os.path.exists(record_path())):
            return None  # nothing new: a rerun of install writes nothing
        data = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
        fsutil.atomic_write(record_path(), data, "record")
    return None


def record(
    config_path: str,
    cfg: dockerconfig.DockerConfig,
    servers: list[str],
    *,
    creds_store: bool = False,
    added: dict[str, str] | None = None,
) -> str | None:
    """Record what `cfg` (read before the change) names for `servers` and, with
    `creds_store`, its credsStore: what is replaced now wins over what an earlier
    run recorded. None, or the one line saying the record was unusable and left as
    it is."""
    try:
        prev = _entry(_read_all(), config_path)
    except _UNUSABLE as err:
        return _left_as_is(err)  # never overwritten (_write checks again, locked)
    current = cfg.cred_helpers()
    ours = dockerconfig.HELPER_NAME
    for server in servers:
        old = current.get(server)
        # An entry install added is not what docker had before: uninstall drops it.
        if old is None or old == ours or not _valid_name(old):
            continue
        if prev.added.get(server) != old:
            prev.cred_helpers[server] = old
    store = cfg.creds_store()
    if creds_store and store != ours:
        # install replaces it now: that is what uninstall puts back, whatever an
        # earlier run recorded (a helper switched by hand since is the current one).
        prev.creds_store = store if _valid_name(store) else ""
    for server, helper in (added or {}).items():
        prev.added[server] = helper
    return _write(config_path, prev)


def forget(config_path: str) -> None:
    """Drop the record for `config_path` (docker is off credhelper: nothing to put back)."""
    _write(config_path, None)
