"""A registry that echoes the secret back: no form of it reaches a message credhelper prints.

The property tests build real requests.Response objects (what the handshake
receives) with the secret placed anywhere in the body, in any encoding, across the
200-character cut, with double spaces, tabs, newlines and non-ASCII characters in
it; the encodings are computed here independently of credhelper.redact. They then
read the message the way a person could: as is, HTML-unescaped, percent-decoded,
with whitespace removed, and every base64- or hex-looking run decoded (as UTF-8,
Latin-1 and UTF-16); no run of `redact.run_length(secret)` characters of the
secret, in any letter case, may appear in any of these. Raw UTF-16 bodies (shown
as T?r?0?u?... once NULs become `?`) are read with the `?` removed.
The last tests run `credhelper login` against real HTTP servers on 127.0.0.1 that
echo the Authorization header and the password (plain, HTML-escaped, Go- and
JS-style URL-escaped, mixed-case percent-encoded, MIME-wrapped base64, truncated,
upper-cased, UTF-16 raw and as hex or base64).
"""

from __future__ import annotations

import base64
import binascii
import html
import http.server
import json
import re
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper import redact, registry
from tests.conftest import CLI, Env


def encodings(secret: str, username: str) -> list[str]:
    """How a server may echo `secret`, computed without credhelper's code."""
    out = []
    for plain in {secret, " ".join(secret.split())}:
        raw = plain.encode()
        for data in (raw, f"{username}:{plain}".encode()):
            for b64 in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
                out += [b64.decode(), b64.decode().rstrip("=")]
        quoted = urllib.parse.quote(plain, safe="")
        lower_hex = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)
        out += [plain, quoted, lower_hex, urllib.parse.quote_plus(plain)]
        out += [json.dumps(plain)[1:-1], json.dumps(plain, ensure_ascii=False)[1:-1]]
    return [form for form in out if len(form) >= redact.MIN_SECRET]


def response(status: int, body: str, content_type: str = "text/plain") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode("utf-8")
    resp.headers["Content-Type"] = content_type
    resp.encoding = "utf-8"
    return resp


def assert_masked(message: str, secret: str, username: str) -> None:
    collapsed = " ".join(message.split())
    for form in encodings(secret, username):
        assert form not in message, (form, message)
        assert form not in collapsed, (form, message)


_SECRET_CHARS = st.characters(codec="utf-8")
_SECRETS = st.one_of(
    st.text(_SECRET_CHARS, min_size=3, max_size=40),
    st.lists(st.sampled_from(["pa", "ss", "  ", "\t", "\n", "wörd", "€", "x y"]), min_size=2)
    .map("".join)
    .filter(lambda s: len(s) >= 3),
)
_NOISE = st.text(st.characters(codec="utf-8"), max_size=260)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=_SECRETS,
    username=st.text(st.sampled_from("abcxyz_.-"), min_size=1, max_size=8),
    before=_NOISE,
    after=_NOISE,
    choice=st.integers(0, 10_000),
    shape=st.sampled_from(["text", "errors", "oauth", "raw-json"]),
)
def test_no_form_of_the_secret_survives(
    secret: str, username: str, before: str, after: str, choice: int, shape: str
) -> None:
    forms = encodings(secret, username)
    echoed = forms[choice % len(forms)] if forms else secret
    body_text = f"{before}{echoed}{after}"
    if shape == "text":
        resp = response(401, body_text)
    elif shape == "errors":
        doc = {"errors": [{"code": "UNAUTHORIZED", "message": body_text}]}
        resp = response(401, json.dumps(doc), "application/json")
    elif shape == "oauth":
        resp = response(401, json.dumps({"error_description": body_text}), "application/json")
    else:  # JSON the handshake does not understand: shown as raw text
        resp = response(401, json.dumps([body_text]), "application/json")
    message = registry.error_text(resp, secret, username)
    if len(secret) >= redact.MIN_SECRET and len(" ".join(secret.split())) >= redact.MIN_SECRET:
        assert_masked(message, secret, username)
    assert len(message) <= redact.MAX_TEXT + len(" (HTTP 401)")


