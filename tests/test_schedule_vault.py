"""Scheduled rotation with the vault provider against a real OpenBao server: a token only
in VAULT_TOKEN is refused (it would have to be written into the crontab); with a token
file the job gets the server's settings but no token, and under faketime '+31 days'
the job read back from the crontab rotates.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.openbao_server import OpenBao, make_host, openbao  # noqa: F401 -- the fixture
from tests.schedule_support import (
    at_offset,
    cron_command,
    cron_env,
    crontab_kept,
    crontab_list,
    our_lines,
)
from tests.test_vault_rotate import creds, rotator_token

pytestmark = pytest.mark.e2e


def test_vault_job_uses_a_token_file_never_the_token(
    tmp_path: Path,
    openbao: OpenBao,  # noqa: F811
) -> None:
    key = openbao.new_key("sched")
    token = rotator_token(openbao, key)
    host = make_host(tmp_path / "h", openbao, key, token)
    host.ch.store_creds("reg.example", "ci", "pw")
    with crontab_kept() as before:
        proc = host.ch.cli("rotate", "--schedule", "30d", "--reencrypt")
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and "VAULT_TOKEN" in proc.stderr
        assert token not in proc.stderr
        assert crontab_list() == before

        token_file = tmp_path / "agent-sink"
        token_file.write_text(token)
        token_file.chmod(0o600)
        env = {k: v for k, v in host.ch.env.items() if k != "VAULT_TOKEN"}
        env["CREDHELPER_VAULT_TOKEN_FILE"] = str(token_file)
        host.ch.env = env
        proc = host.ch.cli("rotate", "--schedule", "30d", "--reencrypt")
        assert proc.returncode == 0, proc.stderr
        (line,) = our_lines(crontab_list())
        assert token not in line
        command = cron_command(line)
        assert f"VAULT_ADDR={env['VAULT_ADDR']}" in command
        assert f"CREDHELPER_VAULT_TOKEN_FILE={token_file}" in command

        before_key = openbao.key_info(key)["latest_version"]
        done = subprocess.run(
            ["/bin/sh", "-c", at_offset(command, "+31 days")],
            env=cron_env(str(host.ch.root)),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    log = host.ch.home / "config.json.rotate.log"
    result = json.loads(log.read_text().splitlines()[-1])
    assert result["rotated"] is True, result
    assert openbao.key_info(key)["latest_version"] == before_key + 1
    assert creds(host)["Secret"] == "pw"
