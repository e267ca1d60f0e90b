"""The in-process protocol (`ch.call`) is the executable, byte for byte.

Most protocol tests run credhelper.protocol in the test process for speed. This
test is what lets them: every scenario below runs step by step twice, once
through the installed docker-credential-credhelper and once in-process, each
against its own fresh store, and every step must give the same exit code, stdout
and stderr, and leave the same store state behind (the same listing and the same
set of files). The corpus covers each action, every error class (Go's JSON
errors, the missing-field errors, not-found, usage, the size limit), undecodable
bytes, hints on stderr (a lost key, a corrupt entry), a damaged store and key,
the env key provider and the docker.io alias.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Env, make_env

Step = tuple[str, bytes] | tuple[str, bytes, str] | Callable[[Env], None]


def creds(server: str, user: str, secret: str) -> bytes:
    return json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()


def damage_entry(env: Env) -> None:
    """Flip one byte of one sealed entry: that entry is corrupt, the others are fine."""
    doc = json.loads(env.store.read_bytes())
    entry = doc["auths"]["b.example"]
    sealed = entry["sealed"]
    entry["sealed"] = sealed[:10] + ("A" if sealed[10] != "A" else "B") + sealed[11:]
    env.store.write_text(json.dumps(doc))


def lose_key(env: Env) -> None:
    env.key.unlink()


def garbage_store(env: Env) -> None:
    env.store.write_bytes(b'{"version": 2, "auths": [')


def env_key(env: Env) -> None:
    env.env["CREDHELPER_AESKEY"] = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


def hub_alias(env: Env) -> None:
    env.env["CREDHELPER_DOCKER_IO_IS_HUB"] = "1"


THREE = [
    ("store", creds("a.example", "ua", "pa")),
    ("store", creds("b.example", "ub", "pb")),
    ("store", creds("c.example", "uc", "pc")),
]

SCENARIOS: dict[str, list[Step]] = {
    "round trip": [
        ("list", b""),
        ("store", creds("https://index.docker.io/v1/", "alice", "<s3cret>&")),
        ("get", b"https://index.docker.io/v1/"),
        ("get", b"  https://index.docker.io/v1/\r\n"),
        ("list", b"ignored"),
        ("store", creds("https://index.docker.io/v1/", "<token>", "idtoken")),
        ("get", b"https://index.docker.io/v1/"),
        ("erase", b"https://index.docker.io/v1/"),
        ("erase", b"never-stored"),
        ("get", b"https://index.docker.io/v1/"),
        ("list", b""),
    ],
    "go json": [
        ("store", b'{"serverurl":"s","USERNAME":"u","secret":"p","x":[1,{}]} trailing'),
        ("store", b'{"ServerURL":"t","Username":"v","Secret":null}'),
        ("store", b'{"ServerURL":"u\\ud800","Username":"\xff\xfe","Secret":"a\nb\r\nc"}'),
        ("get", b"s"),
        ("get", b"t"),
        ("get", "u\ufffd".encode()),
        ("list", b""),
    ],
    "store errors": [
        ("store", b""),
        ("store", b"   "),
        ("store", b"{}"),
        ("store", b'{"ServerURL":"s"}'),
        ("store", b"[]"),
        ("store", b'"text"'),
        ("store", b"1."),
        ("store", b"-"),
        ("store", b"NaN"),
        ("store", b'{"ServerURL":1}'),
        ("store", b'{"ServerURL":"s","Username":true}'),
        ("store", b'{"ServerURL":"s",'),
        ("store", b'{"a" 1}'),
        ("store", b"[" * 20_000),
        ("store", b'{"ServerURL":"keep","Username":"u","Secret":"' + b"x" * (1 << 20) + b'"}'),
        ("list", b""),
    ],
    "get and erase input": [
        *THREE,
        ("get", b""),
        ("get", b" \t\r\n"),
        ("erase", b""),
        ("get", b"a.exam\nple"),
        ("get", b"\x1ca.example"),
        ("get", b"a.example\xff"),
        ("get", b"a.example" + b" " * (1 << 20)),
        ("erase", b"a.example\r\n"),
        ("get", b"a.example"),
        ("list", b""),
    ],
    "arguments": [
        ("version", b""),
        ("-v", b""),
        ("--version", b""),
        ("-h", b""),
        ("--help", b""),
        ("GET", b"s"),
        ("", b"s"),
        ("bad\udcff", b"s"),  # an undecodable argv byte goes back out as that byte
        ("get", b"s", "extra"),
        ("list", b"", "list"),
    ],
    "corrupt entry": [
        *THREE,
        damage_entry,
        ("get", b"b.example"),
        ("get", b"a.example"),
        ("list", b""),
    ],
    "lost key": [
        *THREE,
        lose_key,
        ("get", b"a.example"),
        ("list", b""),
        ("store", creds("a.example", "n", "p")),
    ],
    "damaged store": [
        *THREE,
        garbage_store,
        ("get", b"a.example"),
        ("list", b""),
        ("erase", b"a.example"),
    ],
    "env key": [env_key, *THREE, ("get", b"c.example"), ("list", b"")],
    "docker.io alias": [
        hub_alias,
        ("store", creds("https://index.docker.io/v1/", "hub", "pw")),
        ("get", b"docker.io"),
        ("get", b"https://index.docker.io/v1/"),
    ],
}


def unrooted(env: Env, *outputs: bytes) -> list[bytes]:
    return [out.replace(str(env.root).encode(), b"<root>") for out in outputs]


def state(env: Env) -> tuple[bytes, list[str]]:
    """What a later call and an admin see: the listing and the files in the store dir."""
    listing = env.call("list").stdout.replace(str(env.root).encode(), b"<root>")
    names = sorted(os.listdir(env.home)) if env.home.exists() else []
    return listing, names


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_process_protocol_gives_the_executables_bytes(tmp_path: Path, name: str) -> None:
    real, inproc = make_env(tmp_path / "real"), make_env(tmp_path / "inproc")
    for n, step in enumerate(SCENARIOS[name]):
        if callable(step):
            step(real)
            step(inproc)
            continue
        action, stdin, *args = step
        by_exe = real.helper(action, stdin, *args)
        by_call = inproc.call(action, stdin, *args)
        # The one allowed difference: each store lives under its own directory.
        got = (by_call.returncode, *unrooted(inproc, by_call.stdout, by_call.stderr))
        want = (by_exe.returncode, *unrooted(real, by_exe.stdout, by_exe.stderr))
        assert got == want, f"step {n}: {action} {stdin[:60]!r}"
        assert b"internal error" not in by_exe.stdout, f"step {n}: {by_exe.stdout!r}"
    assert state(inproc) == state(real)
