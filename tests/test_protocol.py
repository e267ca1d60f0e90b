"""The wire protocol of docker-credential-credhelper, byte for byte (docs/protocol.md).

Each test gives one action bytes on stdin and checks stdout, stderr and the exit
code exactly. Most run the protocol in this process (`ch.call`: the executable's
code with BytesIO streams, proven equal to it by test_protocol_equivalence.py);
those about the process itself (stdin never read, argv, the environment it
starts in) and one round trip run the installed executable (`ch.helper`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HELPER, Env

NOT_FOUND = b"credentials not found in native keychain\n"
NO_URL = b"no credentials server URL\n"
NO_USER = b"no credentials username\n"
USAGE = b"Usage: docker-credential-credhelper <store|get|erase|list|version>\n"


def creds(server: str, user: str, secret: str) -> bytes:
    """What the Go client (DCH client.Store) writes: compact, HTML-escaped, one newline."""
    text = json.dumps(
        {"ServerURL": server, "Username": user, "Secret": secret},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return (text.replace("<", "\\u003c").replace(">", "\\u003e") + "\n").encode()


def ok(proc: subprocess.CompletedProcess[bytes], stdout: bytes = b"") -> None:
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, stdout, b"")


def fails(proc: subprocess.CompletedProcess[bytes], stdout: bytes) -> None:
    """A protocol error: the text on stdout, exit 1, nothing on stderr."""
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, stdout, b"")


def store_bytes(ch: Env) -> bytes | None:
    return ch.store.read_bytes() if ch.store.exists() else None


# ------------------------------------------------------------------ round trip


def test_store_get_erase_round_trip(ch: Env) -> None:
    """End to end: the installed executable, as docker runs it."""
    ok(ch.helper("store", creds("https://index.docker.io/v1/", "alice", "s3cret")))
    ok(
        ch.helper("get", b"https://index.docker.io/v1/"),
        b'{"ServerURL":"https://index.docker.io/v1/","Username":"alice","Secret":"s3cret"}\n',
    )
    ok(ch.helper("erase", b"https://index.docker.io/v1/"))
    fails(ch.helper("get", b"https://index.docker.io/v1/"), NOT_FOUND)


def test_get_of_unknown_server_is_the_not_found_string(ch: Env) -> None:
    fails(ch.call("get", b"registry.example:5000"), NOT_FOUND)
    ch.put("a.example", "u", "p")
    fails(ch.call("get", b"b.example"), NOT_FOUND)


def test_store_overwrites_and_keys_are_opaque(ch: Env) -> None:
    # No normalisation: these are five different keys (docs/protocol.md, get).
    keys = ["reg:5000", "https://reg:5000", "http://reg:5000", "reg:5000/v2/", "REG:5000"]
    for n, key in enumerate(keys):
        ch.put(key, f"user{n}", f"pw{n}")
    ch.put("reg:5000", "new", "newpw")
    ok(ch.call("get", b"reg:5000"), creds("reg:5000", "new", "newpw"))
    for n, key in enumerate(keys[1:], start=1):
        ok(ch.call("get", key.encode()), creds(key, f"user{n}", f"pw{n}"))


def test_identity_token_round_trips_with_go_escaping(ch: Env) -> None:
    # Exactly what the docker CLI sends for an identity token (docs/protocol.md, get).
    ok(
        ch.call(
            "store",
            b'{"ServerURL":"https://index.docker.io/v1/","Username":"\\u003ctoken\\u003e",'
            b'"Secret":"eyJhbGciOi.tok"}\n',
        )
    )
    ok(
        ch.call("get", b"https://index.docker.io/v1/"),
        b'{"ServerURL":"https://index.docker.io/v1/","Username":"\\u003ctoken\\u003e",'
        b'"Secret":"eyJhbGciOi.tok"}\n',
    )
    ok(ch.call("list"), b'{"https://index.docker.io/v1/":"\\u003ctoken\\u003e"}\n')


def test_empty_secret_is_allowed(ch: Env) -> None:
    ok(ch.call("store", b'{"ServerURL":"s","Username":"u","Secret":""}'))
    ok(ch.call("get", b"s"), b'{"ServerURL":"s","Username":"u","Secret":""}\n')


def test_erase_of_a_missing_entry_succeeds_and_touches_nothing_else(ch: Env) -> None:
    # docker logout erases up to four spellings; the missing ones must not fail.
    ok(ch.call("erase", b"never-stored"))
    ch.put("keep", "u", "p")
    ok(ch.call("erase", b"other"))
    ok(ch.call("get", b"keep"), creds("keep", "u", "p"))


# ------------------------------------------------------------------ get output


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("<token>", b"\\u003ctoken\\u003e"),
        ("a&b>c", b"a\\u0026b\\u003ec"),
        ("line\u2028para\u2029", b"line\\u2028para\\u2029"),
        ("tab\tnl\ncr\r", b"tab\\tnl\\ncr\\r"),
        ("\x00\x01\x08\x0c\x1f", b"\\u0000\\u0001\\u0008\\u000c\\u001f"),
        ('quote" back\\slash /', b'quote\\" back\\\\slash /'),
        ("del\x7f", b"del\x7f"),
        ("h\u00e9llo \u4e16\u754c \U0001f600", "h\u00e9llo \u4e16\u754c \U0001f600".encode()),
        ("  padded  ", b"  padded  "),
    ],
)
def test_get_output_is_byte_exact_go_encoding(ch: Env, value: str, encoded: bytes) -> None:
    """Go's json.Encoder: compact, HTML-escaped, U+2028/9 escaped, non-ASCII raw UTF-8."""
    server = "reg.example"
    # Python's client (docker-py) sends ASCII-escaped JSON with spaces.
    stored = json.dumps({"ServerURL": server, "Username": value, "Secret": value})
    ok(ch.call("store", stored.encode()))
    expected = b'{"ServerURL":"reg.example","Username":"%s","Secret":"%s"}\n' % (encoded, encoded)
    ok(ch.call("get", server.encode()), expected)
    assert json.loads(expected) == {"ServerURL": server, "Username": value, "Secret": value}


