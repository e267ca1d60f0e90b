"""Server-name parsing (credhelper.netloc): loopback is decided on the host a connection reaches.

The property tests compare with urllib3.util.parse_url, which is what requests uses
to pick the host it connects to: whenever credhelper calls a name loopback, the
connection would really go to a loopback host.
"""

from __future__ import annotations

import ipaddress
import string

import pytest
import urllib3.util
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper import netloc, reference
from credhelper.errors import UsageError
from tests.conftest import Env


@pytest.mark.parametrize(
    "name",
    [
        "localhost:5000@evil.example",
        "https://localhost:5000@evil.example/",
        "http://user:pw@127.0.0.1:5000",
        "127.0.0.1:5000\\@evil.example",
        "127.0.0.1%2f@evil.example",
        "%6c%6fcalhost:5000",
        "0x7f.1:5000",
        "0x7f000001",
        "127.1",
        "2130706433:5000",
        "0177.0.0.1",
        "127.0.0.01",
        "127.0.0.1.",
        "localhost:",
        "localhost:0",
        "localhost:65536",
        "localhost:5e3",
        "localhost:\uff15\uff10\uff10\uff10",  # full-width digits
        "[::1",
        "[::1]x",
        "[fe80::1%25eth0]:5000",
        "::1:5000:x",
        "",
        ":5000",
        "local host",
        "localhost\t",
        "a..b",
        ".localhost",
        "bücher.example",
        "localhost#@evil.example",
        "localhost?@evil.example",
    ],
)
def test_malformed_names_are_refused_with_one_line(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        netloc.parse_server(name)
    message = caught.value.message
    assert "\n" not in message and "host[:port]" in message
    assert not netloc.is_loopback(name)
    assert not reference.is_loopback(name)


@pytest.mark.parametrize(
    ("name", "host", "port", "loopback"),
    [
        ("127.0.0.1:5000", "127.0.0.1", 5000, True),
        ("127.9.8.7", "127.9.8.7", None, True),
        ("LOCALHOST:5000", "LOCALHOST", 5000, True),
        ("localhost", "localhost", None, True),
        ("localhost.", "localhost.", None, False),  # a name for DNS, not the literal
        ("x.localhost", "x.localhost", None, False),
        ("[::1]:5000", "::1", 5000, True),
        ("::1", "::1", None, True),
        ("[::ffff:127.0.0.1]:5000", "::ffff:127.0.0.1", 5000, True),
        ("https://[::1]:5000/v2/", "::1", 5000, True),
        ("http://127.0.0.1:5000/some/path?q#f", "127.0.0.1", 5000, True),
        ("registry.example.com.", "registry.example.com.", None, False),
        ("reg_1.example:443", "reg_1.example", 443, False),
        ("10.0.0.1:5000", "10.0.0.1", 5000, False),
        ("localhost.example.com", "localhost.example.com", None, False),
        ("https://index.docker.io/v1/", "index.docker.io", None, False),
    ],
)
def test_parsed_names(name: str, host: str, port: int | None, loopback: bool) -> None:
    parsed = netloc.parse_server(name)
    assert (parsed.host, parsed.port, parsed.is_loopback) == (host, port, loopback)


def test_plain_http_to_a_userinfo_name_is_refused_before_any_request() -> None:
    from credhelper import registry
    from credhelper.registry import token

    with pytest.raises(UsageError, match="user info"):
        registry.verify_login("localhost:5000@evil.example", "u", "p", timeout=1)
    assert not token.endpoint_allowed("http://localhost:5000@evil.example/t", False)
    assert not token.endpoint_allowed("http://127.1/token", False)
    assert token.endpoint_allowed("http://127.0.0.1:9/token", False)
    assert token.endpoint_allowed("https://auth.example/token", False)


# ---------------------------------------------------------------- properties

_AUTHORITY_CHARS = string.ascii_letters + string.digits + ".:-_[]@/\\#?% \t\n%"
_LOOPBACKISH = st.sampled_from(
    ["localhost", "127.0.0.1", "[::1]", "LocalHost", "127.0.0.2", "0x7f.1", "127.1", "::1"]
)
_PORT = st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}"))
_NOISE = st.text(alphabet=_AUTHORITY_CHARS, max_size=20)
_SCHEME = st.sampled_from(["", "http://", "https://", "HTTP://"])


