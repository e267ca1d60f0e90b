"""Server names parsed once: `host[:port]`, with or without a scheme and path, and loopback.

Everything that interprets a registry name (store keys, login, push, the plain-HTTP
fallback, token realms, doctor) goes through `parse_server` or `parse_url`, so the
host credhelper reasons about is the host a connection would go to.

The grammar is the one docker's ConvertToHostname and Go's net/url accept, with
every ambiguous spelling refused (UsageError, one line) instead of guessed:

- user info (`user@host`, `localhost:5000@evil.example`): refused; a registry
  name never carries one, and it is how a remote host poses as loopback;
- `\\`, `?`, `#`, `%` (percent-encoding), whitespace, control or non-ASCII
  characters in the authority: refused;
- IPv6 in brackets, `[::1]:5000`; unbracketed only as a whole address with no
  port (`::1`); zones (`%eth0`) are refused;
- ports: decimal digits, 1-65535; `host:` (empty port) is refused;
- host names: labels of letters, digits, `-` and `_`, one trailing dot allowed;
  a name whose last label is a number must be a canonical dotted-quad IPv4
  address, so `0x7f.1`, `127.1`, `2130706433` and `0177.0.0.1` (which a C
  resolver would still take for 127.0.0.1) are refused.

"Loopback" is decided on the parsed host only, never by resolving a name: an
address in 127.0.0.0/8 or ::1 (also IPv4-mapped, as Go's IsLoopback does), or the
literal name `localhost` in any case (not `localhost.`, not `x.localhost`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from credhelper.errors import UsageError

_LABEL = re.compile(r"[A-Za-z0-9_-]+\Z")
_NUMERIC = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_FORBIDDEN = {"@": "user info ('@')", "\\": "a backslash", "?": "'?'", "#": "'#'", "%": "'%'"}


class MalformedServer(UsageError):
    """A server name that is not a plain host[:port]."""


@dataclass(frozen=True)
class Authority:
    """A parsed `host[:port]`."""

    host: str  # as written (case kept); IPv6 without brackets
    port: int | None
    ipv6: bool = False

    @property
    def netloc(self) -> str:
        """host[:port] again, IPv6 in brackets when a port follows (Go's JoinHostPort)."""
        host = f"[{self.host}]" if self.ipv6 and self.port is not None else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def url_netloc(self) -> str:
        """host[:port] for a URL: IPv6 always in brackets."""
        host = f"[{self.host}]" if self.ipv6 else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host.lower() == "localhost":
            return True
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_loopback
        return address.is_loopback


def without_userinfo(text: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """`text` safe to echo: a user:password@ (a CI log keeps it) never is.

    Everything up to the last "@" goes, with or without a scheme ("https:/u:pw@h",
    a forgotten or mistyped one included); only a scheme of `schemes` is kept.
    """
    if "@" not in text:
        return text
    scheme, sep, _rest = text.partition("://")
    if not sep:
        scheme, sep, _rest = text.partition(":")
    keep = scheme + sep if sep and scheme.lower() in schemes else ""
    if "@" in keep:
        keep = ""
    return keep + "***@" + text.rpartition("@")[2]


def _refuse(text: str, why: str) -> MalformedServer:
    text = without_userinfo(text)
    return MalformedServer(
        f"credhelper: {text!r} is not a registry name ({why}); give host[:port], "
        "e.g. registry.example.com or 127.0.0.1:5000"
    )


def _check_chars(text: str, authority: str) -> None:
    for char, what in _FORBIDDEN.items():
        if char in authority:
            raise _refuse(text, f"it contains {what}")
    for char in authority:
        if char.isspace() or not char.isprintable() or not char.isascii():
            raise _refuse(text, "it contains whitespace, control or non-ASCII characters")


def _port(text: str, port: str) -> int:
    if not port.isdigit() or not port.isascii():
        raise _refuse(text, "the port is not a number")
    value = int(port)
    if not 1 <= value <= 65535:
        raise _refuse(text, "the port is not between 1 and 65535")
    return value


def _host_name(text: str, host: str) -> str:
    if not host:
        raise _refuse(text, "the host is empty")
    bare = host[:-1] if host.endswith(".") else host
    labels = bare.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise _refuse(text, "the host is not a valid name")
    if _NUMERIC.match(labels[-1]):
        # Ends in a number: an IPv4 address, which must be written canonically.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _refuse(
                text, "write an IPv4 address as four decimal numbers, e.g. 127.0.0.1"
            ) from None
    return host


def parse_authority(authority: str, text: str | None = None) -> Authority:
    """`host[:port]` → Authority; MalformedServer (naming `text`) if it is not one."""
    shown = authority if text is None else text
    _check_chars(shown, authority)
    if authority.startswith("["):
        inside, sep, rest = authority[1:].partition("]")
        if not sep:
            raise _refuse(shown, "an IPv6 address without its closing ']'")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            raise _refuse(shown, "not a valid IPv6 address in brackets") from None
        if rest and not rest.startswith(":"):
            raise _refuse(shown, "something follows the IPv6 address")
        return Authority(inside, _port(shown, rest[1:]) if rest else None, ipv6=True)
    if "]" in authority:
        raise _refuse(shown, "a stray ']'")
    if authority.count(":") >= 2:
        try:
            ipaddress.IPv6Address(authority)
        except ValueError:
            raise _refuse(shown, "IPv6 addresses with a port go in brackets: [::1]:5000") from None
        return Authority(authority, None, ipv6=True)
    host, sep, port = authority.partition(":")
    return Authority(_host_name(shown, host), _port(shown, port) if sep else None)


def split_url(text: str) -> tuple[str | None, str, str]:
    """(scheme or None, authority, the rest from the first '/') of a server name or URL."""
    scheme: str | None = None
    rest = text
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if not _SCHEME.match(scheme):
            raise _refuse(text, "the scheme is not valid")
        scheme = scheme.lower()
    cut = len(rest)
    for char in "/?#" if scheme is not None else "/":
        index = rest.find(char)
        if index != -1:
            cut = min(cut, index)
    return scheme, rest[:cut], rest[cut:]


def parse_server(text: str) -> Authority:
    """The authority of a server name as docker takes it: `[scheme://]host[:port][/path]`."""
    _scheme, authority, _rest = split_url(text)
    return parse_authority(authority, text)


def parse_url(text: str) -> tuple[str, Authority]:
    """(scheme, authority) of an absolute URL such as a token realm."""
    scheme, authority, _rest = split_url(text)
    if scheme is None:
        raise _refuse(text, "not an absolute URL")
    return scheme, parse_authority(authority, text)


def is_loopback(text: str) -> bool:
    """True only if `text` parses and its host is loopback; never raises, never resolves."""
    try:
        return parse_server(text).is_loopback
    except UsageError:
        return False