def test_get_echoes_the_trimmed_request_with_escaping(ch: Env) -> None:
    server = "https://r\u00e9g.example/<a>&b"
    ch.put(server, "u", "p")
    ok(
        ch.call("get", b"  \t" + server.encode() + b"\r\n"),
        b'{"ServerURL":"https://r\xc3\xa9g.example/\\u003ca\\u003e\\u0026b",'
        b'"Username":"u","Secret":"p"}\n',
    )


# ------------------------------------------------------------------ get / erase input


@pytest.mark.parametrize(
    "raw",
    [
        b"reg.example/path",  # the clients send no newline
        b"reg.example/path\n",
        b"reg.example/path\r\n",
        b"reg.exam\nple/path",  # lines are joined with no separator
        b"reg.exam\r\nple/pa\nth\r\n",
        " \t\u3000reg.example/path\u2003 ".encode(),
        "\u0085\u00a0reg.example/path\u2028\u3000".encode(),
    ],
)
def test_get_and_erase_input_is_joined_and_trimmed_like_go(ch: Env, raw: bytes) -> None:
    ch.put("reg.example/path", "u", "p")
    ok(ch.call("get", raw), creds("reg.example/path", "u", "p"))
    ok(ch.call("erase", raw))
    fails(ch.call("get", b"reg.example/path"), NOT_FOUND)


def test_inner_spaces_and_non_go_space_are_kept(ch: Env) -> None:
    # Go's TrimSpace keeps \x1c-\x1f (Python's str.strip would remove them).
    ch.put("a b", "u1", "p1")
    ch.put("\x1creg", "u2", "p2")
    ok(ch.call("get", b" a b "), creds("a b", "u1", "p1"))
    fails(ch.call("get", b"ab"), NOT_FOUND)
    ok(ch.call("get", b"\x1creg"), b'{"ServerURL":"\\u001creg","Username":"u2","Secret":"p2"}\n')
    fails(ch.call("get", b"reg"), NOT_FOUND)


@pytest.mark.parametrize("action", ["get", "erase"])
@pytest.mark.parametrize("raw", [b"", b"\n", b"\r\n", b"  \t\n \r\n", "\u3000".encode()])
def test_empty_server_url(ch: Env, action: str, raw: bytes) -> None:
    fails(ch.call(action, raw), NO_URL)


def test_cr_not_before_newline_is_kept(ch: Env) -> None:
    # bufio.ScanLines drops "\r" only directly before "\n" or at EOF.
    ch.put("a\rb", "u", "p")
    ok(ch.call("get", b"a\rb"), b'{"ServerURL":"a\\rb","Username":"u","Secret":"p"}\n')
    fails(ch.call("get", b"ab"), NOT_FOUND)


