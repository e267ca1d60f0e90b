"""The real docker CLI as the oracle for what it reads from a config.json.

`docker login SERVER` with no daemon still loads the config file and, when it
finds a stored login for SERVER, prints "Authenticating with existing
credentials... [Username: NAME]" before it fails to connect. Tests use that to
learn what docker itself takes from a file, instead of guessing Go's rules.
"""

from __future__ import annotations

import subprocess

from tests.conftest import Env, require_tool


def docker_login_says(ch: Env, config: bytes, server: str = "127.0.0.1:1") -> str:
    """docker's output (stdout + stderr) for `docker login server` over a copy of
    `config` (docker may rewrite what it loads), with no daemon to reach."""
    docker = require_tool("docker")
    copy = ch.root / "oracle-copy"
    copy.mkdir(exist_ok=True)
    (copy / "config.json").write_bytes(config)
    env = dict(ch.env, DOCKER_HOST=f"unix://{ch.root}/no-daemon.sock")
    proc = subprocess.run(
        [docker, "--config", str(copy), "login", server],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return proc.stdout + proc.stderr
