"""Where the Vault/OpenBao server is and how to reach it, from the ecosystem's variables.

Read from the environment only, never from the store: a store record an attacker
edited must not be able to send the token to another address or read another
file as the token. The names are Vault's own and OpenBao's BAO_* spellings; for
every setting a non-empty BAO_X wins over VAULT_X, exactly as the `bao` CLI
decides, so credhelper never sends one family's token to the other's address
when both are set:

    BAO_ADDR / VAULT_ADDR            server URL (default https://127.0.0.1:8200)
    BAO_TOKEN / VAULT_TOKEN          the token itself
    CREDHELPER_VAULT_TOKEN_FILE      a token file, e.g. the sink of Vault/OpenBao Agent
    ~/.vault-token, ~/.bao-token     the CLI's token helper file (last resort)
    BAO_NAMESPACE / VAULT_NAMESPACE  namespace header (Vault Enterprise, OpenBao)
    BAO_CACERT / VAULT_CACERT        CA file for TLS
    BAO_CAPATH / VAULT_CAPATH        a directory whose every PEM file is a trusted CA
    VAULT_CLIENT_CERT / _KEY         client certificate for mutual TLS
    VAULT_TLS_SERVER_NAME            the name to verify in the server certificate
    CREDHELPER_VAULT_TIMEOUT         the deadline of one command's calls, seconds (default 5)

On the `get` hot path: standard library only, no I/O until asked.
"""

from __future__ import annotations

import os
import stat

from credhelper.errors import KeyProblem

DEFAULT_ADDR = "https://127.0.0.1:8200"
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 300.0
TOKEN_FILE_ENV = "CREDHELPER_VAULT_TOKEN_FILE"  # noqa: S105 -- a variable name
TIMEOUT_ENV = "CREDHELPER_VAULT_TIMEOUT"
_TOKEN_LIMIT = 8192
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_:%")  # names, IPv4, IPv6
LOGIN_ADVICE = (
    "set VAULT_TOKEN, point CREDHELPER_VAULT_TOKEN_FILE at the agent's token sink, "
    "or log in (bao login / vault login)"
)


