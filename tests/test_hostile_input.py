"""Hostile input to the helper and the CLI: on stdin, in argv, in the store and key files.

Whatever arrives, the helper exits 0 or 1, prints no traceback, answers errors in
one stdout line, and invalid input changes nothing on disk. Protocol calls run
in-process (`ch.call`, proven byte-equal to the executable by
test_protocol_equivalence.py); argv, the Python environment and the CLI run the
installed executables.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, HELPER, Env
from tests.stress.fsprobe import tree

SERVER = "registry.example:5000"
MIB = 1 << 20


def _run(ch: Env, argv: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    if argv[0] == HELPER and len(argv) == 2:
        return ch.call(argv[1], data)
    return subprocess.run(argv, input=data, capture_output=True, env=ch.env, timeout=120)


def _check_clean(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert proc.returncode in (0, 1), f"exit {proc.returncode}"
    both = proc.stdout + proc.stderr
    assert b"Traceback" not in both and b"internal error" not in both, both[:500]
    if proc.returncode == 1:
        assert proc.stdout.count(b"\n") == 1 and proc.stdout.endswith(b"\n"), proc.stdout[:500]


@pytest.fixture
def seeded(ch: Env) -> Env:
    ch.put(SERVER, "user", "pa55word")
    return ch


# name -> (action, stdin) — all invalid or unusual; none may change the store.
HOSTILE: dict[str, tuple[str, bytes]] = {
    "store 1 MiB + 1": ("store", b"{" + b" " * MIB),
    "get 1 MiB + 1": ("get", b"x" * (MIB + 1)),
    "erase 1 MiB + 1": ("erase", b"x" * (MIB + 1)),
    "store single 10 MiB line": ("store", b'{"ServerURL":"' + b"a" * (10 * MIB) + b'"}'),
    "get single 10 MiB line": ("get", b"a" * (10 * MIB)),
    "store deeply nested array": ("store", b"[" * 100_000),
    "store deeply nested value": ("store", b'{"ServerURL":' + b"[" * 100_000),
    "store nested objects": ("store", b'{"a":' * 20_000 + b"1" + b"}" * 20_000),
    "store number server": ("store", b'{"ServerURL":1,"Username":"u","Secret":"s"}'),
    "store number username": ("store", b'{"ServerURL":"x","Username":2e308,"Secret":"s"}'),
    "store bool secret": ("store", b'{"ServerURL":"x","Username":"u","Secret":true}'),
    "store array secret": ("store", b'{"ServerURL":"x","Username":"u","Secret":["s"]}'),
    "store object username": ("store", b'{"ServerURL":"x","Username":{},"Secret":"s"}'),
    "store 5000-digit number": ("store", b'{"ServerURL":' + b"9" * 5000 + b"}"),
    "store NaN": ("store", b'{"ServerURL":NaN}'),
    "store -Infinity": ("store", b'{"ServerURL":-Infinity}'),
    "store raw NUL in string": ("store", b'{"ServerURL":"a\x00b","Username":"u","Secret":"s"}'),
    "store NUL bytes only": ("store", b"\x00" * 1000),
    "store invalid UTF-8 only": ("store", b"\xff\xfe\xfd" * 1000),
    "store top-level array": ("store", b"[1,2,3]"),
    "store top-level string": ("store", b'"x"'),
    "store truncated": ("store", b'{"ServerURL":"x","Username":"u","Sec'),
    "store bad escape": ("store", b'{"ServerURL":"\\x41","Username":"u"}'),
    "store bad unicode escape": ("store", b'{"ServerURL":"\\u12G4","Username":"u"}'),
    "store empty server": ("store", b'{"ServerURL":"","Username":"u","Secret":"s"}'),
    "store empty username": ("store", b'{"ServerURL":"x","Username":"","Secret":"s"}'),
    "store empty": ("store", b""),
    "store whitespace only": ("store", b" \r\n\t " * 1000),
    "get empty": ("get", b""),
    "get whitespace only": ("get", "\u3000\u2028 \t\r\n".encode() * 100),
    "erase empty": ("erase", b""),
    "get NUL bytes": ("get", b"\x00" * 1000),
    "get invalid UTF-8": ("get", b"\xff\xc3\x28registry\x80"),
    "get many lines": ("get", b"a\n" * 400_000),
    "erase NUL in url": ("erase", b"registry\x00.example:5000"),
    "erase other spelling": ("erase", b"https://registry.example:5000"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_stdin_is_one_line_and_changes_nothing(seeded: Env, name: str) -> None:
    action, data = HOSTILE[name]
    before = tree(seeded.home)
    proc = _run(seeded, [HELPER, action], data)
    _check_clean(proc)
    if action == "store":
        assert proc.returncode == 1, f"{name}: invalid store input was accepted"
    assert tree(seeded.home) == before, f"{name}: changed the store directory"
    assert b"pa55word" not in proc.stdout + proc.stderr


def test_oversized_input_is_refused_with_a_clear_message(seeded: Env) -> None:
    proc = _run(seeded, [HELPER, "store"], b"{" + b" " * MIB)
    assert proc.returncode == 1
    assert b"larger than 1 MiB" in proc.stdout


def test_many_lines_are_joined_like_go(ch: Env) -> None:
    """A store request split over 100,000 lines still stores (lines are joined)."""
    body = json.dumps({"ServerURL": SERVER, "Username": "u", "Secret": "s"})
    data = "\n".join(body).encode() + b"\n" * 50_000
    proc = _run(ch, [HELPER, "store"], data)
    assert proc.returncode == 0, proc.stdout[:300]
    got = _run(ch, [HELPER, "get"], SERVER.encode())
    assert json.loads(got.stdout)["Username"] == "u"


@pytest.mark.parametrize(
    "fields",
    [
        {"ServerURL": "a\u0000b", "Username": "u\u0000", "Secret": "s\u0000"},
        {"ServerURL": "\ud800x", "Username": "\udfff", "Secret": "\ud83d"},
        {"ServerURL": "<&>\u2028\u2029", "Username": "<token>", "Secret": "\u0001\u001f"},
        {"ServerURL": "x" * 60_000, "Username": "u" * 60_000, "Secret": "s" * 200_000},
    ],
    ids=["nul-escapes", "lone-surrogates", "html-and-controls", "large-fields"],
)
def test_odd_but_valid_values_round_trip_without_crashing(ch: Env, fields: dict[str, str]) -> None:
    data = json.dumps(fields).encode()
    proc = _run(ch, [HELPER, "store"], data)
    _check_clean(proc)
    assert proc.returncode == 0, proc.stdout[:300]
    server = fields["ServerURL"].encode("utf-8", "replace").replace(b"?", "\ufffd".encode())
    got = _run(ch, [HELPER, "get"], server)
    _check_clean(got)
    assert _run(ch, [HELPER, "list"], b"").returncode == 0


@pytest.mark.parametrize(
    "argv",
    [[], ["get", "extra"], ["GET"], ["--bogus"], ["\udcff"], ["store", "--", "x"], ["-" * 5000]],
    ids=["none", "extra", "upper", "flag", "undecodable", "dashdash", "long"],
)
def test_hostile_argv(seeded: Env, argv: list[str]) -> None:
    before = tree(seeded.home)
    args = [os.fsencode(a) for a in argv]
    proc = subprocess.run(
        [os.fsencode(HELPER), *args], input=b"", capture_output=True, env=seeded.env, timeout=60
    )
    _check_clean(proc)
    assert proc.returncode == 1
    assert tree(seeded.home) == before


# What a damaged or hostile store file may hold. None of them may crash a
# command or be "repaired" by a write.
BAD_STORES: dict[str, bytes] = {
    "empty": b"",
    "not json": b"hello",
    "nul bytes": b"\x00" * 100,
    "invalid utf-8": b'{"version":1,"auths":{"\xff":{}}}',
    "deep nesting": b'{"version":1,"auths":' + b"[" * 100_000,
    "deep nesting inside": b'{"version":1,"x":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
    "array": b"[]",
    "version string": b'{"version":"1","auths":{}}',
    "version true": b'{"version":true,"auths":{}}',
    "version 2": b'{"version":2,"auths":{}}',
    "version huge": b'{"version":' + b"9" * 5000 + b',"auths":{}}',
    "auths list": b'{"version":1,"auths":[]}',
    "entry string": b'{"version":1,"auths":{"registry.example:5000":"x"}}',
    "entry numbers": b'{"version":1,"auths":{"registry.example:5000":{"sealed":1,"keyId":2}}}',
    "entry bad base64": (
        b'{"version":1,"auths":{"registry.example:5000":{"sealed":"!!!","keyId":"KID"}}}'
    ),
    "entry short": (
        b'{"version":1,"auths":{"registry.example:5000":{"sealed":"AAAA","keyId":"KID"}}}'
    ),
    "entry null": b'{"version":1,"auths":{"registry.example:5000":null}}',
    "keyProvider list": b'{"version":1,"keyProvider":[],"auths":{}}',
    "keyProvider unknown": b'{"version":1,"keyProvider":{"name":"nope"},"auths":{}}',
    "keyProvider number": b'{"version":1,"keyProvider":{"name":7},"auths":{}}',
    "rotation mark odd": b'{"version":1,"keyRotation":7,"auths":{}}',
    "rotation mark list": b'{"version":1,"keyRotation":[1],"auths":{}}',
    "NaN": b'{"version":NaN,"auths":{}}',
    "duplicate keys": b'{"version":1,"auths":{},"auths":[]}',
}


def _kid(ch: Env) -> str:
    from credhelper.crypto import key_id

    return key_id(ch.key.read_bytes())


@pytest.mark.parametrize("name", sorted(BAD_STORES))
def test_hostile_store_file(seeded: Env, name: str) -> None:
    raw = BAD_STORES[name].replace(b"KID", _kid(seeded).encode())
    seeded.store.write_bytes(raw)
    before = tree(seeded.home)
    procs = [
        _run(seeded, [HELPER, "get"], SERVER.encode()),
        _run(seeded, [HELPER, "list"], b""),
        _run(seeded, [HELPER, "store"], b'{"ServerURL":"new.example","Username":"u","Secret":"s"}'),
        _run(seeded, [HELPER, "erase"], SERVER.encode()),
        _run(seeded, [CLI, "list"], b""),
        _run(seeded, [CLI, "list", "--json"], b""),
    ]
    for proc in procs[:4]:
        _check_clean(proc)
    for proc in procs[4:]:
        assert b"Traceback" not in proc.stdout + proc.stderr
        assert b"internal error" not in proc.stdout + proc.stderr, proc.stderr[:300]
    get = procs[0]
    assert get.stdout.strip() != b"", name
    # ("entry null" reads as absent: reported to the store owner.)
    if raw.startswith(b'{"version":1,"auths":{"registry') and name != "entry null":
        # A damaged entry is reported as damaged, never as "not found".
        assert b"credentials not found" not in get.stdout, f"{name}: corrupt entry reported absent"
    after = tree(seeded.home)
    # The store file is never rewritten by a command that failed to parse it.
    if procs[2].returncode == 1:
        assert after.get("config.json") == before.get("config.json"), name


@pytest.mark.parametrize(
    "content",
    [b"", b"x" * 31, b"x" * 33, b"x" * (10 * MIB), None],
    ids=["empty", "31-bytes", "33-bytes", "10MiB", "fifo"],
)
def test_hostile_key_file(seeded: Env, content: bytes | None) -> None:
    seeded.key.unlink()
    if content is None:
        os.mkfifo(seeded.key, 0o600)
    else:
        fd = os.open(seeded.key, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, content)
        os.close(fd)
    before = tree(seeded.home)
    for action, data in (
        ("get", SERVER.encode()),
        ("list", b""),
        ("store", b'{"ServerURL":"n","Username":"u","Secret":"s"}'),
    ):
        proc = _run(seeded, [HELPER, action], data)
        _check_clean(proc)
        if action != "list":
            assert proc.returncode == 1
            assert str(seeded.key).encode() in proc.stdout, proc.stdout[:300]
    assert tree(seeded.home) == before


@pytest.mark.parametrize(
    "value",
    ["!!!", "QUFB", "A" * 10_000, "\udcff", "QUFB\tQUFB", "=" * 44],
    ids=["not-base64", "short", "long", "undecodable", "inner-space", "padding"],
)
def test_hostile_env_key(ch: Env, value: str) -> None:
    env = {**ch.env, "CREDHELPER_AESKEY": value}
    for action, data in (
        ("get", b"x"),
        ("store", b'{"ServerURL":"n","Username":"u","Secret":"s"}'),
    ):
        proc = ch.call(action, data, env=env)
        _check_clean(proc)
        assert proc.returncode == 1
    assert not ch.store.exists()


def test_hostile_env_key_file(ch: Env, tmp_path: Path) -> None:
    empty = tmp_path / "empty-key"
    empty.write_bytes(b"")
    fifo = tmp_path / "fifo-key"
    os.mkfifo(fifo, 0o600)  # must be refused at once, not block the helper
    for target in (tmp_path / "missing", tmp_path, empty, fifo):
        env = {**ch.env, "CREDHELPER_AESKEY_FILE": str(target)}
        proc = ch.call("store", b'{"ServerURL":"n","Username":"u","Secret":"s"}', env=env)
        _check_clean(proc)
        assert proc.returncode == 1
        assert str(target).encode() in proc.stdout, proc.stdout[:300]


def test_python_environment_cannot_change_the_executables(ch: Env, tmp_path: Path) -> None:
    """PYTHON* variables meant for something else: a PYTHONPATH shadowing credhelper and
    json, PYTHONINSPECT (would wait for an interactive prompt), PYTHONIOENCODING, warnings
    as errors. The executables re-run themselves under `python -I` before importing
    anything and answer byte for byte as usual. (A sitecustomize on PYTHONPATH still
    runs once in the first interpreter: installers drop shebang options.)"""
    shadow = tmp_path / "shadow"
    (shadow / "credhelper").mkdir(parents=True)
    (shadow / "credhelper" / "__init__.py").write_text('raise SystemExit("SHADOWED")\n')
    (shadow / "json.py").write_text('raise SystemExit("SHADOWED")\n')
    env = {
        **ch.env,
        "PYTHONPATH": str(shadow),
        "PYTHONINSPECT": "1",
        "PYTHONIOENCODING": "ascii",
        "PYTHONWARNINGS": "error",
        "PYTHONSAFEPATH": "0",
        "PYTHON_VERSION": "3.11",
    }
    request = json.dumps({"ServerURL": SERVER, "Username": "<token>", "Secret": "p\u00e9"})
    store = subprocess.run(
        [HELPER, "store"], input=request.encode(), capture_output=True, env=env, timeout=60
    )
    assert (store.returncode, store.stdout, store.stderr) == (0, b"", b"")
    get = subprocess.run(
        [HELPER, "get"], input=SERVER.encode(), capture_output=True, env=env, timeout=60
    )
    assert get.returncode == 0 and get.stderr == b""
    assert get.stdout == (
        b'{"ServerURL":"registry.example:5000","Username":"\\u003ctoken\\u003e",'
        b'"Secret":"p\xc3\xa9"}\n'
    )
    cli = subprocess.run([CLI, "list"], capture_output=True, env=env, timeout=60)
    assert cli.returncode == 0 and SERVER.encode() in cli.stdout, cli.stderr[-500:]
    assert b"SHADOWED" not in cli.stdout + cli.stderr + get.stdout