# ------------------------------------------------------------------ store input


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ServerURL":"s","Username":"u","Secret":"p"}',
        b'{"ServerURL":"s","Username":"u","Secret":"p"}\n',
        b' \t\r\n{ "ServerURL" : "s" ,\n "Username":\t"u", "Secret" : "p" }\r\n',
        b'{"ServerURL": "s", "Username": "u", "Secret": "p"}',  # docker-py's spacing
        b'{"serverurl":"s","USERNAME":"u","sEcReT":"p"}',  # Go matches keys in any case
        b'{"ServerURL":"s","Username":"u","Secret":"p","Extra":1,"x":{"y":[null]}}',
        b'{"ServerURL":"x","Username":"u","Secret":"p","ServerURL":"s"}',  # last one wins
        b'{"ServerURL":"s","serverURL":"s","Username":"u","Secret":"p"}',
        b'{"ServerURL":"s","Username":"u","Secret":"p"} trailing, ignored {',
        b'{"ServerURL":"s","Username":"u","Secret":"p"}{"ServerURL":"other"}',
        b'{"ServerURL":"s","Username":"u","Secret":"p","Secret":null}',  # null: no change
        b'{"ServerURL":"\\u0073","Username":"\\u0075","Secret":"\\u0070"}',
        b'{"Server\nURL":"s"}'[:0] + b'{"ServerURL":"s",\n"Username":"u",\r\n"Secret":"p"}',
        b'{"ServerURL":"s","Username":"u","Secret":"p"}\n{"ServerURL":"t"}',
        b'{"ServerURL":"s","Username":"u","\xc5\xbfecret":"p"}',  # U+017F folds to s
    ],
)
def test_store_accepts_json_like_gos_decoder(ch: Env, raw: bytes) -> None:
    ok(ch.call("store", raw))
    ok(ch.call("get", b"s"), b'{"ServerURL":"s","Username":"u","Secret":"p"}\n')
    ok(ch.call("list"), b'{"s":"u"}\n')


def test_store_values_are_not_trimmed(ch: Env) -> None:
    ok(ch.call("store", b'{"ServerURL":"s","Username":" u ","Secret":" p\\n"}'))
    ok(ch.call("get", b" s "), b'{"ServerURL":"s","Username":" u ","Secret":" p\\n"}\n')
    # A ServerURL with spaces is stored as sent; get trims its request, so (as with
    # the reference helpers) only list shows it.
    ok(ch.call("store", b'{"ServerURL":" t ","Username":"v","Secret":"q"}'))
    fails(ch.call("get", b" t "), NOT_FOUND)
    ok(ch.call("list"), b'{" t ":"v","s":" u "}\n')


