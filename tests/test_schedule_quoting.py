"""Quoting of the scheduled job, property-tested with hypothesis: whatever characters the
paths hold (spaces, quotes, `%`, `$`, backslashes, non-ASCII), the crontab line run by
/bin/sh after cron's `%` rules, and the unit as systemd reads it (and as
systemd-analyze verifies it), give the program exactly the job's argv and environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper.errors import UsageError
from credhelper.schedule import cron, systemd
from credhelper.schedule.job import Job
from tests.schedule_support import analyze_verify, cron_command, cron_env, unit_exec

# Path components with every character that means something to cron, sh or systemd.
_COMPONENT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x7f", max_codepoint=0x2FF
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))

_PROBE = (
    "import json, os, sys\n"
    "out = os.path.join(os.environ['CREDHELPER_HOME'], 'probe.json')\n"
    "names = ('CREDHELPER_HOME', 'DOCKER_CONFIG')\n"
    "with open(out, 'w') as f:\n"
    "    json.dump({'argv': sys.argv, 'env': {n: os.environ.get(n) for n in names}}, f)\n"
)


def _probe_tree(root: Path, a: str, b: str) -> tuple[Path, Path, Path]:
    home = root / a / b
    exe_dir = root / b / "bin"
    for d in (home, exe_dir, root / "dc"):
        d.mkdir(parents=True, exist_ok=True)
    exe = exe_dir / "credhelper"
    exe.write_text(f"#!{sys.executable}\n{_PROBE}")
    exe.chmod(0o755)
    return home, exe, root / "dc"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=_COMPONENT, b=_COMPONENT, reencrypt=st.booleans())
def test_cron_line_runs_exactly_the_job_whatever_the_paths(
    tmp_path: Path, a: str, b: str, reencrypt: bool
) -> None:
    """render → cron's `%` rules → /bin/sh: the program gets exactly the job's argv/env."""
    root = tmp_path / os.urandom(4).hex()
    home, exe, dc = _probe_tree(root, a, b)
    job = Job(
        str(exe), "30d", reencrypt, (("CREDHELPER_HOME", str(home)), ("DOCKER_CONFIG", str(dc)))
    )
    if "=" in str(exe):
        # env(1) would take the program's path for a variable: refused, not written.
        with pytest.raises(UsageError, match="contains '='"):
            cron.render(job, str(home))
        return
    line = cron.render(job, str(home))
    assert line.count("\n") == 1 and line.endswith("\n")
    proc = subprocess.run(
        ["/bin/sh", "-c", cron_command(line.rstrip("\n"))],
        env=cron_env(str(root)),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads((home / "probe.json").read_text())
    assert seen == {
        "argv": job.argv(),
        "env": {"CREDHELPER_HOME": str(home), "DOCKER_CONFIG": str(dc)},
    }
    assert cron.parse(line) == job


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=_COMPONENT, b=_COMPONENT)
def test_unit_runs_exactly_the_job_whatever_the_paths(tmp_path: Path, a: str, b: str) -> None:
    """render → systemd's quoting (and systemd-analyze's verdict on it) → the same job."""
    root = tmp_path / os.urandom(4).hex()
    home, exe, dc = _probe_tree(root, a, b)
    job = Job(str(exe), "30d", True, (("CREDHELPER_HOME", str(home)), ("DOCKER_CONFIG", str(dc))))
    if any(c in str(exe) for c in "'\"\\"):
        with pytest.raises(UsageError, match="systemd refuses"):
            systemd.render_service(job)
        return
    units = root / "units"
    units.mkdir()
    (units / "credhelper-rotate.service").write_text(systemd.render_service(job))
    (units / "credhelper-rotate.timer").write_text(systemd.render_timer(job))
    verify = analyze_verify(units, "system", root / "run")
    assert verify.returncode == 0, verify.stderr
    argv, env = unit_exec(units / "credhelper-rotate.service")
    assert argv == job.argv()
    assert env == {"CREDHELPER_HOME": str(home), "DOCKER_CONFIG": str(dc)}
    assert systemd.parse_service(systemd.render_service(job)) == job


def test_cron_refuses_a_program_path_with_an_equals_sign(tmp_path: Path) -> None:
    """env(1) reads `/a=b/credhelper` as a variable: the job would exit 127 every night."""
    home, exe, _dc = _probe_tree(tmp_path, "a=b", "c")
    exe = exe.rename(tmp_path / "a=b" / "credhelper")
    job = Job(str(exe), "30d", False, (("CREDHELPER_HOME", str(home)),))
    with pytest.raises(UsageError, match="contains '='") as err:
        cron.render(job, str(home))
    assert str(exe) in str(err.value) and "\n" not in str(err.value)