def env(*names: str) -> str | None:
    """The first of `names` set to a non-empty value in the environment."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def setting(name: str) -> str | None:
    """Setting `name` (e.g. "ADDR"): BAO_<name> if set, else VAULT_<name>, as `bao` reads them."""
    return env(f"BAO_{name}", f"VAULT_{name}")


def source(name: str) -> str:
    """The variable setting `name` comes from, for messages: BAO_<name> or VAULT_<name>."""
    return f"BAO_{name}" if env(f"BAO_{name}") else f"VAULT_{name}"


class Endpoint:
    """A parsed server address: scheme, host, port."""

    __slots__ = ("host", "port", "tls", "url")

    def __init__(self, url: str, var: str = "VAULT_ADDR") -> None:
        self.url = url.rstrip("/")
        scheme, sep, rest = self.url.partition("://")
        if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
            raise KeyProblem(
                f"credhelper: {var} {_shown(url)} is not an http:// or https:// server "
                "address (e.g. https://vault.example.com:8200)"
            )
        if "@" in rest or any(c in rest for c in " \r\n\t?#"):
            raise KeyProblem(f"credhelper: {var} {_shown(url)} is not a plain host:port")
        self.tls = scheme == "https"
        host, port = rest, ""
        if rest.startswith("["):  # [::1]:8200
            end = rest.find("]")
            host, port = rest[1:end], rest[end + 1 :].removeprefix(":")
            if end < 0 or (port == "" and rest[end + 1 :]):
                raise KeyProblem(f"credhelper: {var} {_shown(url)} is not a valid address")
        elif ":" in rest:
            host, _, port = rest.rpartition(":")
        if not port:
            self.port = 443 if self.tls else 80
        elif port.isdigit() and 0 < int(port) < 65536:
            self.port = int(port)
        else:
            raise KeyProblem(f"credhelper: {var} {_shown(url)} has an invalid port")
        if not host:
            raise KeyProblem(f"credhelper: {var} {_shown(url)} has no host")
        if not host.isascii():
            raise KeyProblem(
                f"credhelper: {var} {_shown(url)} has a non-ASCII host; give its "
                "punycode (xn--) form"
            )
        if not set(host.lower()) <= _HOST_CHARS:  # it goes into the Host header
            raise KeyProblem(f"credhelper: {var} {_shown(url)} has an invalid host")
        self.host = host


def _shown(text: str) -> str:
    """The address for a message, never with any part of a user:password@.

    Everything up to the last "@" goes, whatever comes before it: with or without
    a scheme ("admin:pw@host:8200"), a mistyped one ("https:/admin:pw@host"), a
    password holding "@" or "://". Only an http/https scheme is kept.
    """
    text = text[:1024]
    scheme, sep, rest = text.partition("://")
    if not (sep and scheme.lower() in ("http", "https")):
        scheme, sep, rest = "", "", text
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return repr(scheme + sep + rest)[:200]


def shown_addr() -> str:
    """The server address as messages show it (never a user:password@ part)."""
    return _shown(setting("ADDR") or DEFAULT_ADDR)[1:-1]


def endpoint() -> Endpoint:
    return Endpoint(setting("ADDR") or DEFAULT_ADDR, source("ADDR"))


def timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= MAX_TIMEOUT:  # also refuses nan and inf
        raise KeyProblem(
            f"credhelper: {TIMEOUT_ENV}={_shown(raw)} is not a number of seconds between "
            f"0.1 and {MAX_TIMEOUT:g}"
        )
    return value


def namespace() -> str | None:
    value = setting("NAMESPACE")
    if value is not None and not _header_safe(value):
        raise KeyProblem(
            f"credhelper: {source('NAMESPACE')} contains characters a header cannot carry"
        )
    return value


def _header_safe(value: str) -> bool:
    return all(" " <= c <= "~" for c in value)


def token_source() -> str:
    """Where the token comes from, for messages (never the token itself)."""
    if setting("TOKEN"):
        return source("TOKEN")
    path = env(TOKEN_FILE_ENV)
    if path:
        return f"the token file {path} ({TOKEN_FILE_ENV})"
    return "~/.vault-token"


def token() -> str:
    """The token, or a KeyProblem saying where it was looked for."""
    value = setting("TOKEN")
    where = token_source()
    if value is None:
        path = env(TOKEN_FILE_ENV)
        if path:
            value = _read_token_file(path, required=True)
        else:
            home = os.path.expanduser("~")
            value = _read_token_file(os.path.join(home, ".vault-token"), required=False)
            if value is None:
                value = _read_token_file(os.path.join(home, ".bao-token"), required=False)
    if not value:
        raise KeyProblem(f"credhelper: no Vault/OpenBao token; {LOGIN_ADVICE}")
    if not _header_safe(value):
        # Never echo it: it is (or is near) a secret.
        raise KeyProblem(
            f"credhelper: the Vault token from {where} contains characters a token "
            f"cannot have; {LOGIN_ADVICE}"
        )
    return value


def _read_token_file(path: str, *, required: bool) -> str | None:
    try:
        # O_NONBLOCK: a FIFO here must not hang `get`.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if not required:
            return None
        raise KeyProblem(
            f"credhelper: the Vault token file {path} does not exist (is the agent running?); "
            f"{LOGIN_ADVICE}"
        ) from None
    except OSError as err:
        raise KeyProblem(
            f"credhelper: cannot read the Vault token file {path}: {err.strerror}"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeyProblem(f"credhelper: the Vault token file {path} is not a regular file")
        data = os.read(fd, _TOKEN_LIMIT + 1)
    except OSError as err:
        raise KeyProblem(
            f"credhelper: cannot read the Vault token file {path}: {err.strerror}"
        ) from None
    finally:
        os.close(fd)
    if len(data) > _TOKEN_LIMIT:
        raise KeyProblem(f"credhelper: the Vault token file {path} is too large to be a token")
    return data.decode("utf-8", "replace").strip()


def tls_options() -> dict[str, str | None]:
    return {
        "cafile": setting("CACERT"),
        "capath": setting("CAPATH"),
        "certfile": setting("CLIENT_CERT"),
        "keyfile": setting("CLIENT_KEY"),
        "server_name": setting("TLS_SERVER_NAME"),
    }