def test_store_lines_are_joined_before_decoding(ch: Env) -> None:
    # The reference helpers join lines, so a newline inside a string disappears.
    ok(ch.call("store", b'{"ServerURL":"s","Username":"u","Secret":"a\nb\r\nc"}'))
    ok(ch.call("get", b"s"), b'{"ServerURL":"s","Username":"u","Secret":"abc"}\n')


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", b"EOF"),
        (b" \n\r\n\t", b"EOF"),
        (b"{", b"unexpected EOF"),
        (b'{"ServerURL":"s"', b"unexpected EOF"),
        (b'{"ServerURL":"s', b"unexpected EOF"),
        (b'{"ServerURL":', b"unexpected EOF"),
        (b"nul", b"unexpected EOF"),
        (b"-", b"unexpected EOF"),
        (b"0.", b"unexpected EOF"),  # Python alone would read 0 and stop
        (b"1.x", b"invalid character 'x' after decimal point in numeric literal"),
        (b"x", b"invalid character 'x' looking for beginning of value"),
        (b"NaN", b"invalid character 'N' looking for beginning of value"),
        (b"'s'", b"invalid character '\\'' looking for beginning of value"),
        (b"\xc3\xa9", "invalid character '\u00c3' looking for beginning of value".encode()),
        (b'{"a":1,}', b"invalid character '}' looking for beginning of object key string"),
        (b"{'a':1}", b"invalid character '\\'' looking for beginning of object key string"),
        (b'{"a" 1}', b"invalid character '1' after object key"),
        (b'{"a":1 "b":2}', b"invalid character '\"' after object key:value pair"),
        (b'{"a":[1 2]}', b"invalid character '2' after array element"),
        (b'{"a":-x}', b"invalid character 'x' in numeric literal"),
        (b'{"a":-Infinity}', b"invalid character 'I' in numeric literal"),
        (b'{"a":1.}', b"invalid character '}' after decimal point in numeric literal"),
        (b'{"a":1e+}', b"invalid character '}' in exponent of numeric literal"),
        (b'{"a":01}', b"invalid character '1' after object key:value pair"),
        (b'{"a":tru}', b"invalid character '}' in literal true (expecting 'e')"),
        (b'{"a":nil}', b"invalid character 'i' in literal null (expecting 'u')"),
        (b'{"a":"\\x"}', b"invalid character 'x' in string escape code"),
        (b'{"a":"\\u12g4"}', b"invalid character 'g' in \\u hexadecimal character escape"),
        (b'{"a":"\x01"}', b"invalid character '\\x01' in string literal"),
        (b'{"a":"\t"}', b"invalid character '\\t' in string literal"),
        (b"[1]", b"json: cannot unmarshal array into Go value of type credentials.Credentials"),
        (b'"s"', b"json: cannot unmarshal string into Go value of type credentials.Credentials"),
        (b"42 {}", b"json: cannot unmarshal number into Go value of type credentials.Credentials"),
        (b"true", b"json: cannot unmarshal bool into Go value of type credentials.Credentials"),
        (
            b'{"ServerURL":1,"Username":"u"}',
            b"json: cannot unmarshal number into Go struct field Credentials.ServerURL"
            b" of type string",
        ),
        (
            b'{"ServerURL":"s","username":{"a":1}}',
            b"json: cannot unmarshal object into Go struct field Credentials.Username"
            b" of type string",
        ),
        (
            b'{"ServerURL":"s","Username":"u","Secret":[]}',
            b"json: cannot unmarshal array into Go struct field Credentials.Secret of type string",
        ),
        (
            # Go reports the first type error even when a later duplicate is fine.
            b'{"ServerURL":"s","Username":true,"Username":"u"}',
            b"json: cannot unmarshal bool into Go struct field Credentials.Username of type string",
        ),
        (b"null", b"no credentials server URL"),
        (b"{}", b"no credentials server URL"),
        (b'{"ServerURL":"","Username":"u","Secret":"p"}', b"no credentials server URL"),
        (b'{"ServerURL":null,"Username":"u"}', b"no credentials server URL"),
        (b'{"Username":"u","Secret":"p"}', b"no credentials server URL"),
        (b'{"ServerURL":"s","Secret":"p"}', b"no credentials username"),
        (b'{"ServerURL":"s","Username":"","Secret":"p"}', b"no credentials username"),
        (b'{"ServerURL":"s","User":"u","Secret":"p"}', b"no credentials username"),
    ],
)
def test_store_errors_are_gos_texts_and_change_nothing(ch: Env, raw: bytes, message: bytes) -> None:
    ch.put("keep", "u", "p")
    before = store_bytes(ch)
    fails(ch.call("store", raw), message + b"\n")
    assert store_bytes(ch) == before


def test_store_with_no_prior_store_creates_nothing_on_error(ch: Env) -> None:
    fails(ch.call("store", b"{}"), NO_URL)
    assert not ch.key.exists()
    assert not ch.store.exists()


# ------------------------------------------------------------------ list


def test_list_empty_prints_braces(ch: Env) -> None:
    ok(ch.call("list"), b"{}\n")
    assert not ch.home.exists() or not ch.key.exists()  # a read never creates a key


def test_list_is_sorted_compact_and_escaped(ch: Env) -> None:
    for server, user in [
        ("zeta.example", "z"),
        ("https://index.docker.io/v1/", "<token>"),
        ("Alpha:5000", "a&b"),
        ("r\u00e9g", "\u4e16"),
        ("https://index.docker.io/v1/access-token", "tok"),
    ]:
        ch.put(server, user, "secret-never-listed")
    proc = ch.call("list")
    ok(
        proc,
        b'{"Alpha:5000":"a\\u0026b","https://index.docker.io/v1/":"\\u003ctoken\\u003e",'
        b'"https://index.docker.io/v1/access-token":"tok","r\xc3\xa9g":"\xe4\xb8\x96",'
        b'"zeta.example":"z"}\n',
    )
    assert b"secret-never-listed" not in proc.stdout


