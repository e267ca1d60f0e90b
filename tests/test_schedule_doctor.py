"""`credhelper doctor` on scheduled rotation, with the real crontab and unit files: the
schedule and what it runs, an executable that is gone (and `--fix` re-pointing only our
entry), another credhelper, an overdue key (time moved by faketime), an edited entry,
and a schedule that belongs to another store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from credhelper.schedule import cron
from credhelper.schedule.job import Job
from tests.conftest import CLI, Env, require_tool
from tests.schedule_support import crontab_kept, crontab_list, crontab_set, our_lines, unit_exec
from tests.test_schedule import FOREIGN

pytestmark = pytest.mark.e2e


def doctor(ch: Env, *args: str, env: dict[str, str] | None = None, faketime: str = "") -> Any:
    cmd = [CLI, "doctor", "--json", *args]
    if faketime:
        cmd = [require_tool("faketime"), faketime, *cmd]
    proc = subprocess.run(
        cmd, env=env or ch.env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode in (0, 10), proc.stderr
    return json.loads(proc.stdout)


def findings(report: Any, prefix: str = "schedule.") -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in report["findings"] if f["id"].startswith(prefix)}


def linked_cli(tmp_path: Path) -> Path:
    """Another path to this credhelper (as scripts/install's ~/.local/bin link is)."""
    link_dir = tmp_path / "opt dir %x"
    link_dir.mkdir()
    link = link_dir / "credhelper"
    link.symlink_to(CLI)
    return link


def test_doctor_shows_the_schedule_and_the_key_age(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "pw")
    with crontab_kept():
        assert ch.cli("rotate", "--schedule", "30d", "--reencrypt").returncode == 0
        report = doctor(ch, "--verbose")
        found = findings(report)
        assert set(found) == {"schedule.present"}
        assert found["schedule.present"]["severity"] == "info"
        assert (
            f"{CLI} rotate --if-older-than 30d --yes --json --reencrypt"
            in (found["schedule.present"]["message"])
        )
        assert "key.age" in findings(report, "key.")


def test_missing_executable_is_an_error_and_fix_repoints_only_our_line(
    ch: Env, tmp_path: Path
) -> None:
    ch.store_creds("a.example", "alice", "pw")
    link = linked_cli(tmp_path)
    with crontab_kept():
        crontab_set(FOREIGN)
        proc = subprocess.run(
            [str(link), "rotate", "--schedule", "30d"],
            env=ch.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (line,) = our_lines(crontab_list())
        assert "opt dir" in line
        assert "schedule.executable-missing" not in findings(doctor(ch))

        link.unlink()
        report = doctor(ch)
        missing = findings(report)["schedule.executable-missing"]
        assert missing["severity"] == "error" and missing["fixable"] is True
        assert report["healthy"] is False

        fixed = doctor(ch, "--fix")
        assert any("pointed the scheduled rotation" in a for a in fixed["fixed"])
        assert "schedule.executable-missing" not in findings(fixed)
        text = crontab_list()
        (line,) = our_lines(text)
        assert "opt dir" not in line and CLI in line
        assert text == FOREIGN + line + "\n"


def test_fix_repoints_a_systemd_unit(ch: Env, tmp_path: Path) -> None:
    link = linked_cli(tmp_path)
    units = tmp_path / "units"
    env = {
        **ch.env,
        "CREDHELPER_SCHEDULER": "systemd",
        "CREDHELPER_SYSTEMD_UNIT_DIR": str(units),
        "CREDHELPER_SYSTEMD_SCOPE": "user",
    }
    with crontab_kept() as before:
        cmd = [str(link), "rotate", "--schedule", "3d"]
        subprocess.run(cmd, env=env, capture_output=True, timeout=60, check=True)
        link.unlink()
        assert "schedule.executable-missing" in findings(doctor(ch, env=env))
        fixed = doctor(ch, "--fix", env=env)
        assert "schedule.executable-missing" not in findings(fixed)
        argv, _ = unit_exec(units / "credhelper-rotate.service")
        assert argv == [CLI, "rotate", "--if-older-than", "3d", "--yes", "--json"]
        assert crontab_list() == before


def test_another_credhelper_is_a_warning(ch: Env, tmp_path: Path) -> None:
    other = tmp_path / "old" / "credhelper"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\necho 'credhelper 0.0.1'\n")
    other.chmod(0o755)
    with crontab_kept():
        # Written by the library, as an older credhelper installed elsewhere would have.
        cron.install(
            Job(str(other), "30d", False, (("CREDHELPER_HOME", str(ch.home)),)), str(ch.home)
        )
        found = findings(doctor(ch))
        assert found["schedule.executable-other"]["severity"] == "warning"
        assert "credhelper 0.0.1" in found["schedule.executable-other"]["message"]


def test_overdue_key_is_a_warning(ch: Env) -> None:
    ch.store_creds("a.example", "alice", "pw")
    with crontab_kept():
        assert ch.cli("rotate", "--schedule", "30d").returncode == 0
        assert "schedule.overdue" not in findings(doctor(ch, faketime="+31 days"))
        report = doctor(ch, faketime="+40 days")
        overdue = findings(report)["schedule.overdue"]
        assert overdue["severity"] == "warning"
        assert "30d" in overdue["message"] and "cron" in overdue["fix"]
        assert report["healthy"] is False


def test_edited_entry_is_reported_and_rescheduling_rewrites_it(ch: Env) -> None:
    with crontab_kept():
        crontab_set(FOREIGN)
        assert ch.cli("rotate", "--schedule", "30d").returncode == 0
        (line,) = our_lines(crontab_list())
        edited = "0 4 * * * /bin/true " + line.split("2>&1 ", 1)[1] + "\n"
        crontab_set(FOREIGN + edited)
        assert findings(doctor(ch))["schedule.edited"]["severity"] == "warning"
        assert ch.cli("rotate", "--schedule", "30d").returncode == 0
        text = crontab_list()
        (line,) = our_lines(text)
        assert text == FOREIGN + line + "\n" and "/bin/true" not in line


def test_schedule_of_another_store_is_only_mentioned(ch: Env, tmp_path: Path) -> None:
    other_home = tmp_path / "other-store"
    with crontab_kept():
        env = {**ch.env, "CREDHELPER_HOME": str(other_home)}
        assert ch.cli("rotate", "--schedule", "30d", env=env).returncode == 0
        found = findings(doctor(ch, faketime="+90 days"))
        assert set(found) == {"schedule.other-store"}
        assert found["schedule.other-store"]["severity"] == "info"


def test_doctor_runs_the_scheduled_executable_without_secrets_in_its_env(
    ch: Env, tmp_path: Path
) -> None:
    """doctor asks the scheduled executable for its version; key and token variables
    of doctor's own environment never reach it."""
    dump = tmp_path / "env.json"
    probe = tmp_path / "probe" / "credhelper"
    probe.parent.mkdir()
    probe.write_text(
        f"#!{sys.executable}\nimport json, os\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
        "print('credhelper 0.0.1')\n"
    )
    probe.chmod(0o755)
    secret_env = {
        "CREDHELPER_AESKEY_FILE": str(tmp_path / "nokey"),
        "CREDHELPER_OLD_AESKEY": "b2xkLWtleQ==",
        "VAULT_TOKEN": "s.not-for-children",
        "REGISTRY_PASSWORD": "hunter2",
    }
    with crontab_kept():
        cron.install(
            Job(str(probe), "30d", False, (("CREDHELPER_HOME", str(ch.home)),)), str(ch.home)
        )
        doctor(ch, env={**ch.env, **secret_env})
        seen = json.loads(dump.read_text())
        assert not set(secret_env) & set(seen), sorted(set(secret_env) & set(seen))
        assert not any(v in json.dumps(seen) for v in secret_env.values())


@pytest.mark.parametrize("lost", ["credhelper-rotate.timer", "credhelper-rotate.service"])
def test_half_written_units_are_reported_and_rescheduling_completes_them(
    ch: Env, tmp_path: Path, lost: str
) -> None:
    """As a --schedule killed between its two unit writes would leave them."""
    units = tmp_path / "units"
    env = {
        **ch.env,
        "CREDHELPER_SCHEDULER": "systemd",
        "CREDHELPER_SYSTEMD_UNIT_DIR": str(units),
        "CREDHELPER_SYSTEMD_SCOPE": "user",
    }
    with crontab_kept():
        assert ch.cli("rotate", "--schedule", "30d", env=env).returncode == 0
        (units / lost).unlink()
        assert findings(doctor(ch, env=env))["schedule.edited"]["severity"] == "warning"
        assert ch.cli("rotate", "--schedule", "30d", env=env).returncode == 0
        assert "schedule.edited" not in findings(doctor(ch, env=env))
        assert (units / lost).exists()
        proc = ch.cli("rotate", "--unschedule", env=env)
        assert proc.returncode == 0 and list(units.iterdir()) == []
