"""credhelper.cleanup against real signals: temp dirs go, children die, the exit says which signal.

A small script (run with this interpreter) holds a cleanup.temp_dir and a
cleanup.Child (a `sleep`) inside cleanup.guard(), prints both, and waits. The test
sends each of the four signals and checks what a user would: the process died of
that signal, the directory is gone, and the child (and its group) is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = r"""
import os, sys, time
from credhelper import cleanup

with cleanup.guard():
    with cleanup.temp_dir("credhelper-test-") as d:
        open(os.path.join(d, "secret"), "w").write("x")
        with cleanup.Child(["sleep", "300"], grace=2.0) as child:
            try:
                print(d, child.proc.pid, flush=True)
                child.wait()
            finally:
                if os.environ.get("SLOW_FINALLY"):
                    # A second signal during the unwind must not cut it short.
                    print("unwinding", flush=True)
                    time.sleep(0.5)
                    open(os.path.join(os.environ["SLOW_FINALLY"], "done"), "w").close()
"""

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it holds nothing, but check the state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, bound: float = 10.0) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _start(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], Path, int]:
    full = dict(os.environ, TMPDIR=str(tmp_path), **env)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 2, proc.stderr.read() if proc.stderr else ""
    return proc, Path(line[0]), int(line[1])


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_signal_unwinds_and_reraises(tmp_path: Path, signum: int) -> None:
    proc, directory, child = _start(tmp_path)
    assert directory.is_dir() and _alive(child)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signum, err
    assert "Traceback" not in err
    assert not directory.exists()
    assert _wait_gone(child)
    assert list(tmp_path.iterdir()) == []


def test_second_signal_does_not_cut_the_unwind(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    proc, directory, child = _start(tmp_path, SLOW_FINALLY=str(marker))
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "unwinding"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert (marker / "done").exists()
    assert not directory.exists()
    assert _wait_gone(child)


def test_sigkill_of_the_parent_takes_the_child_along(tmp_path: Path) -> None:
    proc, _directory, child = _start(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_gone(child)  # PR_SET_PDEATHSIG


def test_child_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from credhelper import cleanup\n"
        "with cleanup.guard():\n"
        "    c = cleanup.Child([sys.executable, '-c', "
        "'import signal,time,sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(300)'], grace=0.5, stdout=-1)\n"
        "    with c:\n"
        "        c.proc.stdout.readline()\n"
        "        print(c.proc.pid, flush=True)\n"
        "        c.wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGHUP
    assert _wait_gone(child)


def test_critical_holds_a_signal_until_the_block_ends(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from credhelper import cleanup\n"
        "with cleanup.guard():\n"
        "    with cleanup.critical():\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        print('still here', flush=True)\n"
        "    print('not reached', flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == -signal.SIGTERM
    assert proc.stdout.split() == ["still", "here"]


LOCK_TRAP = r"""
import signal, sys
from credhelper import cleanup

class Trap:
    # Popen's wait lock, with the signal handler firing the instant after a
    # non-blocking acquire succeeds: the window between Popen taking the lock and
    # entering the `try` that releases it (a signal can land there).
    def __init__(self, real):
        self.real, self.armed = real, True
    def acquire(self, blocking=True, timeout=-1):
        got = self.real.acquire(blocking, timeout)
        if got and not blocking and self.armed:
            self.armed = False
            cleanup._handler(signal.SIGTERM, None)
        return got
    def release(self):
        self.real.release()
    def __enter__(self):
        self.acquire()
    def __exit__(self, *exc):
        self.release()

with cleanup.guard():
    with cleanup.Child(["sleep", "300"], grace=1.0) as child:
        child.proc._waitpid_lock = Trap(child.proc._waitpid_lock)
        print(child.proc.pid, flush=True)
        child.wait()
"""


def test_a_signal_inside_popens_lock_window_does_not_hang_the_unwind() -> None:
    """A SIGTERM landing just after Popen.wait() took its lock used to leave the
    lock taken: stop() then waited for it forever, and the command never ended."""
    child = int(_ends_by_sigterm(LOCK_TRAP))
    assert _wait_gone(child)


def _ends_by_sigterm(script: str) -> str:
    """Run `script`; it must end killed by SIGTERM, without a traceback, within 30 s.
    Returns the first line it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # hung: what the test is about
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGTERM, err
    assert "Traceback" not in err
    return first


