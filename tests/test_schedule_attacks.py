"""Attacks on scheduled key rotation (rotate --schedule / --if-older-than, doctor).

Each test names the attack it replays (first found by a security review of the
schedule code) and what credhelper must do instead. None touches the real
crontab: `crontab` on the children's PATH is a stub (that says "no crontab", or
keeps the crontab in a file), and the systemd backend writes into a test
directory (CREDHELPER_SYSTEMD_UNIT_DIR), where systemctl is never called.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from credhelper.schedule.job import JOB_ENV
from tests.conftest import CLI, HELPER, Env, require_tool
from tests.schedule_support import unit_exec

pytestmark = pytest.mark.e2e

SECRET_AUTH = '{"auths":{"r.example":{"auth":"dTpzM2NyZXQtcmVnaXN0cnktcHc="}}}'


def sched_env(ch: Env, tmp_path: Path) -> dict[str, str]:
    """ch.env with the systemd backend in a test directory and a stub crontab."""
    stub_dir = tmp_path / "stub-bin"
    stub_dir.mkdir(exist_ok=True)
    stub = stub_dir / "crontab"
    stub.write_text('#!/bin/sh\necho "no crontab for a3" >&2\nexit 1\n')
    stub.chmod(0o755)
    return {
        **ch.env,
        "PATH": f"{stub_dir}:{ch.env['PATH']}",
        "CREDHELPER_SCHEDULER": "systemd",
        "CREDHELPER_SYSTEMD_UNIT_DIR": str(tmp_path / "units"),
        "CREDHELPER_SYSTEMD_SCOPE": "user",
    }


def run(cmd: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def doctor(env: dict[str, str], *args: str) -> Any:
    proc = run([CLI, "doctor", "--json", *args], env)
    assert proc.returncode in (0, 10), proc.stderr
    return json.loads(proc.stdout)


def store_login_at(env: dict[str, str], faketime: str) -> None:
    """The first login (which creates the key) while the clock says `faketime`."""
    tool = require_tool("faketime")
    data = json.dumps({"ServerURL": "a.example", "Username": "alice", "Secret": "pw"})
    proc = run([tool, "-f", faketime, HELPER, "store"], env, stdin=data)
    assert proc.returncode == 0, proc.stderr


# --- key age from a clock that was ahead -------------------------------------------------


def test_key_created_in_the_future_is_never_rotated(ch: Env, tmp_path: Path) -> None:
    """Attack: a key whose recorded creation time lies in the future (the clock was
    ahead when it was made, or a scheduled run happened under a wrong clock) has a
    negative age, so `rotate --if-older-than` believes it is young and never rotates it
    until the clock catches up -- ten years here, instead of one day. It counts as
    old, and the result says why."""
    env = sched_env(ch, tmp_path)
    store_login_at(env, "+3650d")
    proc = run([CLI, "rotate", "--if-older-than", "1d", "--yes", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rotated"], (
        "a key created ten years in the future was believed young and not rotated: "
        f"{proc.stdout.strip()}"
    )
    assert result["reason"] == "created-in-future"
    text = run([CLI, "rotate", "--if-older-than", "1d", "--yes"], env)
    assert text.returncode == 0 and "Not rotated" in text.stdout, "the new key is young"


def test_doctor_flags_a_key_created_in_the_future(ch: Env, tmp_path: Path) -> None:
    """Attack: doctor reported such a key as `key.age` info "(0s ago)" and, with a 30d
    schedule installed, no warning: nothing told the user the scheduled rotation
    would not happen for years. Now: key.created-in-future, and the age keeps its sign."""
    env = sched_env(ch, tmp_path)
    store_login_at(env, "+3650d")
    assert run([CLI, "rotate", "--schedule", "30d"], env).returncode == 0
    report = doctor(env)
    flagged = [
        f
        for f in report["findings"]
        if f["id"].startswith(("key.", "schedule.")) and f["severity"] in ("warning", "error")
    ]
    age = [f for f in report["findings"] if f["id"] == "key.age"]
    assert flagged, f"a key created in the future was reported as healthy: {age}"
    (future,) = [f for f in report["findings"] if f["id"] == "key.created-in-future"]
    assert future["severity"] == "warning" and "credhelper rotate" in future["fix"]
    assert "0s ago" not in age[0]["message"] and "-3649d" in age[0]["message"]


def test_a_key_a_few_minutes_ahead_is_within_the_clock_skew(ch: Env, tmp_path: Path) -> None:
    """Clocks of machines sharing a store differ a little: a key 5 minutes "in the
    future" is a young key (rotation by age leaves it), not a warning."""
    env = sched_env(ch, tmp_path)
    store_login_at(env, "+5m")
    proc = run([CLI, "rotate", "--if-older-than", "1d", "--yes", "--json"], env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["rotated"] is False, proc.stdout
    ids = {f["id"] for f in doctor(env)["findings"]}
    assert "key.created-in-future" not in ids


# --- doctor runs the scheduled program ---------------------------------------------------


def planted_service(env: dict[str, str], tmp_path: Path, exe: str, extra_env: str = "") -> Path:
    """Our own units, then the service edited (as anyone with write access to the unit
    directory could) to run `exe`, still in the exact form credhelper writes."""
    assert run([CLI, "rotate", "--schedule", "30d"], env).returncode == 0
    service = tmp_path / "units" / "credhelper-rotate.service"
    text = service.read_text()
    text = re.sub(r'^ExecStart="[^"]*"', f'ExecStart="{exe}"', text, flags=re.M)
    if extra_env:
        text = text.replace("UMask=0077\n", "UMask=0077\n" + extra_env)
    service.write_text(text)
    return service


def test_doctor_gives_docker_auth_config_to_the_scheduled_program(ch: Env, tmp_path: Path) -> None:
    """Attack: doctor ran the schedule's executable (`EXE --version`) with its own
    environment minus names containing KEY/TOKEN/SECRET/PASSWORD. DOCKER_AUTH_CONFIG
    (registry credentials, base64 user:password) and a lowercase vault_token passed
    that filter. Now the program gets PATH, HOME and the locale only."""
    ch.store_creds("a.example", "alice", "pw")
    env = sched_env(ch, tmp_path)
    spy_out = tmp_path / "spy-env.txt"
    spy = tmp_path / "spy" / "credhelper"
    spy.parent.mkdir()
    spy.write_text(f"#!/bin/sh\nenv > '{spy_out}'\necho 'credhelper 0.0.1'\n")
    spy.chmod(0o755)
    planted_service(env, tmp_path, str(spy))
    report = doctor({**env, "DOCKER_AUTH_CONFIG": SECRET_AUTH, "vault_token": "s.lower-case"})
    assert spy_out.exists(), "doctor did not run the scheduled program (the premise)"
    seen = spy_out.read_text()
    leaked = [line for line in seen.splitlines() if "dTpzM2NyZXQ" in line or "lower-case" in line]
    assert not leaked, f"doctor handed secrets to {spy}: {leaked}"
    names = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
    assert not names & {"DOCKER_CONFIG", "CREDHELPER_HOME", "CREDHELPER_SCHEDULER"}, names
    assert "schedule.executable-other" in {f["id"] for f in report["findings"]}


def test_doctor_fix_keeps_a_planted_environment(ch: Env, tmp_path: Path) -> None:
    """Attack: `doctor --fix` re-installed a schedule whose executable is gone with the
    environment parsed from the entry, verbatim. Variables credhelper never writes
    (LD_PRELOAD, PYTHONSTARTUP; the job's environment is only JOB_ENV plus the
    provider's settings) survived, and the fix turned the dead entry into a live job
    running the real credhelper under them. Now doctor names them and --fix drops them."""
    ch.store_creds("a.example", "alice", "pw")
    env = sched_env(ch, tmp_path)
    planted = (
        f'Environment="LD_PRELOAD={tmp_path}/evil.so"\n'
        f'Environment="PYTHONSTARTUP={tmp_path}/evil.py"\n'
    )
    service = planted_service(env, tmp_path, str(tmp_path / "gone" / "credhelper"), planted)
    found = {f["id"]: f for f in doctor(env)["findings"]}
    assert "schedule.executable-missing" in found
    assert "LD_PRELOAD" in found["schedule.foreign-env"]["message"]
    doctor(env, "--fix")
    argv, job_env = unit_exec(service)
    assert argv[0] == CLI, "the premise: --fix re-pointed the schedule at this credhelper"
    foreign = sorted(set(job_env) - set(JOB_ENV))
    assert not foreign, f"doctor --fix wrote foreign variables into the unit: {foreign}"


# --- cron: the user's own environment lines reach our job ----------------------------------


def fake_crontab(tmp_path: Path, text: str) -> tuple[dict[str, str], Path]:
    """A `crontab` on PATH that keeps the crontab in a file (never the real one)."""
    table = tmp_path / "crontab.txt"
    table.write_text(text)
    stub_dir = tmp_path / "cron-bin"
    stub_dir.mkdir()
    stub = stub_dir / "crontab"
    stub.write_text(
        "#!/bin/sh\n"
        f"F='{table}'\n"
        'case "$1" in\n'
        '  -l) [ -f "$F" ] && exec cat "$F"; echo "no crontab for a3" >&2; exit 1;;\n'
        '  -r) rm -f "$F"; exit 0;;\n'
        '  -) cat > "$F"; exit 0;;\n'
        "esac\nexit 2\n"
    )
    stub.chmod(0o755)
    return {"PATH": str(stub_dir)}, table


_ENV_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def run_like_cron(table: Path, home: str) -> subprocess.CompletedProcess[str]:
    """Run our line as cron(8) does: its environment is cron's own plus every
    `NAME=value` line above it in the crontab (load_user() accumulates them)."""
    from tests.schedule_support import MARKER, cron_command, cron_env

    env = cron_env(home)
    for line in table.read_text().splitlines():
        if MARKER in line:
            cmd = ["/bin/sh", "-c", cron_command(line)]
            return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        match = _ENV_LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            env[match.group(1)] = match.group(2).strip("'\"")
    raise AssertionError("our line is not in the crontab")


def test_cron_job_inherits_a_foreign_credhelper_home_line(ch: Env, tmp_path: Path) -> None:
    """Attack: the job named only the variables set when scheduling. A
    `CREDHELPER_HOME=` (or `LD_PRELOAD=`) line the user keeps in the crontab for
    other jobs applied to our appended line too, so the scheduled job rotated -- with
    a forced rotation, invalidated the logins of -- another store, while the store it
    was scheduled for was never rotated. Now the line runs under `env -i` with the
    store written in it. (The key is made 40 days ago rather than the job run 40 days
    ahead: faketime works through the environment, which `env -i` rightly drops.)"""
    other = tmp_path / "ci-store"
    path_env, table = fake_crontab(
        tmp_path, f"CREDHELPER_HOME={other}\n0 4 * * * /usr/bin/true nightly ci job\n"
    )
    env = {k: v for k, v in ch.env.items() if k != "CREDHELPER_HOME"}
    env["PATH"] = f"{path_env['PATH']}:{env['PATH']}"
    env["CREDHELPER_SCHEDULER"] = "cron"
    intended = ch.docker_config / "credhelper"
    data = json.dumps({"ServerURL": "a.example", "Username": "alice", "Secret": "pw"})
    tool = require_tool("faketime")
    assert run([tool, "-f", "-40d", HELPER, "store"], env, stdin=data).returncode == 0
    key_before = (intended / "aeskey").read_bytes()
    assert run([CLI, "rotate", "--schedule", "30d"], env).returncode == 0
    (line,) = [x for x in table.read_text().splitlines() if "credhelper-schedule" in x]
    assert f"CREDHELPER_HOME={intended}" in line
    job = run_like_cron(table, str(ch.root))
    assert job.returncode == 0, job.stderr
    assert not other.exists(), f"the scheduled job rotated {other}, not {intended}"
    assert (intended / "aeskey").read_bytes() != key_before, "the intended store was not rotated"


# --- doctor on an entry edited to a period credhelper would refuse -----------------------


@pytest.mark.parametrize("period", ["xyz", "0s", "99999999999999w", "1s", "4m", "30D"])
def test_doctor_survives_an_edited_period(ch: Env, tmp_path: Path, period: str) -> None:
    """Attack: parse_service/parse accepted any word as the period. An entry edited to
    a period parse_duration refuses made the whole `credhelper doctor` die with
    "internal error (DurationError)", and one --schedule refuses (1s) looked healthy.
    Now both are `schedule.edited`, in either scheduler."""
    ch.store_creds("a.example", "alice", "pw")
    env = sched_env(ch, tmp_path)
    assert run([CLI, "rotate", "--schedule", "30d"], env).returncode == 0
    service = tmp_path / "units" / "credhelper-rotate.service"
    text = service.read_text().replace('"--if-older-than" "30d"', f'"--if-older-than" "{period}"')
    service.write_text(text)
    proc = run([CLI, "doctor", "--json"], env)
    assert proc.returncode in (0, 10), f"doctor died: {proc.stderr.strip()}"
    ids = {f["id"] for f in json.loads(proc.stdout)["findings"]}
    assert "schedule.edited" in ids


# --- the environment credhelper hands to crontab ---------------------------------------------


def test_crontab_child_gets_the_key_from_the_environment(ch: Env, tmp_path: Path) -> None:
    """Attack (low): `rotate --unschedule` and `doctor` ran `crontab` (found on PATH)
    with credhelper's whole environment, CREDHELPER_AESKEY and DOCKER_AUTH_CONFIG
    included: the store key reached a child process that needs none of it."""
    spy_out = tmp_path / "crontab-env.txt"
    stub_dir = tmp_path / "spy-bin"
    stub_dir.mkdir()
    stub = stub_dir / "crontab"
    stub.write_text(f"#!/bin/sh\nenv >> '{spy_out}'\necho 'no crontab for a3' >&2\nexit 1\n")
    stub.chmod(0o755)
    key = "q" * 43 + "="
    env = {
        **ch.env,
        "PATH": f"{stub_dir}:{ch.env['PATH']}",
        "CREDHELPER_SCHEDULER": "cron",
        "CREDHELPER_AESKEY": key,
        "DOCKER_AUTH_CONFIG": SECRET_AUTH,
    }
    run([CLI, "rotate", "--unschedule"], env)
    run([CLI, "doctor", "--json"], env)
    assert spy_out.exists(), "credhelper did not run crontab (the premise)"
    leaked = [
        line.split("=", 1)[0]
        for line in spy_out.read_text().splitlines()
        if key in line or "dTpzM2NyZXQ" in line
    ]
    assert not leaked, f"crontab was given {sorted(set(leaked))}"


def test_systemctl_and_helper_children_get_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """systemctl (only where systemd manages the session, so not run here) gets the
    basics and its way to the user manager; never a key, token or login variable."""
    from credhelper import childenv
    from credhelper.schedule import systemd

    secrets = {
        "CREDHELPER_AESKEY": "q" * 44,
        "DOCKER_AUTH_CONFIG": SECRET_AUTH,
        "vault_token": "s.x",
        "BAO_TOKEN": "s.y",
        "LD_PRELOAD": "/tmp/evil.so",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = systemd.systemctl_env()
    assert not set(secrets) & set(env), sorted(set(secrets) & set(env))
    assert env["XDG_RUNTIME_DIR"] == "/run/user/1000" and env["LC_ALL"] == "C.UTF-8"
    assert not set(secrets) & set(childenv.minimal())


def test_negative_durations_keep_their_sign() -> None:
    from credhelper import durations

    assert durations.format_duration(-(3 * 86400 + 4 * 3600)) == "-3d 4h"
    assert durations.format_duration(-40) == "-40s"
    assert durations.format_duration(40) == "40s"


def test_crontab_lines_that_reach_an_older_form_job_are_named(ch: Env, tmp_path: Path) -> None:
    """A line written by an earlier credhelper (no `env -i`) still works, and doctor
    names the crontab lines that reach it, and a SHELL= line that reaches any job."""
    from credhelper.schedule import cron
    from credhelper.schedule.job import Job

    ch.store_creds("a.example", "alice", "pw")
    job = Job(CLI, "30d", False, (("CREDHELPER_HOME", str(ch.home)),))
    sealed = cron.render(job, str(ch.home))
    older = sealed.replace(f"{cron.ENV_EXE} -i HOME=", "HOME=")
    older = re.sub(r"HOME=\S+ LOGNAME=\S+ PATH=\S+ ", "", older)
    assert "env -i" not in older
    assert cron.parse(older) == Job(CLI, "30d", False, job.env, sealed=False)
    foreign = f"LD_PRELOAD={tmp_path}/evil.so\nSHELL=/bin/bash\nMAILTO=me\n"
    path_env, _ = fake_crontab(tmp_path, foreign + older)
    env = {**ch.env, "PATH": f"{path_env['PATH']}:{ch.env['PATH']}"}
    found = {f["id"]: f for f in doctor(env)["findings"]}
    assert found["schedule.cron-env"]["severity"] == "warning"
    assert "LD_PRELOAD" in found["schedule.cron-env"]["message"]
    assert "SHELL" not in found["schedule.cron-env"]["message"]  # bash runs our line as sh
    (tmp_path / "crontab.txt").write_text(
        f"SHELL={tmp_path}/odd-shell\nLD_PRELOAD=/x.so\n" + sealed
    )
    found = {f["id"]: f for f in doctor(env)["findings"]}
    message = found["schedule.cron-env"]["message"]
    assert "SHELL" in message and "LD_PRELOAD" not in message  # env -i drops LD_PRELOAD
    (tmp_path / "crontab.txt").write_text("MAILTO=me\n" + sealed)
    assert "schedule.cron-env" not in {f["id"] for f in doctor(env)["findings"]}


def test_units_with_a_planted_variable_are_named(ch: Env, tmp_path: Path) -> None:
    """A unit whose executable is still this credhelper but which was given an
    Environment= credhelper never writes: a warning, not `schedule.present` alone."""
    ch.store_creds("a.example", "alice", "pw")
    env = sched_env(ch, tmp_path)
    planted_service(env, tmp_path, CLI, 'Environment="PYTHONPATH=/tmp/evil"\n')
    found = {f["id"]: f for f in doctor(env)["findings"]}
    assert "PYTHONPATH" in found["schedule.foreign-env"]["message"]
    assert run([CLI, "rotate", "--schedule", "30d"], env).returncode == 0
    assert "schedule.foreign-env" not in {f["id"] for f in doctor(env)["findings"]}


def test_an_edited_home_in_our_line_and_a_drop_in_are_named(ch: Env, tmp_path: Path) -> None:
    """The basics credhelper writes (HOME, LOGNAME, PATH) edited in its crontab line,
    and a drop-in beside its unit (systemd merges it into the job): both named."""
    from credhelper.schedule import cron
    from credhelper.schedule.job import Job

    ch.store_creds("a.example", "alice", "pw")
    line = cron.render(Job(CLI, "30d", False, (("CREDHELPER_HOME", str(ch.home)),)), "/x")
    edited = re.sub(r"-i HOME=\S+ ", f"-i HOME={tmp_path} ", line)
    assert edited != line
    path_env, _ = fake_crontab(tmp_path, edited)
    env = {**ch.env, "PATH": f"{path_env['PATH']}:{ch.env['PATH']}"}
    found = {f["id"]: f for f in doctor(env)["findings"]}
    assert "HOME" in found["schedule.foreign-env"]["message"]

    env = sched_env(ch, tmp_path)
    assert run([CLI, "rotate", "--schedule", "30d"], env).returncode == 0
    assert "schedule.foreign-env" not in {f["id"] for f in doctor(env)["findings"]}
    dropin = tmp_path / "units" / "credhelper-rotate.service.d"
    dropin.mkdir()
    (dropin / "override.conf").write_text("[Service]\nEnvironment=LD_PRELOAD=/x.so\n")
    found = {f["id"]: f for f in doctor(env)["findings"]}
    assert "override.conf" in found["schedule.foreign-env"]["message"]


def test_the_text_output_says_why_a_future_key_was_rotated(ch: Env, tmp_path: Path) -> None:
    env = sched_env(ch, tmp_path)
    store_login_at(env, "+30d")
    proc = run([CLI, "rotate", "--if-older-than", "90d", "--yes", "--reencrypt"], env)
    assert proc.returncode == 0, proc.stderr
    assert "Rotated the key" in proc.stdout and "in the future" in proc.stdout
