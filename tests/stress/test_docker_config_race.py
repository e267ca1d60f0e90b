"""Concurrent `credhelper login` runs must not lose each other's Docker config changes.

Each login adds its registry to credHelpers in Docker's config.json. CI jobs log
in to several registries at once; a lost entry means docker silently stops
asking credhelper for that registry.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import CLI, Env

N = 40


@pytest.mark.slow
def test_concurrent_logins_keep_every_credhelpers_entry(ch: Env) -> None:
    procs = [
        subprocess.Popen(
            [CLI, "login", f"reg{i}.example:5000", "-u", "u", "--password-stdin", "--no-verify"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ch.env,
        )
        for i in range(N)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"pw\n")
        proc.stdin.close()
    failed = []
    for i, proc in enumerate(procs):
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read()
        err = proc.stderr.read()  # small: no pipe can fill up while we read the other
        proc.wait(timeout=120)
        proc.stdout.close()
        proc.stderr.close()
        if proc.returncode != 0:
            failed.append((i, err.decode()[-200:]))
    assert not failed, failed[:3]
    listed = json.loads(ch.helper("list").stdout)
    assert len(listed) == N, "a login was lost from the store"
    config = json.loads((ch.docker_config / "config.json").read_text())
    helpers = config.get("credHelpers", {})
    uses_store = config.get("credsStore") == "credhelper"
    missing = [i for i in range(N) if f"reg{i}.example:5000" not in helpers]
    assert uses_store or not missing, f"{len(missing)} credHelpers entries lost: {missing[:5]}"
