"""Concurrent `store` and `get` through the real helper; splice vs full render.

Readers take no lock and writers splice one entry into tag-verified bytes. 24
writers and 24 readers run at once (bounded) on a store of a few entries: every
`get` must return a login that was really stored (never a mix, never an error),
and the file left behind must be byte for byte the full rendering of what it
holds (the splice path must not drift from the renderer). Held on the code under
attack; kept as a regression guard.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from credhelper.crypto import Sealer
from credhelper.store import parse_document, serialize_document
from tests.conftest import HELPER, make_env

SERVERS = ["a.example", "m.example", "z.example"]


def _run(env: dict[str, str], action: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [HELPER, action], input=data, env=env, capture_output=True, timeout=120, check=False
    )


def _store(env: dict[str, str], server: str, user: str, secret: str) -> None:
    payload = json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()
    proc = _run(env, "store", payload)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_concurrent_stores_and_gets_see_only_stored_logins(tmp_path: Path) -> None:
    env = make_env(tmp_path / "u")
    e = dict(env.env)
    e.pop("CREDHELPER_KEY_PROVIDER", None)
    stored: dict[str, set[tuple[str, str]]] = {s: set() for s in SERVERS}
    for s in SERVERS:
        _store(e, s, f"u-{s}-0", f"p-{s}-0" + "x" * 40)
        stored[s].add((f"u-{s}-0", f"p-{s}-0" + "x" * 40))
    jobs = []
    for i in range(1, 25):
        s = SERVERS[i % 3]
        user, secret = f"u-{s}-{i}", f"p-{s}-{i}" + "y" * (i * 7)
        stored[s].add((user, secret))
        jobs.append(("store", s, user, secret))
        jobs.append(("get", SERVERS[(i + 1) % 3], "", ""))

    def work(job: tuple[str, str, str, str]) -> tuple[str, str, bytes, int]:
        action, s, user, secret = job
        if action == "store":
            _store(e, s, user, secret)
            return action, s, b"", 0
        proc = _run(e, "get", s.encode())
        return action, s, proc.stdout + proc.stderr, proc.returncode

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(work, jobs, timeout=600))
    for action, s, out, rc in results:
        if action != "get":
            continue
        assert rc == 0, out
        got = json.loads(out)
        assert got["ServerURL"] == s
        assert (got["Username"], got["Secret"]) in stored[s], out

    raw = (env.home / "config.json").read_bytes()
    key = (env.home / "aeskey").read_bytes()
    doc = parse_document(raw, "x")
    doc.source = None  # the full renderer, not the splice
    strip = re.compile(rb'\n "authsTag": \{[^}]*\},')
    rendered = serialize_document(doc, Sealer(_key(key)))
    assert strip.sub(b"", raw) == strip.sub(b"", rendered)
    for s in SERVERS:
        proc = _run(e, "get", s.encode())
        assert proc.returncode == 0 and (
            tuple(json.loads(proc.stdout)[k] for k in ("Username", "Secret")) in stored[s]
        )
    assert os.stat(env.home / "config.json").st_mode & 0o077 == 0


def _key(blob: bytes) -> bytes:
    import base64

    if len(blob) == 32:  # raw key bytes (a strip() would cut a key ending in b" ")
        return blob
    return base64.b64decode(blob.strip())
