"""scripts/install, then `credhelper rotate --schedule` run by name from PATH, as the README
says: the crontab line names the absolute ~/.local/bin/credhelper that scripts/install
made, and that line, run as cron runs it a month later (faketime), rotates the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.schedule_support import (
    at_offset,
    cron_command,
    cron_env,
    crontab_kept,
    crontab_list,
    our_lines,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent


def test_installed_credhelper_schedules_itself_by_its_absolute_path(tmp_path: Path) -> None:
    require_tool("faketime")
    home = tmp_path / "home"
    home.mkdir()
    # The user layout, also when the tests run as root (whose default is /usr/local):
    # the links go into ~/.local/bin, which must be on PATH for the install to proceed.
    base = {
        "PATH": f"{home}/.local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHON": sys.executable,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "CREDHELPER_BINDIR": f"{home}/.local/bin",
        "CREDHELPER_PREFIX": f"{home}/.local/share/credhelper",
    }
    proc = subprocess.run(
        [str(REPO / "scripts" / "install")],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    installed = home / ".local" / "bin" / "credhelper"
    assert f"Installed {installed} " in proc.stdout
    user_env = {**base, "PATH": f"{installed.parent}:/usr/bin:/bin"}
    store_key = home / ".docker" / "credhelper" / "aeskey"
    before = store_key.read_bytes()
    with crontab_kept():
        proc = subprocess.run(
            ["credhelper", "rotate", "--schedule", "30d", "--reencrypt"],
            env=user_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (line,) = our_lines(crontab_list())
        command = cron_command(line)
        assert f"{installed} rotate --if-older-than 30d" in command
        # This HOME is not root's home in the password database (which cron uses):
        # the job is told where Docker's config, and so the store, is.
        assert f"DOCKER_CONFIG={home}/.docker " in command
        run = subprocess.run(
            ["/bin/sh", "-c", at_offset(command, "+31 days")],
            env=cron_env(str(home)),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    log = home / ".docker" / "credhelper" / "config.json.rotate.log"
    assert json.loads(log.read_text().splitlines()[-1])["rotated"] is True
    assert store_key.read_bytes() != before
