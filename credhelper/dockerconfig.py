"""Docker's own config.json: read it, check it the way docker's loader does, merge-write it.

credhelper never keeps secrets here. It writes this file only for install, migrate
and doctor --fix, always keeping every key it does not own, in docker's format
(tab indent, Go's HTML escaping, no trailing newline), after a 0600 backup.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from credhelper import fsutil, gob64, paths
from credhelper.errors import CredhelperError
from credhelper.gojson import go_kind, go_syntax_error

HELPER_NAME = "credhelper"
DOCKER_HUB = "https://index.docker.io/v1/"
# docker/cli v28 configfile.decodeAuth (HEAD spells it lower-case); the docker CLI
# on these machines (28.2) prints this form.
INVALID_AUTH_MESSAGE = "Invalid auth configuration file"
_MAX_WRITE_ATTEMPTS = 5

# docker/cli configfile.ConfigFile: JSON name -> Go type, for docker's type errors.
_STRING = "string"
_MAP_STRING = "map[string]string"
_CONFIG_FIELDS: dict[str, str] = {
    "auths": "map[string]types.AuthConfig",
    "HttpHeaders": _MAP_STRING,
    "psFormat": _STRING,
    "imagesFormat": _STRING,
    "networksFormat": _STRING,
    "pluginsFormat": _STRING,
    "volumesFormat": _STRING,
    "statsFormat": _STRING,
    "detachKeys": _STRING,
    "credsStore": _STRING,
    "credHelpers": _MAP_STRING,
    "serviceInspectFormat": _STRING,
    "servicesFormat": _STRING,
    "tasksFormat": _STRING,
    "secretFormat": _STRING,
    "configFormat": _STRING,
    "nodesFormat": _STRING,
    "pruneFilters": "[]string",
    "proxies": "map[string]configfile.ProxyConfig",
    "currentContext": _STRING,
    "cliPluginsExtraDirs": "[]string",
    "plugins": "map[string]map[string]string",
    "aliases": _MAP_STRING,
    "features": _MAP_STRING,
    "experimental": _STRING,
}
AUTH_FIELDS = (
    "username",
    "password",
    "auth",
    "email",
    "serveraddress",
    "identitytoken",
    "registrytoken",
)
_PROXY_FIELDS = ("httpProxy", "httpsProxy", "noProxy", "ftpProxy", "allProxy")


class DockerConfigError(CredhelperError):
    """Docker's config.json cannot be read, parsed or written safely."""


def go_field(obj: Mapping[str, Any], name: str) -> tuple[str | None, Any]:
    """(key as written, value) of a struct field the way Go's json finds it.

    Go matches struct fields case-insensitively (an exact match wins) and a later
    duplicate overwrites an earlier one, so `"CredsStore"` counts as credsStore.
    """
    if name in obj:
        found: str | None = name
    else:
        found = None
        folded = name.lower()
        for key in obj:
            if key.lower() == folded:
                found = key
    if found is None:
        return None, None
    return found, obj[found]


def go_str(obj: Mapping[str, Any], name: str) -> str:
    """A string struct field as docker sees it ("" when absent, null or mistyped)."""
    _key, value = go_field(obj, name)
    return value if isinstance(value, str) else ""


def decode_auth(value: str) -> tuple[str, str]:
    """docker/cli configfile.decodeAuth: (user, password) or ValueError with docker's text."""
    decoded = gob64.decode(value)  # GoBase64Error is a ValueError with Go's text
    # Go's string(decoded) keeps invalid UTF-8 as-is; only the split matters here.
    text = decoded.decode("utf-8", "surrogateescape")
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ValueError(INVALID_AUTH_MESSAGE)
    return user, password.strip("\x00")


