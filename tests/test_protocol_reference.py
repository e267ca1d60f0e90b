"""Differential tests: our helper against a reference helper built from Go.

Debian's docker-credential-pass (docker-credential-helpers 0.6.4, Go 1.19) is the
real Go code of the protocol: the same inputs go to both executables and the
bytes that come back must be the same: Go's JSON decoder errors for `store`,
Go's TrimSpace for `get`, Go's encoder for `get` and `list` output. The decoder
corpora run our side in-process (`ch.call`); the get/list comparison runs both
installed executables end to end.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import HELPER, Env, require_tool

GO_JSON_ERRORS = ("invalid character", "unexpected EOF", "EOF", "json: ", "no credentials")


def go_helper() -> str:
    require_tool("pass")
    require_tool("gpg")
    return require_tool("docker-credential-pass")


@pytest.fixture
def go_env(ch: Env, tmp_path: Path) -> dict[str, str]:
    """An environment in which pass has no store: the Go helper fails only after decoding."""
    return dict(
        ch.env,
        HOME=str(tmp_path / "go-home"),
        PASSWORD_STORE_DIR=str(tmp_path / "no-password-store"),
        GNUPGHOME=str(tmp_path / "no-gnupg"),
    )


def call(argv: list[str], data: bytes, env: dict[str, str]) -> tuple[int, bytes]:
    proc = subprocess.run(argv, input=data, capture_output=True, env=env, timeout=60, check=False)
    return proc.returncode, proc.stdout


def in_process(ch: Env, action: str, data: bytes) -> tuple[int, bytes]:
    """Our helper in this process (test_protocol_equivalence proves it the executable)."""
    proc = ch.call(action, data)
    return proc.returncode, proc.stdout


STORE_CORPUS = [
    b"",
    b"   \r\n",
    b"{",
    b"nul",
    b"-",
    b"x",
    b"NaN",
    b"'s'",
    b"\xc3\xa9",
    b"\x00",
    b'{"a":1,}',
    b"{'a':1}",
    b'{"a" 1}',
    b'{"a":1 "b":2}',
    b'{"a":[1 2]}',
    b'{"a":-x}',
    b'{"a":-Infinity}',
    b'{"a":1.}',
    b'{"a":1e+}',
    b'{"a":01}',
    b'{"a":tru}',
    b'{"a":nil}',
    b'{"a":"\\x"}',
    b'{"a":"\\u12g4"}',
    b'{"a":"\x01"}',
    b'{"a":"\t"}',
    b'{"a":"\x7f\xff"}',
    b"[1]",
    b'"s"',
    b"42 {}",
    b"0.",
    b"1e5x",
    b"-0.5E+3 x",
    b"1.x",
    b"true",
    b"null",
    b"{}",
    b'{"ServerURL":1,"Username":"u"}',
    b'{"ServerURL":"s","username":{"a":1}}',
    b'{"ServerURL":"s","Username":"u","Secret":[]}',
    b'{"ServerURL":"s","Username":true,"Username":"u"}',
    b'{"ServerURL":"","Username":"u","Secret":"p"}',
    b'{"ServerURL":null,"Username":"u"}',
    b'{"ServerURL":"s","Secret":"p"}',
    b'{"serverurl":"s","USERNAME":""}',
    b'{"ServerURL":"s","User":"u","Secret":"p"}',
    b'{"ServerURL":"s"}\n{"Username":"u"}',
    b'{"ServerURL":"s",\n"Username":1}',
    b"[" * 20 + b"]" * 19,
    b'{"a":{"b":{"c":[1,2,{"d":tru}]}}}',
    b'{"Server\\u0055RL":"s"}',
    b'{"\xc5\xbferverURL":"s"}',  # U+017F folds to s in Go
    b'{"\xe2\x84\xaaey":"v","ServerURL":"s"}',  # KELVIN SIGN
    # Invalid UTF-8 outside a string: Go quotes the byte itself ('\xff' is 'ÿ',
    # '\x80' is '\u0080'), not the first byte of U+FFFD ('ï'), as we once did.
    b"\xff",
    b"\x80",
    b"\xc3",
    b'{"a":1,\xff}',
    b"{\xfe",
    b'{"a":\xe9}',
    b"[1,\x85]",
    b"tru\xff",
    b"\xed\xa0\x80",  # an encoded surrogate is three invalid bytes to Go
    b'{"ServerURL":"\xe2\x82","Username":1}',  # a cut-off sequence inside a string
    # A \r right before EOF is dropped, as bufio.ScanLines does.
    b"tru\r",
    b"nul\r",
    b"1.\r",
    b'{"a":"x\r',
    b"-\r\n",
    b'{"a":1}\r\r',
    b'"\\u12\r',
    b"[\r\n1\r\n]x",
]


@pytest.mark.parametrize("data", STORE_CORPUS)
def test_store_errors_match_go_byte_for_byte(ch: Env, go_env: dict[str, str], data: bytes) -> None:
    go = go_helper()
    ours = in_process(ch, "store", data)
    theirs = call([go, "store"], data, go_env)
    if ours[0] == 0:
        # Go decoded it too and went on to pass, which has no store here.
        assert theirs[0] == 1 and not theirs[1].startswith(GO_JSON_ERRORS[:4]), theirs
    else:
        assert ours == theirs


json_like = st.text(
    alphabet=st.sampled_from([*'{}[]:,"\\ \t\nnultrefasx0123456789.-+eEuU', "\x01", "é"]),
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(json_like, json_like.map(lambda t: '{"ServerURL":' + t)))
def test_store_decoding_matches_go_on_random_input(
    ch: Env, go_env: dict[str, str], text: str
) -> None:
    go = go_helper()
    data = text.encode()
    ours = in_process(ch, "store", data)
    theirs = call([go, "store"], data, go_env)
    if ours[0] == 0:
        assert theirs[0] == 1 and not theirs[1].startswith(GO_JSON_ERRORS[:4]), theirs
    else:
        assert ours == theirs


_PIECES = [
    *(bytes([c]) for c in b'{}[]:,"\\ \r\ntnu1-.e'),
    b'"ServerURL"',
    b'"Username"',
    b"\xff",
    b"\x80",
    b"\xc3\xa9",
    b"\xc3",
    b"\xe2\x82",
    b"\x00",
]
json_bytes = st.lists(st.sampled_from(_PIECES), max_size=12).map(b"".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(json_bytes, st.binary(max_size=6)))
def test_store_decoding_matches_go_on_random_bytes(
    ch: Env, go_env: dict[str, str], data: bytes
) -> None:
    """Any bytes, valid UTF-8 or not: the same error line as Go, or Go decoded it too."""
    go = go_helper()
    ours = in_process(ch, "store", data)
    theirs = call([go, "store"], data, go_env)
    if ours[0] == 0:
        assert theirs[0] == 1 and not theirs[1].startswith(GO_JSON_ERRORS[:4]), theirs
    else:
        assert ours == theirs, (data, ours, theirs)


@pytest.mark.parametrize(
    "text",
    [
        *"\t\n\r\v\f \x1c\x1f\x85\xa0\u1680\u2000\u200a\u200b\u2028\u2029\u202f\u205f\u3000",
        "\ufeff",
        "\u3000\r\n\x85 \u2029",
        "\n\x1c\n",
    ],
)
def test_empty_server_url_is_decided_like_go(ch: Env, go_env: dict[str, str], text: str) -> None:
    """Go's TrimSpace decides what counts as empty; both helpers must agree."""
    go = go_helper()
    data = text.encode()
    ours = in_process(ch, "get", data)
    theirs = call([go, "get"], data, go_env)
    empty = b"no credentials server URL\n"
    assert (ours[1] == empty) == (theirs[1] == empty), (text, ours, theirs)
    if theirs[1] == empty:
        assert ours == theirs