def _urllib3_host(name: str) -> str | None:
    """The host requests would connect to for http://<authority of name>/v2/."""
    _scheme, authority, _rest = netloc.split_url(name)
    if authority.count(":") >= 2 and not authority.startswith("["):
        authority = f"[{authority}]"  # a bare IPv6 address: only usable in brackets
    try:
        return urllib3.util.parse_url(f"http://{authority}/v2/").host
    except Exception:
        return None


def _is_loopback_literal(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_SCHEME, _NOISE, _LOOPBACKISH, _PORT, _NOISE)
def test_loopback_only_when_the_connected_host_is(
    scheme: str, before: str, loop: str, port: str, after: str
) -> None:
    name = f"{scheme}{before}{loop}{port}{after}"
    if not netloc.is_loopback(name):
        return
    # credhelper says loopback: the host requests would contact must be loopback too.
    host = _urllib3_host(name)
    assert host is not None and _is_loopback_literal(host), name
    _scheme, authority, _rest = netloc.split_url(name)
    for bad in "@\\#?% \t\n":
        assert bad not in authority


@settings(max_examples=400)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        parsed = netloc.parse_server(text)
    except UsageError as err:
        assert "\n" not in err.message
        assert not netloc.is_loopback(text)
        return
    _scheme, authority, _rest = netloc.split_url(text)
    for bad in "@\\%":
        assert bad not in authority
    assert not any(c.isspace() for c in authority)
    if parsed.is_loopback:
        assert _is_loopback_literal(parsed.host)


_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=8)
_NAME = (
    st.lists(_LABEL, min_size=1, max_size=4)
    .map(".".join)
    .filter(
        lambda h: not h.rsplit(".", 1)[-1].isdigit() and not h.rsplit(".", 1)[-1].startswith("0x")
    )
)
_IPV4 = st.ip_addresses(v=4).map(str)
_IPV6 = st.ip_addresses(v=6).map(str)


@given(st.one_of(_NAME, _IPV4, _IPV6), st.one_of(st.none(), st.integers(1, 65535)))
def test_round_trip(host: str, port: int | None) -> None:
    ipv6 = ":" in host
    built = netloc.Authority(host, port, ipv6)
    for text in (built.netloc, built.url_netloc, f"https://{built.url_netloc}/v2/"):
        again = netloc.parse_server(text)
        assert (again.host, again.port, again.ipv6) == (host, port, ipv6)
    assert netloc.parse_server(built.netloc).netloc == built.netloc
    # The key docker stores is the same spelling.
    assert reference.convert_to_hostname(built.netloc) == built.netloc
    connected = urllib3.util.parse_url(f"http://{built.url_netloc}/v2/")
    assert (connected.host or "").strip("[]").lower() == host.lower()
    assert connected.port == port


@pytest.mark.parametrize("image", ["0x7f.1:5000/app", "127.1:5000/app:v1", "2130706433:5000/a"])
def test_image_references_use_the_same_rules(image: str) -> None:
    with pytest.raises(UsageError, match=r"invalid reference format.*IPv4"):
        reference.parse_reference(image)


def test_server_text_drops_terminal_escapes() -> None:
    from credhelper import redact

    shown = redact.server_text("bad\x1b]0;owned\x07\x1b[2Jrealm\r\nsecond line")
    assert "\x1b" not in shown and "\x07" not in shown and "\n" not in shown
    assert shown.startswith("bad?]0;owned??[2Jrealm")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["login", "localhost:5000@evil.example", "-u", "u", "--password-stdin"], "user info"),
        (["login", "http://localhost:5000@evil.example/", "-u", "u", "--password-stdin"], "user"),
        (["login", "0x7f.1:5000", "-u", "u", "--password-stdin"], "IPv4"),
        (["login", "127.0.0.1:5000\\evil.example", "-u", "u", "--password-stdin"], "backslash"),
        (["push", "--engine", "skopeo", "--from", "oci:x", "0x7f.1:5000/app"], "IPv4"),
    ],
)
def test_cli_refuses_malformed_servers_in_one_line(ch: Env, args: list[str], needle: str) -> None:
    proc = ch.cli(*args, stdin="pw\n")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert not ch.store.exists()