def _type_errors(doc: Any) -> list[str]:
    """The `json: cannot unmarshal …` errors Go's decoder reports, in document order."""
    if not isinstance(doc, dict):
        if doc is None:
            return []
        return [
            f"json: cannot unmarshal {go_kind(doc)} into Go value of type configfile.ConfigFile"
        ]
    errors: list[str] = []

    def bad(value: Any, struct: str, path: str, gotype: str) -> None:
        errors.append(
            f"json: cannot unmarshal {go_kind(value)} into Go struct field "
            f"{struct}.{path} of type {gotype}"
        )

    def check_str(value: Any, struct: str, path: str) -> None:
        if value is not None and not isinstance(value, str):
            bad(value, struct, path, _STRING)

    def check_map(
        value: Any, struct: str, path: str, gotype: str, item: Callable[[Any], None]
    ) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            bad(value, struct, path, gotype)
            return
        for sub in value.values():
            item(sub)

    def check_struct(
        value: Any, struct: str, path: str, gotype: str, names: tuple[str, ...]
    ) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            bad(value, "ConfigFile", path, gotype)
            return
        for key in value:
            for name in names:
                if key == name or key.lower() == name.lower():
                    check_str(value[key], struct, f"{path}.{name}")
                    break

    for key, value in doc.items():
        name = next((n for n in _CONFIG_FIELDS if n == key), None) or next(
            (n for n in _CONFIG_FIELDS if n.lower() == key.lower()), None
        )
        if name is None:
            continue
        gotype = _CONFIG_FIELDS[name]
        if gotype == _STRING:
            check_str(value, "ConfigFile", name)
        elif gotype == _MAP_STRING:
            field_name = name

            def check_item(v: Any, n: str = field_name) -> None:
                check_str(v, "ConfigFile", n)

            check_map(value, "ConfigFile", name, gotype, check_item)
        elif gotype == "[]string":
            if value is not None and not isinstance(value, list):
                bad(value, "ConfigFile", name, gotype)
            elif isinstance(value, list):
                for item in value:
                    check_str(item, "ConfigFile", name)
        elif name == "auths":
            check_map(
                value,
                "ConfigFile",
                name,
                gotype,
                lambda v: check_struct(v, "AuthConfig", "auths", "types.AuthConfig", AUTH_FIELDS),
            )
        elif name == "proxies":
            check_map(
                value,
                "ConfigFile",
                name,
                gotype,
                lambda v: check_struct(
                    v, "ProxyConfig", "proxies", "configfile.ProxyConfig", _PROXY_FIELDS
                ),
            )
        elif name == "plugins":
            check_map(
                value,
                "ConfigFile",
                name,
                gotype,
                lambda v: check_map(
                    v,
                    "ConfigFile",
                    "plugins",
                    _MAP_STRING,
                    lambda s: check_str(s, "ConfigFile", "plugins"),
                ),
            )
    return errors


@dataclass
class DockerConfig:
    """Docker's config.json as read at one instant.

    `doc` is None when the file is missing (docker then uses defaults) or could
    not be parsed (`parse_error` says where); `raw` is the file's exact bytes.
    """

    path: str
    raw: bytes | None
    doc: dict[str, Any] | None
    parse_error: str | None = None
    trailing_data: bool = False
    type_errors: list[str] = field(default_factory=list)
    # Keys that appear twice in one object: Go merges or overwrites, Python keeps
    # only the last, so a rewrite could lose data; credhelper then never rewrites.
    duplicate_keys: list[str] = field(default_factory=list)

    def docker_syntax_error(self) -> str | None:
        """What docker itself prints for a file that is not JSON (Go's decoder wording)."""
        if self.parse_error is None or self.raw is None or self.type_errors:
            return None

        message = go_syntax_error(self.raw)
        return None if message == "invalid JSON" else message

    @property
    def exists(self) -> bool:
        return self.raw is not None

    @property
    def writable(self) -> bool:
        """Whether credhelper may rewrite it: parsed completely, as a JSON object."""
        return (
            self.parse_error is None
            and not self.trailing_data
            and not self.type_errors
            and not self.duplicate_keys
        )

    def refusal(self) -> str:
        """Why credhelper will not rewrite this file (when not `writable`)."""
        if self.parse_error:
            return self.parse_error
        if self.type_errors:
            return self.type_errors[0]
        if self.duplicate_keys:
            return f'the key "{self.duplicate_keys[0]}" appears twice in one object'
        return "there is data after the JSON object"

    def auths(self) -> dict[str, Any]:
        if self.doc is None:
            return {}
        _key, value = go_field(self.doc, "auths")
        return value if isinstance(value, dict) else {}

    def creds_store(self) -> str:
        return go_str(self.doc, "credsStore") if self.doc is not None else ""

    def cred_helpers(self) -> dict[str, str]:
        if self.doc is None:
            return {}
        _key, value = go_field(self.doc, "credHelpers")
        if not isinstance(value, dict):
            return {}
        return {k: v for k, v in value.items() if isinstance(v, str)}

    def contains_auth(self) -> bool:
        """docker/cli ConfigFile.ContainsAuth: otherwise docker picks pass/secretservice."""
        return bool(self.creds_store() or self.cred_helpers() or self.auths())