# ------------------------------------------------------------------ get/list output


@pytest.fixture
def pass_store(tmp_path: Path, ch: Env) -> Iterator[dict[str, str]]:
    """A working pass store with a throwaway gpg key; its gpg-agent is stopped after."""
    go_helper()
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = dict(
        ch.env,
        HOME=str(tmp_path / "pass-home"),
        GNUPGHOME=str(gnupg),
        PASSWORD_STORE_DIR=str(tmp_path / "password-store"),
    )
    batch = (
        "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\n"
        "Subkey-Curve: cv25519\nName-Real: credhelper test\nName-Email: test@example.invalid\n"
        "Expire-Date: 0\n%commit\n"
    )
    try:
        subprocess.run(
            ["gpg", "--batch", "--quiet", "--gen-key"],
            input=batch.encode(),
            env=env,
            capture_output=True,
            timeout=120,
            check=True,
        )
        subprocess.run(
            ["pass", "init", "test@example.invalid"],
            env=env,
            capture_output=True,
            timeout=60,
            check=True,
        )
        yield env
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "all"], env=env, capture_output=True, timeout=60, check=False
        )


ENTRIES = [
    ("https://index.docker.io/v1/", "<token>", "eyJhbGciOi.tok"),
    ("reg.example:5000", "a&b>c", "x<y>&z"),
    ("r\u00e9g.example", "\u00e9l\u00e8ve \u4e16", "\u2028para\u2029 \U0001f511"),
    ("ctl.example", "ctl", "\x01\x08\x0c\x1f\x7f tab\there"),
    ("q.example", "quote", 'say "hi" \\ back'),
    ("https://index.docker.io/v1/access-token", "tok", "<refresh>..client"),
]


