"""`credhelper rotate --schedule/--unschedule` against the real crontab and real systemd
unit files (checked with systemd-analyze): one schedule, other crontab lines and
foreign units untouched, odd paths quoted so that /bin/sh and systemd run exactly the
job, providers that cannot be scheduled refused, bad input changing nothing.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, Env
from tests.schedule_support import (
    analyze_verify,
    cron_command,
    crontab_kept,
    crontab_list,
    crontab_set,
    our_lines,
    unit_exec,
)

pytestmark = pytest.mark.e2e

# Lines a user may have: every one must survive byte for byte.
FOREIGN = (
    "MAILTO=ops@example.com\n"
    "# m h dom mon dow command\n"
    "0 * * * * echo '100\\%' done >/dev/null\n"
    "*/7 * * * * /usr/local/bin/credhelper rotate --yes  # hand-written: not ours\n"
    "@reboot   true   \t\n"
)
JOB_ARGS = ["rotate", "--if-older-than", "30d", "--yes", "--json"]
ODD = 'dir with space %p 100%% it\'s "q" \\%x $HOME `id` é'


def systemd_env(ch: Env, units: Path, scope: str) -> dict[str, str]:
    return {
        **ch.env,
        "CREDHELPER_SCHEDULER": "systemd",
        "CREDHELPER_SYSTEMD_UNIT_DIR": str(units),
        "CREDHELPER_SYSTEMD_SCOPE": scope,
    }


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


def test_cron_schedule_is_one_line_and_every_other_line_stays(ch: Env) -> None:
    with crontab_kept():
        crontab_set(FOREIGN)
        for _ in range(2):
            proc = ch.cli("rotate", "--schedule", "30d", "--reencrypt")
            assert proc.returncode == 0, proc.stderr
        text = crontab_list()
        assert text is not None
        (line,) = our_lines(text)
        assert text == FOREIGN + line + "\n"
        assert line.startswith("17 3 * * * ")  # daily: well inside 30 days
        words = shlex.split(cron_command(line), comments=True)
        assert [*JOB_ARGS, "--reencrypt"] == words[words.index(CLI) + 1 : -2]
        assert f"CREDHELPER_HOME={ch.home}" in words

        proc = ch.cli("rotate", "--unschedule")
        assert proc.returncode == 0 and "Removed" in proc.stdout
        assert crontab_list() == FOREIGN
        proc = ch.cli("rotate", "--unschedule")
        assert proc.returncode == 0 and "nothing changed" in proc.stdout
        assert crontab_list() == FOREIGN


def test_unschedule_of_an_only_line_leaves_no_crontab(ch: Env) -> None:
    with crontab_kept():
        crontab_set(None)
        assert ch.cli("rotate", "--schedule", "12h").returncode == 0
        (line,) = our_lines(crontab_list())
        assert line.startswith("17 * * * * ")  # hourly for a 12h period
        assert ch.cli("rotate", "--unschedule").returncode == 0
        assert crontab_list() is None


def test_json_output(ch: Env) -> None:
    with crontab_kept():
        proc = ch.cli("rotate", "--schedule", "2w", "--json")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["scheduled"] is True and out["scheduler"] == "cron"
        assert out["command"] == [CLI, "rotate", "--if-older-than", "2w", "--yes", "--json"]
        assert out["environment"]["CREDHELPER_HOME"] == str(ch.home)
        assert proc.stdout.count("\n") == 1
        proc = ch.cli("rotate", "--unschedule", "--json")
        assert json.loads(proc.stdout) == {"unscheduled": True, "removed": ["the crontab line"]}
        proc = ch.cli("rotate", "--unschedule", "--json")
        assert json.loads(proc.stdout) == {"unscheduled": False, "removed": []}


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (["--schedule", "90"], {}),
        (["--schedule", "4m"], {}),
        (["--schedule", "-30d"], {}),
        (["--schedule", "30d", "--unschedule"], {}),
        (["--unschedule", "--reencrypt"], {}),
        (["--schedule", "30d", "--key-from-env"], {}),
        (["--schedule", "30d"], {"CREDHELPER_SCHEDULER": "anacron"}),
        (["--schedule", "30d"], {"CREDHELPER_HOME": "/tmp/a\nb"}),
        (
            ["--schedule", "30d"],
            {"CREDHELPER_SCHEDULER": "systemd", "CREDHELPER_SYSTEMD_SCOPE": "x"},
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    ch: Env, args: list[str], extra_env: dict[str, str]
) -> None:
    with crontab_kept():
        crontab_set(FOREIGN)
        proc = ch.cli("rotate", *args, env={**ch.env, **extra_env})
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert proc.stderr.startswith(("credhelper: ", "Usage:", "Error:")), proc.stderr
        assert crontab_list() == FOREIGN


def test_env_provider_refuses_in_one_line(ch: Env) -> None:
    env = {**ch.env, "CREDHELPER_AESKEY": base64.b64encode(os.urandom(32)).decode()}
    with crontab_kept():
        crontab_set(FOREIGN)
        proc = ch.cli("rotate", "--schedule", "30d", env=env)
        assert proc.returncode == 1
        line = one_line(proc)
        assert "CREDHELPER_AESKEY" in line and "system that supplies it" in line
        assert env["CREDHELPER_AESKEY"] not in proc.stdout + proc.stderr
        assert crontab_list() == FOREIGN


def test_no_scheduler_is_one_line_exit_1(ch: Env) -> None:
    """Without systemd managing the session and without crontab on PATH."""
    env = {**ch.env, "PATH": str(Path(CLI).parent)}
    with crontab_kept() as before:
        proc = ch.cli("rotate", "--schedule", "30d", env=env)
        assert proc.returncode == 1
        assert "install cron" in one_line(proc)
        proc = ch.cli("rotate", "--unschedule", env=env)
        assert proc.returncode == 0 and "nothing changed" in proc.stdout
        assert crontab_list() == before


@pytest.mark.parametrize("scope", ["user", "system"])
def test_systemd_units_verify_and_run_the_job(ch: Env, tmp_path: Path, scope: str) -> None:
    units = tmp_path / "units"
    odd_home = tmp_path / ODD
    env = {**systemd_env(ch, units, scope), "CREDHELPER_HOME": str(odd_home)}
    with crontab_kept() as before:
        for _ in range(2):
            proc = ch.cli("rotate", "--schedule", "3d", "--reencrypt", env=env)
            assert proc.returncode == 0, proc.stderr
            assert "systemctl" in proc.stdout  # not run here: the command is shown
        assert sorted(p.name for p in units.iterdir()) == [
            "credhelper-rotate.service",
            "credhelper-rotate.timer",
        ]
        verify = analyze_verify(units, scope, tmp_path / "run")
        assert verify.returncode == 0, verify.stderr
        argv, job_env = unit_exec(units / "credhelper-rotate.service")
        assert argv == [CLI, "rotate", "--if-older-than", "3d", "--yes", "--json", "--reencrypt"]
        assert job_env["CREDHELPER_HOME"] == str(odd_home)
        assert "OnCalendar=daily" in (units / "credhelper-rotate.timer").read_text()
        assert crontab_list() == before

        proc = ch.cli("rotate", "--unschedule", env=env)
        assert proc.returncode == 0 and "credhelper-rotate.timer" in proc.stdout
        assert list(units.iterdir()) == []


def test_broken_unit_is_caught_by_systemd_analyze(ch: Env, tmp_path: Path) -> None:
    """The verify step is a real check: the same units with a missing executable fail."""
    units = tmp_path / "units"
    with crontab_kept():
        assert (
            ch.cli("rotate", "--schedule", "30d", env=systemd_env(ch, units, "system")).returncode
            == 0
        )
    service = units / "credhelper-rotate.service"
    service.write_text(service.read_text().replace(f'"{CLI}"', '"/nonexistent/credhelper"'))
    verify = analyze_verify(units, "system", tmp_path / "run")
    assert verify.returncode != 0 and "/nonexistent/credhelper" in verify.stderr


def test_foreign_unit_is_never_overwritten_or_removed(ch: Env, tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    foreign = units / "credhelper-rotate.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    env = systemd_env(ch, units, "user")
    with crontab_kept() as before:
        proc = ch.cli("rotate", "--schedule", "30d", env=env)
        assert proc.returncode == 1
        assert "not written by credhelper" in one_line(proc)
        assert foreign.read_text() == "[Service]\nExecStart=/bin/true\n"
        assert not (units / "credhelper-rotate.timer").exists()
        proc = ch.cli("rotate", "--unschedule", env=env)
        assert proc.returncode == 0, proc.stderr
        assert foreign.read_text() == "[Service]\nExecStart=/bin/true\n"
        assert crontab_list() == before


def test_symlinked_unit_is_refused(ch: Env, tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    (units / "credhelper-rotate.timer").symlink_to(target)
    with crontab_kept():
        proc = ch.cli("rotate", "--schedule", "30d", env=systemd_env(ch, units, "user"))
        assert proc.returncode == 1
        assert "symbolic link" in one_line(proc)
    assert target.read_text() == "precious\n"
    assert not (units / "credhelper-rotate.service").exists()


def test_switching_scheduler_leaves_one_schedule(ch: Env, tmp_path: Path) -> None:
    units = tmp_path / "units"
    env = systemd_env(ch, units, "user")
    with crontab_kept():
        crontab_set(FOREIGN)
        assert ch.cli("rotate", "--schedule", "30d").returncode == 0
        assert len(our_lines(crontab_list())) == 1
        proc = ch.cli("rotate", "--schedule", "30d", env=env)
        assert proc.returncode == 0 and proc.stdout.startswith("Replaced")
        assert crontab_list() == FOREIGN
        assert (units / "credhelper-rotate.timer").exists()
        cron_env_ = {**env, "CREDHELPER_SCHEDULER": "cron"}
        assert ch.cli("rotate", "--schedule", "30d", env=cron_env_).returncode == 0
        assert list(units.iterdir()) == []
        assert len(our_lines(crontab_list())) == 1


def test_concurrent_schedules_leave_one_line_and_the_rest(ch: Env) -> None:
    with crontab_kept():
        crontab_set(FOREIGN)
        procs = [
            subprocess.Popen(
                [CLI, "rotate", "--schedule", period],
                env=ch.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for period in ("30d", "12h", "2w", "90d", "1d")
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        text = crontab_list()
        (line,) = our_lines(text)
        assert text == FOREIGN + line + "\n"


def test_line_too_long_for_cron_is_one_line_and_changes_nothing(ch: Env, tmp_path: Path) -> None:
    """Debian's cron caps a command at 1,000 bytes; crontab's refusal is passed on whole."""
    deep = tmp_path / ("a" * 250) / ("b" * 250) / ("c" * 250)
    env = {**ch.env, "CREDHELPER_HOME": str(deep)}
    with crontab_kept():
        crontab_set(FOREIGN)
        proc = ch.cli("rotate", "--schedule", "30d", env=env)
        assert proc.returncode == 1
        assert "command too long" in one_line(proc)
        assert crontab_list() == FOREIGN