def default_path() -> str:
    return paths.docker_config_file()


def config_path_for(directory: str | None) -> str:
    return os.path.join(directory, "config.json") if directory else default_path()


def parse(raw: bytes, path: str) -> DockerConfig:
    """Parse `raw` the way docker's loader would, keeping what Python needs to rewrite it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return DockerConfig(path, raw, None, f"not UTF-8 text (byte {err.start})")
    if not text.strip(" \t\r\n"):
        # Go's decoder returns io.EOF, which docker ignores: an empty config.
        return DockerConfig(path, raw, {})
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj and key not in duplicates:
                duplicates.append(key)
            obj[key] = value
        return obj

    def no_constants(name: str) -> Any:
        # Python accepts NaN/Infinity; Go's decoder (and so docker) does not.
        raise ValueError(f"{name} is not JSON")

    decoder = json.JSONDecoder(object_pairs_hook=pairs, parse_constant=no_constants)
    start = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        doc, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as err:
        return DockerConfig(
            path, raw, None, f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        )
    except ValueError as err:
        return DockerConfig(path, raw, None, f"invalid JSON: {err}")
    except RecursionError:
        return DockerConfig(path, raw, None, "JSON nested too deeply")
    trailing = bool(text[end:].strip(" \t\r\n"))
    type_errors = _type_errors(doc)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return DockerConfig(path, raw, None, type_errors[0], trailing, type_errors)
    return DockerConfig(path, raw, doc, None, trailing, type_errors, duplicates)


def load(path: str | None = None) -> DockerConfig:
    """Read Docker's config.json (following a symlink, as docker does)."""
    path = path or default_path()
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return DockerConfig(path, None, None)
    except IsADirectoryError:
        raise DockerConfigError(
            f"credhelper: {path} is a directory, not Docker's config file"
        ) from None
    except OSError as err:
        raise DockerConfigError(f"credhelper: cannot read {path}: {err.strerror}") from None
    return parse(raw, path)