def test_get_and_list_output_match_go_byte_for_byte(ch: Env, pass_store: dict[str, str]) -> None:
    go = go_helper()
    for server, user, secret in ENTRIES:
        body = json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()
        assert call([HELPER, "store"], body, ch.env) == (0, b"")
        assert call([go, "store"], body, pass_store) == (0, b"")
    for server, _user, _secret in ENTRIES:
        for request in (server.encode(), b"  " + server.encode() + b"\r\n"):
            ours = call([HELPER, "get"], request, ch.env)
            theirs = call([go, "get"], request, pass_store)
            assert ours == theirs
            assert ours[0] == 0
    assert call([HELPER, "list"], b"", ch.env) == call([go, "list"], b"", pass_store)
    assert call([HELPER, "get"], b"missing.example", ch.env) == (
        1,
        b"credentials not found in native keychain\n",
    )


def test_get_echoes_a_name_with_invalid_utf8_as_go_does(
    ch: Env, pass_store: dict[str, str]
) -> None:
    """Go echoes the raw request, its encoder writing each byte that is not UTF-8 as
    \\ufffd (a U+FFFD typed in stays raw). The lookup is ours (pass, which files a
    login under the raw bytes, answers an empty login here): only the echo is compared."""
    go = go_helper()
    for name in ("a\ufffdb.example", "a" + "\ufffd" * 4 + "b.example"):
        body = json.dumps({"ServerURL": name, "Username": "u", "Secret": "s"}).encode()
        for helper, env in ((HELPER, ch.env), (go, pass_store)):
            assert call([helper, "store"], body, env) == (0, b"")
    for request in (b"a\xffb.example", b" a\xef\xbf\xbdb.example\n", b"a\xff\xfe\xe2\x82b.example"):
        ours, theirs = (
            call([HELPER, "get"], request, ch.env),
            call([go, "get"], request, pass_store),
        )
        assert ours[0] == theirs[0] == 0
        echo = ours[1].split(b',"Username":')[0]
        assert echo == theirs[1].split(b',"Username":')[0], request
        assert b'"Username":"u","Secret":"s"}' in ours[1]