@pytest.mark.parametrize(
    "secret",
    ["pass  word", "tab\there", "new\nline", "pässwörd", "pa€ss", "x" * 30],
)
def test_secret_across_the_cut_and_with_whitespace(secret: str) -> None:
    for offset in range(185, 205):
        body = "e" * offset + secret + " tail"
        message = registry.error_text(response(401, body), secret, "alice")
        assert_masked(message, secret, "alice")


# ---------------------------------------------------------------- a real echoing server


class _Echo(http.server.BaseHTTPRequestHandler):
    password = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        if not header:
            body = b"{}"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="echo"')
        else:
            # Echo everything: the header, and the password padded across the cut.
            text = "x" * 190 + self.password + "  " + header + " " + json.dumps(self.password)
            body = json.dumps({"errors": [{"message": text}]}).encode()
            self.send_response(401)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("password", ["tab\tand  double", "pässwörd €", "plain-secret-123"])
def test_login_against_an_echoing_registry(ch: Env, echo_server: str, password: str) -> None:
    _Echo.password = password
    proc = ch.cli("login", echo_server, "-u", "alice", "--password-stdin", stdin=password)
    assert proc.returncode == 5, proc.stderr
    out = proc.stdout + proc.stderr
    assert "rejected" in out
    assert_masked(out, password, "alice")
    assert not ch.store.exists()


# ---------------------------------------------------------------- every view of the message

USER = "alice"
_B64 = re.compile(r"[A-Za-z0-9+/_-]+")