def render(doc: Mapping[str, Any]) -> bytes:
    """Serialize like Go's json.MarshalIndent(c, "", "\\t"): no trailing newline."""
    text = json.dumps(doc, indent="\t", ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape (\ud800) read from the file cannot be written
        # as UTF-8; the ASCII form keeps the very same JSON value.
        text = json.dumps(doc, indent="\t", ensure_ascii=True)
    # Go's encoder escapes these; a docker rewrite would produce the same bytes.
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text.encode("utf-8")


def backup_path(path: str, stamp: str | None = None) -> str:
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{path}.bak-{stamp}"


def write_backup(path: str, data: bytes) -> str:
    """Write `data` to a new `<path>.bak-<UTC timestamp>` (0600, never overwriting one)."""
    base = backup_path(path)
    for attempt in range(1000):
        candidate = base if attempt == 0 else f"{base}.{attempt}"
        if fsutil.create_exclusive(candidate, data, what="backup"):
            return candidate
    raise DockerConfigError(f"credhelper: cannot find a free backup name for {path}")


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


@dataclass
class WriteResult:
    changed: bool
    backup: str | None = None
    path: str = ""


LOCK_NAME = ".config.json.credhelper-lock"


def modify(
    path: str | None,
    change: Callable[[dict[str, Any]], bool],
    *,
    create: bool = True,
    backup_additions: bool = True,
) -> WriteResult:
    """Read-modify-write Docker's config.json, keeping every key `change` leaves alone.

    With `backup_additions=False` (login's bookkeeping), a change that only adds
    keys to a file already in docker's own layout writes no backup: the old bytes
    are recoverable exactly, and a backup per login would pile up dozens of copies.

    `change(doc)` edits the dict in place and says whether it changed anything.
    The previous file is backed up first. A file that does not parse completely
    is never touched. If docker rewrote the file between our read and our write,
    the whole read-modify-write starts again (bounded), so neither side's edit is lost.
    """
    path = path or default_path()
    target = _real_target(path)
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        if not create:
            return WriteResult(False, None, target)
        _ensure_dir(directory)
    # Docker does not lock its config, but credhelper processes must not lose each
    # other's edits (a CI job running `credhelper login` for several registries in
    # parallel): they serialise on a lock file beside the config. Docker's own
    # rewrites are caught by the re-read before the rename below.
    with fsutil.locked(os.path.join(directory, LOCK_NAME)):
        return _modify_locked(path, target, change, create, backup_additions)


def _contains(new: Any, old: Any) -> bool:
    """Whether `new` still holds everything `old` held (equal, or a superset of objects)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return all(k in new and _contains(new[k], v) for k, v in old.items())
    return bool(new == old) and type(new) is type(old)


def _modify_locked(
    path: str,
    target: str,
    change: Callable[[dict[str, Any]], bool],
    create: bool,
    backup_additions: bool,
) -> WriteResult:
    for _attempt in range(_MAX_WRITE_ATTEMPTS):
        cfg = load(path)
        if not cfg.exists and not create:
            return WriteResult(False, None, target)
        if cfg.exists and not cfg.writable:
            raise DockerConfigError(
                f"credhelper: refusing to rewrite {path}: {cfg.refusal()}; fix it by hand "
                "(credhelper doctor shows where) and run this again"
            )
        doc: dict[str, Any] = json.loads(json.dumps(cfg.doc)) if cfg.doc is not None else {}
        if not cfg.exists and "auths" not in doc:
            doc["auths"] = {}
        if not change(doc):
            return WriteResult(False, None, target)
        data = render(doc)
        if cfg.raw == data:
            return WriteResult(False, None, target)
        _ensure_dir(os.path.dirname(target) or ".")
        backup = None
        # Skippable only when nothing is lost, byte for byte: the change just adds,
        # and the old file is exactly what rendering the old document gives.
        additive = cfg.doc is not None and _contains(doc, cfg.doc) and render(cfg.doc) == cfg.raw
        if cfg.raw is not None and cfg.raw.strip() and (backup_additions or not additive):
            backup = write_backup(target, cfg.raw)
        # Docker does not lock its config; re-read just before the rename.
        now = load(path)
        if now.raw != cfg.raw:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
            continue
        fsutil.atomic_write(target, data, what="Docker config")
        return WriteResult(True, backup, target)
    raise DockerConfigError(
        f"credhelper: {path} kept changing while credhelper tried to update it; try again"
    )


def set_creds_store_key(doc: dict[str, Any], value: str) -> None:
    key, _old = go_field(doc, "credsStore")
    doc[key or "credsStore"] = value


def helpers_map(doc: dict[str, Any]) -> dict[str, Any]:
    """The credHelpers object of `doc`, created if missing (under docker's spelling)."""
    key, value = go_field(doc, "credHelpers")
    if not isinstance(value, dict):
        value = {}
        doc[key or "credHelpers"] = value
    return value


def ensure_uses_credhelper(server_key: str, config_path: str | None = None) -> bool:
    """Make the docker CLI call docker-credential-credhelper for `server_key`.

    credHelpers[key] exists -> set it to credhelper; credsStore is credhelper ->
    nothing; another credsStore -> add credHelpers[key]; else set credsStore.
    Returns whether the file changed.
    """

    def change(doc: dict[str, Any]) -> bool:
        return use_credhelper(doc, server_key)

    return modify(config_path, change, backup_additions=False).changed


def file_mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def which_helper(name: str, search_path: str | None = None) -> str | None:
    return shutil.which(f"docker-credential-{name}", path=search_path)


def auto_store(search_path: str | None = None) -> str:
    """docker/cli DetectDefaultStore on Linux: pass if `pass` is on PATH, else secretservice,
    and only if docker-credential-<that> is on PATH too; "" means the plaintext file store."""
    choice = "pass" if shutil.which("pass", path=search_path) else "secretservice"
    return choice if which_helper(choice, search_path) else ""


def helper_for(cfg: DockerConfig, key: str, search_path: str | None = None) -> tuple[str, str]:
    """(helper suffix or "" for docker's plaintext file store, why) for registry `key`."""
    helpers = cfg.cred_helpers()
    if key in helpers:
        return helpers[key], f'credHelpers["{key}"]'
    store = cfg.creds_store()
    if store:
        return store, "credsStore"
    if not cfg.contains_auth():
        auto = auto_store(search_path)
        if auto:
            return auto, "docker's automatic choice (no credsStore, credHelpers or auths)"
    return "", "no credsStore or credHelpers entry"


# What docker would make of each `auths` entry.
AUTH_NONE = "none"  # no auth value: docker's usual {} entry (a helper holds the secret)
AUTH_EMPTY = "empty"  # "auth": "" -- docker skips it, docker-py crashes on it
AUTH_BASE64 = "base64"  # docker: illegal base64 data at input byte N
AUTH_INVALID = "invalid"  # docker: Invalid auth configuration file
AUTH_BINARY = "binary"  # docker accepts it, but it is binary, not user:password text
AUTH_PLAINTEXT = "plaintext"  # a real user:password, readable by anyone who reads the file


@dataclass(frozen=True)
class EntryCheck:
    """One `auths` entry as docker's loader sees it; never printed with its secret."""

    server: str
    state: str
    auth: str | None = field(default=None, repr=False)
    docker_error: str | None = None
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    # Keys of the entry that hold credentials in the clear (auth/username/password/identitytoken).
    credential_keys: tuple[str, ...] = ()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _entry_credentials(server: str, entry: dict[str, Any]) -> EntryCheck:
    auth_key, auth = go_field(entry, "auth")
    user_key, user = go_field(entry, "username")
    pass_key, password = go_field(entry, "password")
    token_key, token = go_field(entry, "identitytoken")
    cred_keys = tuple(
        k
        for k, v in ((auth_key, auth), (user_key, user), (pass_key, password), (token_key, token))
        if k is not None and isinstance(v, str) and v
    )
    if isinstance(auth, str) and auth:
        try:
            decoded = gob64.decode(auth)
        except gob64.GoBase64Error as err:
            return EntryCheck(server, AUTH_BASE64, auth, str(err), credential_keys=cred_keys)
        try:
            username, secret = decode_auth(auth)
        except ValueError as err:
            return EntryCheck(server, AUTH_INVALID, auth, str(err), credential_keys=cred_keys)
        if not _is_utf8(decoded):
            return EntryCheck(server, AUTH_BINARY, auth, credential_keys=cred_keys)
        if isinstance(token, str) and token:
            return EntryCheck(server, AUTH_PLAINTEXT, auth, None, "<token>", token, cred_keys)
        return EntryCheck(server, AUTH_PLAINTEXT, auth, None, username, secret, cred_keys)
    if isinstance(token, str) and token:
        return EntryCheck(server, AUTH_PLAINTEXT, None, None, "<token>", token, cred_keys)
    if isinstance(user, str) and user and isinstance(password, str):
        return EntryCheck(server, AUTH_PLAINTEXT, None, None, user, password, cred_keys)
    if auth_key is not None and auth == "":
        return EntryCheck(server, AUTH_EMPTY, "", credential_keys=cred_keys)
    return EntryCheck(server, AUTH_NONE, credential_keys=cred_keys)


def check_entries(cfg: DockerConfig) -> list[EntryCheck]:
    return [
        _entry_credentials(server, entry)
        for server, entry in cfg.auths().items()
        if isinstance(entry, dict)
    ]


def auths_map(doc: dict[str, Any]) -> dict[str, Any]:
    key, value = go_field(doc, "auths")
    if not isinstance(value, dict):
        value = {}
        doc[key or "auths"] = value
    return value


def strip_credentials(doc: dict[str, Any], check: EntryCheck) -> bool:
    """Turn the entry of `check` into docker's usual `{}` form (other fields kept).

    Only if it still holds what `check` saw: a concurrent edit is never undone.
    """
    entry = auths_map(doc).get(check.server)
    if not isinstance(entry, dict) or _entry_credentials(check.server, entry) != check:
        return False
    changed = False
    for name in ("auth", "username", "password", "identitytoken"):
        key, _value = go_field(entry, name)
        while key is not None:
            del entry[key]
            changed = True
            key, _value = go_field(entry, name)
    return changed


def use_credhelper(doc: dict[str, Any], server_key: str) -> bool:
    """In-memory form of ensure_uses_credhelper (see there); True if `doc` changed."""
    _hkey, helpers = go_field(doc, "credHelpers")
    if isinstance(helpers, dict) and server_key in helpers:
        if helpers[server_key] == HELPER_NAME:
            return False
        helpers[server_key] = HELPER_NAME
        return True
    store = go_str(doc, "credsStore")
    if store == HELPER_NAME:
        return False
    if store:
        helpers_map(doc)[server_key] = HELPER_NAME
        return True
    set_creds_store_key(doc, HELPER_NAME)
    return True
