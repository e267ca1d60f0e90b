"""A registry that echoes the secret back: no form of it reaches a message credhelper prints.

The property tests build real requests.Response objects (what the handshake
receives) with the secret placed anywhere in the body, in any encoding, across the
200-character cut, with double spaces, tabs, newlines and non-ASCII characters in
it; the encodings are computed here independently of credhelper.redact. The last
test runs `credhelper login` against a real HTTP server on 127.0.0.1 that echoes
the Authorization header and the password.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper import redact, registry
from tests.conftest import Env


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