def _decoded(data: bytes) -> list[str]:
    """Bytes as a reader may take them: UTF-8, Latin-1, UTF-16 LE/BE from either byte."""
    out = [data.decode("utf-8", "replace"), data.decode("latin-1")]
    for start in (0, 1):
        part = data[start:]
        part = part[: len(part) // 2 * 2]
        out += [part.decode("utf-16-le", "replace"), part.decode("utf-16-be", "replace")]
    return out


def readings(message: str) -> list[str]:
    """What a reader (or a script) can make of `message`, computed without credhelper."""
    decoded = [
        message,
        html.unescape(message),
        urllib.parse.unquote(message),
        urllib.parse.unquote_plus(message),
        urllib.parse.unquote(html.unescape(message)),
    ]
    out = decoded + ["".join(text.split()) for text in decoded]
    for text in list(out):
        for run in _B64.findall("".join(text.split())):
            run = run.replace("-", "+").replace("_", "/")
            for shift in range(4):
                part = run[shift:]
                part = part[:-1] if len(part) % 4 == 1 else part + "=" * (-len(part) % 4)
                try:
                    out += _decoded(base64.b64decode(part))
                except (binascii.Error, ValueError):
                    continue  # not base64 at this alignment
        for run in re.findall(r"[0-9a-fA-F]+", "".join(text.split())):
            for shift in range(2):
                part = run[shift:][: (len(run) - shift) // 2 * 2]
                out += _decoded(bytes.fromhex(part))
    return out


# Each character's one-character folding, learned once per character (str.translate
# then folds a whole reading in C): what `c.casefold() if len(c.casefold()) == 1 else c`
# gives for every character of the text.
_FOLDS: dict[int, str] = {}
_FOLDS_KNOWN: set[str] = set()


def caseless(text: str) -> str:
    """Letter case dropped character by character (ß, whose folding is two letters, stays)."""
    new = set(text) - _FOLDS_KNOWN
    for c in new:
        folded = c.casefold()
        if len(folded) == 1 and folded != c:
            _FOLDS[ord(c)] = folded
    _FOLDS_KNOWN.update(new)
    return text.translate(_FOLDS)


def assert_no_run(message: str, secret: str) -> None:
    """No `run_length(secret)` characters of the secret in a row, any case, in any reading.

    Except a documented one: a lone word of redact.BOILERPLATE ("password").
    """
    size = redact.run_length(secret)
    words = "|".join(sorted(redact.BOILERPLATE))
    message = re.sub(rf"(?<![^\W_])(?i:{words})(?![^\W_])", "\x00", message)
    spelled = {secret, " ".join(secret.split()), "".join(secret.split())}
    spelled |= {each for s in list(spelled) for each in (s.upper(), s.lower())}
    pieces = {caseless(s)[i : i + size] for s in spelled for i in range(len(s) - size + 1)}
    # Each distinct reading once (many readings coincide); every window of it is looked
    # up in one set operation, and only a reading with a hit is walked to name the first.
    for reading in dict.fromkeys(map(caseless, dict.fromkeys(readings(message)))):
        windows = {reading[i : i + size] for i in range(len(reading) - size + 1)}
        if windows.isdisjoint(pieces):
            continue
        for i in range(len(reading) - size + 1):
            assert reading[i : i + size] not in pieces, (reading[i : i + size], message)


def _mixed_hex(quoted: str, flip: int) -> str:
    return re.sub(
        r"%[0-9A-Fa-f]{2}",
        lambda m: m.group(0).upper() if (m.start() + flip) % 2 else m.group(0).lower(),
        quoted,
    )


def _hex(data: bytes, flip: int) -> str:
    return data.hex() if flip % 2 else data.hex().upper()


def _utf16(text: str, order: str, flip: int) -> bytes:
    """UTF-16 bytes of `text` (with a BOM when `flip` says so: a .NET or Java echo)."""
    data = text.encode(f"utf-16-{order}", "surrogatepass")
    return ("\ufeff".encode(f"utf-16-{order}") if flip % 3 == 0 else b"") + data


# How servers echo a value (each computed with the stdlib, not with credhelper.redact).
ECHOES: dict[str, Callable[[str, int], str]] = {
    "plain": lambda v, _: v,
    "html": lambda v, _: html.escape(v),
    "html-charrefs": lambda v, _: "".join(f"&#{ord(c)};" if i % 2 else c for i, c in enumerate(v)),
    "html-hexrefs": lambda v, _: "".join(f"&#x{ord(c):X};" for c in v),
    "quote": lambda v, _: urllib.parse.quote(v, safe=""),
    "go-path-escape": lambda v, _: urllib.parse.quote(v, safe="$&+:=@"),
    "js-encodeuricomponent": lambda v, _: urllib.parse.quote(v, safe="!'()*~"),
    "quote-plus": lambda v, _: urllib.parse.quote_plus(v),
    "mixed-hex": lambda v, flip: _mixed_hex(urllib.parse.quote(v, safe=""), flip),
    "html-of-quote": lambda v, _: html.escape(urllib.parse.quote(v, safe="&")),
    "b64": lambda v, _: base64.b64encode(v.encode()).decode(),
    "b64-basic": lambda v, _: "Basic " + base64.b64encode(f"{USER}:{v}".encode()).decode(),
    "b64-url-nopad": lambda v, _: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "b64-mime": lambda v, _: base64.encodebytes(f"{USER}:{v}".encode()).decode(),
    "b64-crlf": lambda v, flip: "\r\n".join(
        re.findall(f".{{1,{4 + flip % 60}}}", base64.b64encode(f"{USER}:{v}".encode()).decode())
    ),
    "json-ascii": lambda v, _: json.dumps(v)[1:-1],
    "hex": lambda v, flip: v.encode().hex() if flip % 2 else v.encode().hex().upper(),
    "upper": lambda v, _: v.upper(),
    "lower": lambda v, _: v.lower(),
    "swapcase": lambda v, _: v.swapcase(),
    "b64-of-upper": lambda v, _: base64.b64encode(v.upper().encode()).decode(),
    "hex-of-upper": lambda v, flip: _hex(v.upper().encode(), flip),
    "utf16le-hex": lambda v, flip: _hex(_utf16(v, "le", flip), flip),
    "utf16be-hex": lambda v, flip: _hex(_utf16(v, "be", flip), flip),
    "utf16le-b64": lambda v, flip: base64.b64encode(_utf16(v, "le", flip)).decode(),
    "utf16be-b64": lambda v, flip: base64.b64encode(_utf16(v, "be", flip)).decode(),
    "utf16-basic": lambda v, flip: base64.b64encode(_utf16(f"{USER}:{v}", "le", flip)).decode(),
    "latin1-hex": lambda v, flip: _hex(v.encode("latin-1", "replace"), flip),
}

_MARKUP = st.sampled_from(
    ["", "<p>", "</p>", "<b>", "&amp;", "%", "+", "'", '"', "\n", "  ", "\t", "...", "="]
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    secret=st.one_of(
        st.text(st.characters(codec="utf-8"), min_size=3, max_size=48),
        st.text(st.sampled_from("abcXYZ019&<>\"'%+/=:@$!()* _-"), min_size=3, max_size=48),
    ),
    echo=st.sampled_from(sorted(ECHOES)),
    flip=st.integers(0, 1000),
    cut=st.sampled_from(["whole", "prefix", "suffix", "middle"]),
    piece=st.integers(0, 1000),
    before=st.lists(st.one_of(_MARKUP, st.text(max_size=30)), max_size=12).map("".join),
    after=st.lists(st.one_of(_MARKUP, st.text(max_size=30)), max_size=12).map("".join),
    pad=st.integers(0, 230),
    spaces=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from([" ", "\n", "\t"])), max_size=3
    ),
    shape=st.sampled_from(["text", "errors", "oauth"]),
)
def test_no_run_of_the_secret_survives_in_any_reading(
    secret: str,
    echo: str,
    flip: int,
    cut: str,
    piece: int,
    before: str,
    after: str,
    pad: int,
    spaces: list[tuple[int, str]],
    shape: str,
) -> None:
    size = redact.run_length(secret)
    # The part of the secret the server echoes: all of it, or a truncation of it.
    keep = size + piece % max(1, len(secret) - size + 1)
    value = {
        "whole": secret,
        "prefix": secret[:keep],
        "suffix": secret[-keep:],
        "middle": secret[piece % 3 : piece % 3 + keep],
    }[cut]
    echoed = ECHOES[echo](value, flip)
    for where, space in spaces:  # whitespace inside the echo (a wrapped or reflowed line)
        at = where % (len(echoed) + 1)
        echoed = echoed[:at] + space + echoed[at:]
    body = "e" * pad + before + echoed + after  # `pad` moves it across the 200-character cut
    if shape == "text":
        resp = response(401, body, "text/html")
    elif shape == "errors":
        resp = response(401, json.dumps({"errors": [{"code": "DENIED", "message": body}]}))
    else:
        resp = response(401, json.dumps({"error_description": body}))
    message = registry.error_text(resp, secret, USER)
    assert message.endswith(" (HTTP 401)") or message == "HTTP 401"
    assert "\n" not in message and len(message) <= redact.MAX_TEXT + len(" (HTTP 401)")
    assert_no_run(message.removesuffix("(HTTP 401)"), secret)