def test_list_never_reads_stdin(ch: Env) -> None:
    """docker-py runs list with its own stdin: a pipe nobody ever closes must not block it."""
    ch.put("s", "u", "p")
    proc = subprocess.Popen(
        [HELPER, "list"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ch.env,
    )
    try:
        code = proc.wait(timeout=30)  # stdin stays open the whole time
        assert proc.stdout is not None and proc.stderr is not None
        assert (code, proc.stdout.read(), proc.stderr.read()) == (0, b'{"s":"u"}\n', b"")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_list_ignores_whatever_is_on_stdin(ch: Env) -> None:
    ok(ch.call("list", b"unused"), b"{}\n")  # what the Go client sends


# ------------------------------------------------------------------ arguments


@pytest.mark.parametrize("flag", ["version", "-v", "--version"])
def test_version_forms(ch: Env, flag: str) -> None:
    from credhelper import __version__

    ok(
        ch.call(flag, b""),
        f"docker-credential-credhelper (credhelper) {__version__}\n".encode(),
    )


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_prints_usage_and_succeeds(ch: Env, flag: str) -> None:
    ok(ch.call(flag), USAGE)


@pytest.mark.parametrize("argv", [[], ["get", "extra"], ["list", "list"]])
def test_wrong_argument_count_prints_usage_and_fails(ch: Env, argv: list[str]) -> None:
    proc = subprocess.run(
        [HELPER, *argv], input=b"s", capture_output=True, env=ch.env, timeout=60, check=False
    )
    fails(proc, USAGE)


@pytest.mark.parametrize("action", ["GET", "Store", "delete", "", "--get", "help"])
def test_unknown_action(ch: Env, action: str) -> None:
    fails(
        ch.call(action, b"s"),
        f"docker-credential-credhelper: unknown action: {action}\n".encode(),
    )


# ------------------------------------------------------------------ size limit


@pytest.mark.parametrize("action", ["store", "get", "erase"])
def test_input_over_one_mib_is_refused_and_nothing_changes(ch: Env, action: str) -> None:
    ch.put("keep", "u", "p")
    before = store_bytes(ch)
    big = b'{"ServerURL":"keep","Username":"u","Secret":"' + b"x" * (1 << 20) + b'"}'
    proc = ch.call(action, big if action == "store" else b"keep" + b" " * (1 << 20))
    assert proc.returncode == 1
    assert proc.stdout.count(b"\n") == 1 and b"1 MiB" in proc.stdout
    assert proc.stdout != NOT_FOUND
    assert store_bytes(ch) == before
    ok(ch.call("get", b"keep"), creds("keep", "u", "p"))


def test_long_lines_below_the_limit_are_accepted(ch: Env) -> None:
    # Decision: the reference helpers stop at a 64 KiB line; we accept up to 1 MiB.
    secret = "s" * 200_000
    ok(ch.call("store", creds("big", "u", secret)))
    ok(ch.call("get", b"big"), creds("big", "u", secret))


# ------------------------------------------------------------------ secrets at rest


def test_nothing_secret_at_rest_or_on_stderr(ch: Env) -> None:
    secret = "hunter2-VERY-SECRET"
    proc = ch.call("store", creds("reg", "alice", secret))
    ok(proc)
    for path in ch.home.iterdir():
        assert secret.encode() not in path.read_bytes(), path
        assert b"hunter2" not in path.read_bytes(), path
    assert ch.home.stat().st_mode & 0o777 == 0o700
    assert ch.store.stat().st_mode & 0o777 == 0o600
    assert ch.key.stat().st_mode & 0o777 == 0o600
    doc = json.loads(ch.store.read_bytes())
    assert doc["version"] == 2 and set(doc["auths"]) == {"reg"}


def test_read_actions_never_create_a_key_or_store(ch: Env) -> None:
    fails(ch.call("get", b"s"), NOT_FOUND)
    ok(ch.call("list"), b"{}\n")
    assert not ch.key.exists() and not ch.store.exists()


def test_environment_chooses_the_store_directory(tmp_path: Path) -> None:
    """$CREDHELPER_HOME, else $DOCKER_CONFIG/credhelper, else ~/.docker/credhelper."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CREDHELPER_", "DOCKER_"))}
    base["HOME"] = str(tmp_path / "home")
    cases = [
        ({"CREDHELPER_HOME": str(tmp_path / "ch")}, tmp_path / "ch"),
        ({"DOCKER_CONFIG": str(tmp_path / "dc")}, tmp_path / "dc" / "credhelper"),
        ({}, tmp_path / "home" / ".docker" / "credhelper"),
    ]
    for n, (extra, directory) in enumerate(cases):
        env = {**base, **extra}
        body = json.dumps({"ServerURL": f"s{n}", "Username": "u", "Secret": "p"}).encode()
        for action, data in (("store", body), ("get", f"s{n}".encode())):
            proc = subprocess.run(
                [HELPER, action], input=data, capture_output=True, env=env, timeout=60
            )
            assert proc.returncode == 0, proc.stdout
        assert (directory / "config.json").is_file() and (directory / "aeskey").is_file()
        assert directory.stat().st_mode & 0o777 == 0o700