RUN_TRAP = (
    LOCK_TRAP.split("with cleanup.guard():")[0]
    + r"""
import subprocess, time
from credhelper import childrun

real_init = subprocess.Popen.__init__
def init(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    self._waitpid_lock = Trap(self._waitpid_lock)
subprocess.Popen.__init__ = init

with cleanup.guard():
    print("ready", flush=True)
    # As doctor runs a helper's version, or the schedule runs crontab.
    childrun.run(["sh", "-c", "sleep 0.3; echo out"], timeout=30)
    time.sleep(60)  # not reached: the signal ends the run above
"""
)


def test_a_signal_inside_popens_lock_window_does_not_wedge_childrun() -> None:
    """subprocess.run(timeout=...) had the same window (its kill() then waits for
    the lock for ever, and later signals are swallowed): childrun.run, which doctor
    and the schedule use, ends with the signal."""
    assert _ends_by_sigterm(RUN_TRAP) == "ready\n"


def test_childrun_gives_what_subprocess_run_gives(tmp_path: Path) -> None:
    from credhelper import childrun

    script = "read line; printf 'got %s\\r\\n' \"$line\"; echo warn >&2; exit 3"
    for text, data in ((True, "café\n"), (False, "café\n".encode())):
        got = childrun.run(["sh", "-c", script], input=data, text=text, timeout=30)
        want = subprocess.run(
            ["sh", "-c", script], input=data, text=text, capture_output=True, timeout=30
        )
        assert (got.returncode, got.stdout, got.stderr) == (
            want.returncode,
            want.stdout,
            want.stderr,
        )
    with pytest.raises(subprocess.TimeoutExpired):
        childrun.run(["sleep", "30"], timeout=0.3)


def test_no_command_waits_through_subprocess_run() -> None:
    """Every wait on a child goes through cleanup (Child.poll/wait_up_to, childrun.run):
    subprocess.run, communicate and a bare Popen.wait/poll can be wedged by a signal."""
    root = Path(__file__).resolve().parent.parent / "credhelper"
    calls = ("subprocess.run(", ".communicate(", "proc.wait(", "proc.poll(")
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        if path.name not in ("cleanup.py", "childrun.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if any(call in line for call in calls)
    ]
    assert found == []


def test_childrun_feeds_large_input_under_the_deadline() -> None:
    """More input than a pipe holds: written as the child reads (no deadlock with a
    child that writes as it reads), and the timeout still holds while it does not."""
    from credhelper import childrun

    got = childrun.run(["cat"], input=b"x" * 1_000_000, timeout=30)
    assert (got.returncode, len(got.stdout)) == (0, 1_000_000)
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        childrun.run(["sleep", "30"], input=b"x" * 1_000_000, timeout=1)
    assert time.monotonic() - started < 10  # the deadline, not sleep's 30 s


def test_childrun_leaves_no_open_pipe() -> None:
    code = (
        "import warnings; warnings.simplefilter('error', ResourceWarning)\n"
        "import gc, subprocess\n"
        "from credhelper import childrun\n"
        "childrun.run(['sh', '-c', 'echo out; echo err >&2'], input='x', timeout=30)\n"
        "try:\n"
        "    childrun.run(['sleep', '30'], timeout=0.2)\n"
        "except subprocess.TimeoutExpired:\n"
        "    pass\n"
        "gc.collect()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "ResourceWarning" not in proc.stderr, proc.stderr


def test_a_signal_during_the_grace_still_kills_the_whole_group(tmp_path: Path) -> None:
    """A cancel while stop() waits out the grace of a child that ignores SIGTERM (a
    Child left running, as after helper_call's time limit): its group is still
    killed (a grandchild has no PR_SET_PDEATHSIG) before we die."""
    pids = tmp_path / "pids"
    group = tmp_path / "group.sh"  # a child and a grandchild, both ignoring SIGTERM
    group.write_text(
        f"trap '' TERM\n(trap '' TERM; echo $BASHPID >> {pids}; exec sleep 31) &\n"
        f"echo $$ >> {pids}\nsleep 32\n"
    )
    script = (
        "import os, time\n"
        "from credhelper import cleanup\n"
        "with cleanup.guard():\n"
        f"    with cleanup.Child(['bash', {str(group)!r}], grace=20.0):\n"
        f"        while len(open({str(pids)!r}).read().split() if os.path.exists({str(pids)!r})"
        " else []) < 2:\n"
        "            time.sleep(0.02)\n"
        "        print('stopping', flush=True)  # leaving the block: SIGTERM, then the grace\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "stopping\n"
    time.sleep(0.3)  # the point of the test: the grace wait is under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT, err
    for pid in map(int, pids.read_text().split()):
        assert _wait_gone(pid), f"{pid} survived"
