"""What docker makes of each `auths` entry: none, plaintext, undecodable, legacy AES.

An `EntryCheck` never prints its secret; the credentials it holds are as docker
would send them (Go's view: the last case-variant key wins).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from credhelper import gob64
from credhelper.dockerconfig.gotypes import CREDENTIAL_FIELDS
from credhelper.dockerconfig.model import DockerConfig, go_field, parse
from credhelper.dockerconfig.view import raw_credentials
from credhelper.dockernames import TOKEN_USERNAME

# docker/cli v28 configfile.decodeAuth (HEAD spells it lower-case); the docker CLI
# on these machines (28.2) prints this form.
INVALID_AUTH_MESSAGE = "Invalid auth configuration file"

AUTH_NONE = "none"  # no auth value: docker's usual {} entry (a helper holds the secret)
AUTH_EMPTY = "empty"  # "auth": "" -- docker skips it, docker-py crashes on it
AUTH_BASE64 = "base64"  # docker: illegal base64 data at input byte N
AUTH_INVALID = "invalid"  # docker: Invalid auth configuration file
AUTH_BINARY = "binary"  # docker accepts it, but it is binary, not user:password text
AUTH_PLAINTEXT = "plaintext"  # a real user:password, readable by anyone who reads the file
# Only a `registrytoken`: docker sends it as the bearer token even with a helper, and no
# helper can hold one (the protocol has username/secret only): it cannot be moved.
AUTH_REGISTRY_TOKEN = "registrytoken"  # noqa: S105 -- a state name, not a secret
# For text that does not parse: a credential key with a non-empty string value.
_RAW_CREDENTIAL = re.compile(
    rb'(?i)"(?:auth|username|password|identitytoken|registrytoken)"\s*:\s*"[^"]'
)


def decode_auth(value: str) -> tuple[str, str]:
    """docker/cli configfile.decodeAuth: (user, password) or ValueError with docker's text."""
    decoded = gob64.decode(value)  # GoBase64Error is a ValueError with Go's text
    # Go's string(decoded) keeps invalid UTF-8 as-is; only the split matters here.
    text = decoded.decode("utf-8", "surrogateescape")
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ValueError(INVALID_AUTH_MESSAGE)
    return user, password.strip("\x00")


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
    # A `registrytoken` docker sends as the bearer token (never movable to a helper).
    registry_token: str | None = field(default=None, repr=False)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decoded(server: str, auth: str, token: str | None, keys: tuple[str, ...]) -> EntryCheck:
    try:
        decoded = gob64.decode(auth)
    except gob64.GoBase64Error as err:
        return EntryCheck(server, AUTH_BASE64, auth, str(err), credential_keys=keys)
    try:
        username, secret = decode_auth(auth)
    except ValueError as err:
        return EntryCheck(server, AUTH_INVALID, auth, str(err), credential_keys=keys)
    if not _is_utf8(decoded):
        return EntryCheck(server, AUTH_BINARY, auth, credential_keys=keys)
    if token is not None:
        return EntryCheck(server, AUTH_PLAINTEXT, auth, None, TOKEN_USERNAME, token, keys)
    return EntryCheck(server, AUTH_PLAINTEXT, auth, None, username, secret, keys)


def entry_credentials(server: str, entry: dict[str, Any]) -> EntryCheck:
    """Classify one entry (a dict of the owned view)."""
    found = {name: go_field(entry, name) for name in CREDENTIAL_FIELDS}
    keys = tuple(k for k, v in found.values() if k is not None and _text(v) is not None)
    registry = _text(found["registrytoken"][1])
    check = _login(server, found, keys)
    if registry is None:
        return check
    if check.state in (AUTH_NONE, AUTH_EMPTY):
        return EntryCheck(
            server, AUTH_REGISTRY_TOKEN, credential_keys=keys, registry_token=registry
        )
    return replace(check, registry_token=registry)


def _login(
    server: str, found: dict[str, tuple[str | None, Any]], keys: tuple[str, ...]
) -> EntryCheck:
    auth_key, auth = found["auth"]
    token = _text(found["identitytoken"][1])
    user = _text(found["username"][1])
    password = found["password"][1]
    if _text(auth) is not None:
        return _decoded(server, auth, token, keys)
    if token is not None:
        return EntryCheck(server, AUTH_PLAINTEXT, None, None, TOKEN_USERNAME, token, keys)
    if user is not None and isinstance(password, str):
        return EntryCheck(server, AUTH_PLAINTEXT, None, None, user, password, keys)
    if auth_key is not None and auth == "":
        return EntryCheck(server, AUTH_EMPTY, "", credential_keys=keys)
    return EntryCheck(server, AUTH_NONE, credential_keys=keys)


def check_entries(cfg: DockerConfig) -> list[EntryCheck]:
    return [
        entry_credentials(server, entry)
        for server, entry in cfg.auths().items()
        if isinstance(entry, dict)
    ]


def holds_credentials(cfg: DockerConfig, *, readable_only: bool = False) -> bool:
    """Whether any entry holds a secret in any form (plaintext, undecodable, legacy AES),
    or with `readable_only` one that anyone can read (plaintext)."""
    if readable_only:
        return any(
            check.state in (AUTH_PLAINTEXT, AUTH_REGISTRY_TOKEN) for check in check_entries(cfg)
        )
    return any(check.state not in (AUTH_NONE, AUTH_EMPTY) for check in check_entries(cfg))


def raw_holds_credentials(raw: bytes) -> bool:
    """Whether a file's bytes hold any credential value, in docker's view or not: every
    duplicate and case-variant key counts (a backup of them is sealed)."""
    cfg = parse(raw, "")
    if cfg.tree is not None:
        return bool(raw_credentials(cfg.tree))
    if cfg.parse_error is None:
        return False  # empty, or null
    return _RAW_CREDENTIAL.search(raw) is not None or b"\\u" in raw


def convert_to_hostname(key: str) -> str:
    """docker/cli credentials.ConvertToHostname: a legacy URL key as the host docker asks for."""
    stripped = key
    for scheme in ("http://", "https://"):
        if stripped.startswith(scheme):
            stripped = stripped[len(scheme) :]
            break
    return stripped.split("/", 1)[0]


def lookup_key(cfg: DockerConfig, server: str) -> str:
    """The key docker asks a helper for when it reads entry `server` (fileStore.Get
    falls back to ConvertToHostname of each key). Docker Hub keeps its v1 URL."""
    from credhelper.dockernames import DOCKER_HUB

    if server == DOCKER_HUB:
        return server
    host = convert_to_hostname(server)
    if not host or host == server or host in cfg.auths():
        return server  # an exact key for that host wins; this one is never the lookup
    return host
