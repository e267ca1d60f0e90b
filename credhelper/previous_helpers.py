"""What Docker's config named before credhelper took a registry over, so that
`credhelper uninstall` can put it back.

`install` records the `credsStore` it replaces (or that there was none) and the
`credHelpers` entries it adds to keep another helper's registries with that
helper; `migrate --from-helper` records the `credHelpers` values it switches to
credhelper. The record is `config.json.previous-helpers` in the store directory
(0700), 0600 from creation, written atomically under the store lock, one entry
per Docker config path. The first record wins: a second install never records
"credhelper" as what came before. Read back, every helper name must be a plain
name (helper_import.check_name's rule) and the record must parse: anything else
is reported and ignored, never acted on.
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


def load(config_path: str) -> tuple[Previous, str | None]:
    """(the record for `config_path`, None) or (an empty one, the one-line problem)."""
    key = os.path.abspath(config_path)
    try:
        return _parse(_read_all(), key), None
    except (CredhelperError, ValueError, UnicodeDecodeError, RecursionError) as err:
        return Previous(), (
            f"credhelper: ignored {record_path()} ({err}): the helpers docker used before "
            "credhelper are not known; set credsStore/credHelpers in Docker's config by hand"
        )


def _write(config_path: str, prev: Previous | None) -> None:
    key = os.path.abspath(config_path)
    directory = paths.store_dir()
    fsutil.ensure_private_dir(directory)
    with fsutil.locked(os.path.join(directory, paths.LOCK_NAME)):
        try:
            doc = _read_all()
        except (CredhelperError, ValueError, UnicodeDecodeError, RecursionError):
            doc = {}  # unusable: replaced by what is known now (load reported it)
        if prev is None:
            if key not in doc:
                return
            del doc[key]
        elif doc.get(key) == prev.to_json() and os.path.exists(record_path()):
            return  # nothing new: a rerun of install writes nothing
        else:
            doc[key] = prev.to_json()
        data = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
        fsutil.atomic_write(record_path(), data, "record")


def record(
    config_path: str,
    cfg: dockerconfig.DockerConfig,
    servers: list[str],
    *,
    creds_store: bool = False,
    added: dict[str, str] | None = None,
) -> None:
    """Record what `cfg` (read before the change) names for `servers` and, with
    `creds_store`, its credsStore; values recorded earlier are kept."""
    prev, _problem = load(config_path)
    current = cfg.cred_helpers()
    for server in servers:
        old = current.get(server)
        # An entry install added is not what docker had before: uninstall drops it.
        if old is None or old == dockerconfig.HELPER_NAME or not _valid_name(old):
            continue
        if prev.added.get(server) != old:
            prev.cred_helpers.setdefault(server, old)
    store = cfg.creds_store()
    if creds_store and prev.creds_store is None and store != dockerconfig.HELPER_NAME:
        prev.creds_store = store if _valid_name(store) else ""
    for server, helper in (added or {}).items():
        prev.added.setdefault(server, helper)
    _write(config_path, prev)


def forget(config_path: str) -> None:
    """Drop the record for `config_path` (uninstall has put it back)."""
    _write(config_path, None)