_PLAIN_CHARS = st.characters(codec="utf-8", exclude_characters="?*", exclude_categories=["Cc"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    secret=st.text(_PLAIN_CHARS, min_size=3, max_size=40),
    order=st.sampled_from(["utf-16-le", "utf-16-be"]),
    case=st.sampled_from(["as-is", "upper", "lower"]),
    before=st.text(_PLAIN_CHARS, max_size=60),
    after=st.text(_PLAIN_CHARS, max_size=60),
    pad=st.integers(0, 120),
    reading=st.sampled_from(["latin-1", "utf-8"]),
    shape=st.sampled_from(["text", "errors"]),
)
def test_a_raw_utf16_echo_is_masked_in_any_case(
    secret: str,
    order: str,
    case: str,
    before: str,
    after: str,
    pad: int,
    reading: str,
    shape: str,
) -> None:
    """A body in UTF-16 read as Latin-1 (text/* without a charset) or UTF-8 (JSON).

    It prints as T?r?0?u?... (each NUL made `?`): read with the `?` removed, no run
    of the secret in any letter case may be left, nor in the body's own UTF-16 reading.
    """
    value = {"as-is": secret, "upper": secret.upper(), "lower": secret.lower()}[case]
    body = ("e" * pad + before + value + after).encode(order, "surrogatepass")
    text = body.decode(reading, "replace")
    if shape == "text":
        resp = response(401, text)
    else:
        resp = response(401, json.dumps({"errors": [{"code": "DENIED", "message": text}]}))
    message = registry.error_text(resp, secret, USER).removesuffix("(HTTP 401)")
    assert_no_run(message.replace("?", ""), secret)
    again = message.replace("?", "\x00").encode("latin-1", "replace")
    for start in (0, 1):
        assert_no_run(again[start:].decode(order, "replace"), secret)


@pytest.mark.parametrize(("length", "size"), [(3, 3), (6, 3), (8, 4), (12, 6), (16, 8), (80, 8)])
def test_run_length_is_half_the_secret_at_most_eight(length: int, size: int) -> None:
    assert redact.run_length("x" * length) == size


def test_unrelated_text_is_left_readable() -> None:
    text = "unauthorized: authentication required; invalid username or password"
    shown = registry.error_text(response(401, text), "hunter2-long-pw", USER)
    assert shown == f"{text} (HTTP 401)"


def test_a_lone_boilerplate_word_of_the_password_stays_readable() -> None:
    """'wrong-password' shares 'password' with the message; the echo itself is masked."""
    secret = "wrong-password"
    body = "invalid username or password; you sent wrong-password, wrong-pa…, Password1"
    shown = registry.error_text(response(401, body), secret, USER)
    # "Password" of "Password1" is a run (any letter case) but not a lone word: masked.
    assert shown == "invalid username or password; you sent ***, ***…, ***1 (HTTP 401)"
    assert_no_run(shown, secret)


@pytest.mark.parametrize("secret", ["PASSPHRASE", "password", "Token", "user name"])
def test_a_boilerplate_word_that_is_the_whole_password_is_masked(secret: str) -> None:
    """Found by hypothesis: the password `PASSPHRASE` echoed back alone was printed."""
    for body in (secret, f"bad credentials: {secret}", json.dumps({"message": secret})):
        shown = registry.error_text(response(401, body), secret, USER)
        assert_masked(shown, secret, USER)
        assert "***" in shown, shown
    # A word of the message that is only part of the password stays readable.
    shown = registry.error_text(response(401, "wrong password"), f"{secret}-and-more", USER)
    assert shown == "wrong password (HTTP 401)"


def test_short_secrets_are_not_masked() -> None:
    assert redact.server_text("no such user ab", "ab") == "no such user ab"


def test_body_is_withheld_when_masking_cannot_hide_the_secret() -> None:
    """A secret made of the mask itself: every masked spelling still shows three of it."""
    secret = "******"
    shown = registry.error_text(response(401, f"bad password {secret}"), secret, USER)
    assert shown == f"{redact.WITHHELD} (HTTP 401)"
    assert_no_run(shown.removesuffix("(HTTP 401)"), secret)


def test_truncated_body_scan_still_masks_the_cut_secret() -> None:
    """A body longer than the part examined, with the secret across that boundary."""
    secret = "Zq8-tok-" * 4
    body = "x" * (redact.MAX_SCAN - 10) + secret
    shown = redact.server_text(body, secret, USER, limit=10**6)
    assert_no_run(shown, secret)


# ---------------------------------------------------------------- real echoing servers


class _EchoRegistry(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, body: Callable[[str], tuple[str, str | bytes]]) -> None:
        self.body = body
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    """A Basic challenge, then a refusal whose body echoes the password as `body` says."""

    server: _EchoRegistry

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        if not auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="registry"')
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.seen.append(auth)
        password = base64.b64decode(auth.split()[1]).decode("utf-8").split(":", 1)[1]
        ctype, text = self.server.body(password)
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        self.send_response(401)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _serve(body: Callable[[str], tuple[str, str | bytes]]) -> Iterator[_EchoRegistry]:
    server = _EchoRegistry(body)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _login(
    ch: Env, server: _EchoRegistry, password: str, stderr: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    host = f"127.0.0.1:{server.server_address[1]}"
    env = dict(ch.env, CREDHELPER_CERTS_D=str(ch.root / "certs.d"))
    proc = subprocess.run(
        [CLI, "login", host, "-u", USER, "--password-stdin"],
        input=password,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    # The handshake really reached the credential check and was refused.
    assert server.seen, proc.stderr
    assert proc.returncode != 0, proc.stderr
    return proc


def test_control_plain_echo_is_masked(ch: Env) -> None:
    secret = 's3cr&t<pw>"2024'
    for server in _serve(lambda pw: ("text/plain", f"invalid password {pw}")):
        proc = _login(ch, server, secret)
    assert secret not in proc.stdout + proc.stderr
    assert "***" in proc.stderr


def test_html_escaped_echo_of_password_is_printed(ch: Env) -> None:
    """An HTML error page (a reverse proxy, a WAF, a web UI in front of the registry)
    echoes the password HTML-escaped: it is masked through the HTML-unescaped view."""
    secret = 's3cr&t<pw>"2024'
    escaped = html.escape(secret)  # s3cr&amp;t&lt;pw&gt;&quot;2024
    for server in _serve(
        lambda pw: (
            "text/html",
            f"<html><body><p>Login failed for password {html.escape(pw)}</p></body></html>",
        )
    ):
        proc = _login(ch, server, secret)
    shown = proc.stdout + proc.stderr
    assert escaped not in shown, f"password printed HTML-escaped: {proc.stderr!r}"
    assert html.unescape(shown).count(secret) == 0, proc.stderr
    assert_no_run(proc.stderr, secret)


def test_go_path_escaped_echo_of_password_is_printed(ch: Env) -> None:
    """Go's url.PathEscape leaves `$&+:=@` unescaped, JavaScript's encodeURIComponent
    `!'()*`: masked through the percent-decoded view, whatever the escaping style."""
    secret = "p@ss w:rd=2024!"
    go_path = urllib.parse.quote(secret, safe="$&+:=@")  # p@ss%20w:rd=2024%21
    for server in _serve(
        lambda pw: (
            "text/plain",
            f"denied: bad credentials in /v2/login/{urllib.parse.quote(pw, safe='$&+:=@')}",
        )
    ):
        proc = _login(ch, server, secret)
    shown = proc.stdout + proc.stderr
    assert go_path not in shown, f"password printed URL-escaped: {proc.stderr!r}"
    assert secret not in urllib.parse.unquote(shown), proc.stderr
    assert_no_run(proc.stderr, secret)


def test_js_escaped_echo_of_password_is_masked(ch: Env) -> None:
    secret = "it's (a)*secret!2024"  # encodeURIComponent: it's%20(a)*secret!2024
    for server in _serve(
        lambda pw: ("text/plain", "bad password=" + urllib.parse.quote(pw, safe="!'()*"))
    ):
        proc = _login(ch, server, secret)
    assert_no_run(proc.stdout + proc.stderr, secret)


def test_mixed_case_percent_encoding_of_password_is_printed(ch: Env) -> None:
    """Percent-encoding hex digits are case-insensitive (RFC 3986 2.1): `%C3%a4` is
    decoded like `%C3%A4` before matching."""
    secret = "pässwörd-2024"
    quoted = urllib.parse.quote(secret, safe="")  # p%C3%A4ssw%C3%B6rd-2024

    def mixed(text: str) -> str:
        # escapes alternately in upper- and lower-case hex: %C3%a4 ... %C3%b6
        out, i, n = [], 0, 0
        while i < len(text):
            if text[i] == "%":
                pair = text[i + 1 : i + 3]
                out.append("%" + (pair.upper() if n % 2 == 0 else pair.lower()))
                n += 1
                i += 3
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    spelled = mixed(quoted)  # p%C3%a4ssw%C3%b6rd-2024
    assert spelled not in (quoted, quoted.lower())
    for server in _serve(
        lambda pw: ("text/plain", f"invalid password {mixed(urllib.parse.quote(pw, safe=''))}")
    ):
        proc = _login(ch, server, secret)
    shown = proc.stdout + proc.stderr
    assert secret not in urllib.parse.unquote(shown), (
        f"password printed percent-encoded: {proc.stderr!r}"
    )
    assert_no_run(proc.stderr, secret)


def test_line_wrapped_base64_of_authorization_is_printed(ch: Env) -> None:
    """A server echoing the Authorization header as MIME base64 (76-column lines, as
    base64.encodebytes / Go's mime encoders write it): the run is read with its line
    breaks removed, decoded, and masked whole."""
    secret = "tok_" + "Q7f9Xk2LmP4vR8sT1wY6zB3nH5jD0cA" * 2  # a 66-character token
    for server in _serve(
        lambda pw: (
            "text/plain",
            "unauthorized; you sent:\n"
            + base64.encodebytes(f"{USER}:{pw}".encode()).decode("ascii"),
        )
    ):
        proc = _login(ch, server, secret)
    shown = proc.stdout + proc.stderr
    first_line = base64.encodebytes(f"{USER}:{secret}".encode()).decode("ascii").splitlines()[0]
    leaked = base64.b64decode(first_line).decode()
    assert first_line not in shown, (
        f"printed base64 that decodes to {leaked!r} (most of the password): {proc.stderr!r}"
    )
    assert_no_run(proc.stderr, secret)


def test_truncated_echo_of_password_is_printed(ch: Env) -> None:
    """A server that echoes only the start of the value it refused (`'...'` cut at 24
    characters): any run of run_length(secret) characters of the secret is masked."""
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"[:36]
    for server in _serve(
        lambda pw: ("text/plain", f"invalid token '{pw[:24]}...' for user {USER}")
    ):
        proc = _login(ch, server, secret)
    shown = proc.stdout + proc.stderr
    assert secret[:24] not in shown, f"24 of 40 password characters printed: {proc.stderr!r}"
    assert_no_run(proc.stderr, secret)
    assert f"for user {USER}" in proc.stderr  # the rest of the server's text is still shown


def test_rejected_login_keeps_exit_5_with_a_failing_stderr(ch: Env) -> None:
    secret = "plain-secret-123"
    with open("/dev/full", "w") as full:
        for server in _serve(lambda pw: ("text/plain", f"invalid password {pw}")):
            proc = _login(ch, server, secret, stderr=full.fileno())
    assert proc.returncode == 5
    assert secret not in proc.stdout


def _errors(text: str) -> str:
    return json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": f"bad login {text}"}]})


def _readable(out: str, secret: str) -> bool:
    """The password readable by a person: any case, any filler between its letters."""
    squeezed = "".join(ch for ch in out if ch.isalnum() or ch in "&").lower()
    return secret[:8].lower() in squeezed or secret[-8:].lower() in squeezed


_U16 = "utf-16-le"
# Echoes a hostile registry sent back that credhelper once printed readable.
_CLI_ECHOES: dict[str, Callable[[str], tuple[str, str | bytes]]] = {
    "utf16-hex": lambda pw: ("application/json", _errors(pw.encode(_U16).hex())),
    "utf16-hex-upper": lambda pw: ("application/json", _errors(pw.encode(_U16).hex().upper())),
    "utf16be-base64": lambda pw: (
        "application/json",
        _errors(base64.b64encode(pw.encode("utf-16-be")).decode()),
    ),
    "utf16-base64": lambda pw: (
        "application/json",
        _errors(base64.b64encode(pw.encode(_U16)).decode()),
    ),
    "upper": lambda pw: ("application/json", _errors(pw.upper())),
    "hex-of-upper": lambda pw: ("text/plain", "bad login " + pw.upper().encode().hex()),
    "raw-utf16le": lambda pw: ("text/plain", ("denied for " + pw).encode("utf-16-le")),
    "raw-utf16be": lambda pw: ("text/plain", ("denied for " + pw).encode("utf-16-be")),
    "raw-utf16-json": lambda pw: ("application/json", ("denied for " + pw).encode("utf-16")),
    # The forms the README lists, which were masked already.
    "plain": lambda pw: ("application/json", _errors(pw)),
    "basic": lambda pw: (
        "application/json",
        _errors(base64.b64encode(f"{USER}:{pw}".encode()).decode()),
    ),
    "hex": lambda pw: ("application/json", _errors(pw.encode().hex())),
    "percent": lambda pw: ("application/json", _errors("".join(f"%{b:02x}" for b in pw.encode()))),
    "json-escapes": lambda pw: (
        "application/json",
        _errors("".join(f"\\u{ord(c):04x}" for c in pw)),
    ),
}


@pytest.mark.parametrize("name", sorted(_CLI_ECHOES))
def test_login_masks_utf16_and_upper_case_echoes(ch: Env, name: str) -> None:
    """`credhelper login` to a registry whose 401 body echoes the password (attacker A)."""
    secret = "Tr0ub4dor&3horse"
    for server in _serve(_CLI_ECHOES[name]):
        proc = _login(ch, server, secret)
    assert proc.returncode == 5, proc.stderr
    out = proc.stdout + proc.stderr
    assert "rejected" in out, out
    assert not _readable(out, secret), out
    assert_no_run(out, secret)
    for form in (secret.encode(_U16).hex(), base64.b64encode(secret.encode(_U16)).decode()[:12]):
        assert form.lower() not in out.lower(), out


# ------------------------------------------------- where the password is never sent

_Reply = tuple[int, dict[str, str], bytes]


class _Routed(http.server.ThreadingHTTPServer):
    """A loopback server whose every answer is `route(path)`; it records what it saw."""

    daemon_threads = True

    def __init__(self, route: Callable[[str], _Reply]) -> None:
        self.route = route
        self.seen: list[tuple[str, str | None]] = []
        super().__init__(("127.0.0.1", 0), _RoutedHandler)


class _RoutedHandler(http.server.BaseHTTPRequestHandler):
    server: _Routed

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = self.server.route(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


@pytest.fixture
def routed() -> Iterator[Callable[[Callable[[str], _Reply]], _Routed]]:
    made: list[tuple[_Routed, threading.Thread]] = []

    def start(route: Callable[[str], _Reply]) -> _Routed:
        server = _Routed(route)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        made.append((server, thread))
        return server

    yield start
    for server, thread in made:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _bearer(realm: str) -> _Reply:
    return (
        401,
        {
            "WWW-Authenticate": f'Bearer realm="{realm}",service="s"',
            "Docker-Distribution-API-Version": "registry/2.0",
        },
        b"{}",
    )


def _cli_login(ch: Env, port: int, secret: str) -> subprocess.CompletedProcess[str]:
    return ch.cli("login", f"127.0.0.1:{port}", "-u", USER, "--password-stdin", stdin=secret)


def test_a_token_realm_redirect_to_another_server_gets_no_password(
    ch: Env, routed: Callable[[Callable[[str], _Reply]], _Routed]
) -> None:
    """The token realm 302s to another port: that server never sees an Authorization header."""
    other = routed(lambda path: (200, {"Content-Type": "application/json"}, b'{"token":"t"}'))
    ports: list[int] = []

    def route(path: str) -> _Reply:
        if path.startswith("/token"):
            return 302, {"Location": f"http://127.0.0.1:{other.server_address[1]}/steal"}, b""
        return _bearer(f"http://127.0.0.1:{ports[0]}/token")

    registry_server = routed(route)
    ports.append(registry_server.server_address[1])
    proc = _cli_login(ch, ports[0], "Tr0ub4dor&3horse")
    assert proc.returncode != 0, proc.stderr
    assert any(path.startswith("/token") for path, _auth in registry_server.seen)
    assert all(auth is None for _path, auth in other.seen), other.seen
    assert "Tr0ub4dor" not in proc.stdout + proc.stderr


def test_a_plain_http_token_realm_off_loopback_is_refused(
    ch: Env, routed: Callable[[Callable[[str], _Reply]], _Routed]
) -> None:
    """A realm on plain HTTP at 192.0.2.1 (TEST-NET): exit 6 before any connection."""
    server = routed(lambda path: _bearer("http://192.0.2.1/token"))
    proc = _cli_login(ch, server.server_address[1], "Tr0ub4dor&3horse")
    assert proc.returncode == 6, proc.stderr
    assert "refusing to send the password" in proc.stderr
    assert "Tr0ub4dor" not in proc.stdout + proc.stderr
