"""SIGTERM, SIGHUP, SIGINT and SIGQUIT in the middle of a real skopeo/podman push.

The push goes to a tarpit on 127.0.0.1 (directly, or for Docker Hub through
HTTPS_PROXY), so the engine has already asked credhelper for the login and hangs
in the TLS handshake when the signal arrives. While it hangs, nothing under
TMPDIR may hold the secret (in any encoding); after the signal credhelper must
have died of that signal, removed every file of its own from TMPDIR, and no
process of the push (engine or helper) may survive. SIGKILL cannot be caught:
the engine still dies with credhelper (PR_SET_PDEATHSIG), and what is left on
disk holds no secret.
"""

from __future__ import annotations

import base64
import os
import pty
import select
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CLI, HELPER, Env, require_tool
from tests.netfixtures import Tarpit, tarpit
from tests.registry_server import make_oci_layout
from tests.test_push_podman import _podman, _private_podman

pytestmark = pytest.mark.e2e

HUB = "https://index.docker.io/v1/"
PASSWORD = "sig-Pw-3e9a1c"
SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT]


def marked_pids(mark: str) -> list[int]:
    """Processes whose environment carries `mark` (the push, the engine, the helper)."""
    needle = f"H2_PUSH_MARK={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry))
    return found


def wait_until(predicate: object, bound: float = 30.0) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def secret_forms(user: str) -> list[bytes]:
    return [
        PASSWORD.encode(),
        base64.b64encode(f"{user}:{PASSWORD}".encode()),
        base64.b64encode(PASSWORD.encode()),
    ]


def files_holding_the_secret(root: Path) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(form in data for form in secret_forms("alice")):
                hits.append(str(path))
    return hits


@dataclass
class Push:
    proc: subprocess.Popen[bytes]
    mark: str
    tmpdir: Path
    master: int | None = None  # the terminal's side, when credhelper runs on a pty
    terminal: str = ""  # that terminal's name (/dev/pts/N)


def start_push(
    ch: Env, engine: str, hub: bool, pit: Tarpit, tmp_path: Path, tty: bool = False
) -> Push:
    mark = uuid.uuid4().hex
    env = dict(ch.env, H2_PUSH_MARK=mark)
    if engine == "podman":
        env.update(_private_podman(tmp_path / "podman"))
    tmpdir = Path(env.setdefault("TMPDIR", str(tmp_path / "tmp")))
    tmpdir.mkdir(parents=True, exist_ok=True)
    image = make_oci_layout(tmp_path / "oci")
    if hub:
        target = "docker.io/demo/app:v1"
        ch.store_creds(HUB, "alice", PASSWORD)
        env = {k: v for k, v in env.items() if k.lower() != "no_proxy"}
        env["HTTPS_PROXY"] = f"http://127.0.0.1:{pit.port}"
    else:
        target = f"127.0.0.1:{pit.port}/demo/app:v1"
        ch.store_creds(f"127.0.0.1:{pit.port}", "alice", PASSWORD)
    if engine == "podman":
        podman = require_tool("podman")
        setup = {k: v for k, v in env.items() if k != "HTTPS_PROXY"}
        image_id = _podman(podman, setup, "pull", "--quiet", f"oci:{image.path}:{image.tag}")
        _podman(podman, setup, "tag", image_id, target)
        argv = [CLI, "push", "--engine", "podman", target]
    else:
        require_tool("skopeo")
        argv = [CLI, "push", "--engine", "skopeo", "--from", f"oci:{image.path}", target]
    if tty:  # credhelper on a terminal: the engine then runs on credhelper's own pty
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        name = os.ttyname(slave)
        os.close(slave)
        return Push(proc, mark, tmpdir, master, name)
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    return Push(proc, mark, tmpdir)


def engine_fds(push: Push) -> list[str]:
    """What the engine's stdout is: a pts of credhelper's own (not the test's) when on a tty."""
    links = []
    for pid in marked_pids(push.mark):
        if pid == push.proc.pid:
            continue
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/1"))
        except OSError:
            continue
    return links


def _in_flight(push: Push, pit: Tarpit, hub: bool) -> None:
    """The engine reached the network: it holds the login now.

    Before a push to a loopback registry credhelper itself probes it (HTTPS, then
    plain HTTP: two connections, each given up after push.PROBE_TIMEOUT), so the
    engine's is the connection after those.
    """
    probes = 0 if hub else 2
    assert wait_until(lambda: pit.accepted > probes or push.proc.poll() is not None, 90)
    assert push.proc.poll() is None, push.proc.communicate(timeout=30)
    engines = [pid for pid in marked_pids(push.mark) if pid != push.proc.pid]
    assert engines, "the engine should be running"
    assert files_holding_the_secret(push.tmpdir) == []


@pytest.mark.parametrize("hub", [False, True], ids=["registry", "docker-hub"])
@pytest.mark.parametrize("engine", ["skopeo", "podman"])
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_signal_mid_push_leaves_nothing(
    ch: Env, tmp_path: Path, engine: str, hub: bool, signum: int
) -> None:
    with tarpit() as pit:  # still holding the engine's connection while we check
        push = start_push(ch, engine, hub, pit, tmp_path)
        try:
            _in_flight(push, pit, hub)
            push.proc.send_signal(signum)
            push.proc.wait(timeout=60)
            # credhelper stopped the engine before it exited; the bound only covers
            # /proc catching up, well below the engine's own 10 s TLS handshake timeout.
            gone = wait_until(lambda: marked_pids(push.mark) == [], 3.0)
            assert gone, marked_pids(push.mark)
        finally:
            if push.proc.poll() is None:
                push.proc.kill()
            _out, err = push.proc.communicate(timeout=30)
    assert push.proc.returncode == -signum, err.decode(errors="replace")
    assert b"Traceback" not in err
    ours = [p.name for p in push.tmpdir.iterdir() if p.name.startswith("credhelper")]
    assert ours == []
    assert files_holding_the_secret(push.tmpdir) == []


@pytest.mark.parametrize("engine", ["skopeo", "podman"])
def test_sigkill_mid_push_takes_the_engine_along(ch: Env, tmp_path: Path, engine: str) -> None:
    with tarpit() as pit:
        push = start_push(ch, engine, True, pit, tmp_path)
        try:
            _in_flight(push, pit, True)
            push.proc.kill()
            push.proc.wait(timeout=60)
            assert wait_until(lambda: marked_pids(push.mark) == [], 3.0), marked_pids(push.mark)
        finally:
            if push.proc.poll() is None:
                push.proc.kill()
            push.proc.communicate(timeout=30)
    # SIGKILL cannot be caught, so the authfile's directory may stay: it names
    # credhelper and holds no secret.
    assert files_holding_the_secret(push.tmpdir) == []


@pytest.mark.parametrize("engine", ["skopeo", "podman"])
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name
)
def test_signal_mid_push_on_a_terminal_leaves_nothing(
    ch: Env, tmp_path: Path, engine: str, signum: int
) -> None:
    """Ctrl-C, a kill or a closed terminal while the engine runs on credhelper's pty."""
    with tarpit() as pit:
        push = start_push(ch, engine, False, pit, tmp_path, tty=True)
        assert push.master is not None
        try:
            _in_flight(push, pit, False)
            inner = engine_fds(push)
            # The engine writes to a pty of credhelper's, not to the test's terminal.
            assert inner and all(link.startswith("/dev/pts/") for link in inner), inner
            assert push.terminal not in inner
            push.proc.send_signal(signum)
            push.proc.wait(timeout=60)
            assert wait_until(lambda: marked_pids(push.mark) == [], 3.0), marked_pids(push.mark)
        finally:
            if push.proc.poll() is None:
                push.proc.kill()
                push.proc.wait()
            output = b""
            while select.select([push.master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(push.master, 4096)
                except OSError:  # EIO: credhelper, the last writer, is gone
                    break
                if not chunk:
                    break
                output += chunk
            os.close(push.master)
    assert push.proc.returncode == -signum, output
    assert b"Traceback" not in output
    assert PASSWORD.encode() not in output
    assert [p.name for p in push.tmpdir.iterdir() if p.name.startswith("credhelper")] == []
    assert files_holding_the_secret(push.tmpdir) == []


# ------------------------------------------------ a Ctrl-C while the command is still importing


def _caught(pid: int) -> int | None:
    """The signals `pid` has handlers for (/proc's SigCgt mask); None once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith(("Z", "X")):
        return None
    return int(fields["SigCgt"].strip(), 16)


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


def _sigint_in_the_import_window(argv: list[str], env: dict[str, str]) -> tuple[bool, int, bytes]:
    """Run `argv`; SIGINT it the moment /proc shows Python's handler replaced by SIG_DFL.

    (whether that moment came, the exit status, stderr).
    """
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    python_handler = cleanup_handlers = in_window = False
    deadline = time.monotonic() + 60
    while not in_window and time.monotonic() < deadline:
        caught = _caught(proc.pid)
        if caught is None:
            break  # it ran to its end: the window never came (or was too short to see)
        # Python's KeyboardInterrupt handler comes first; cleanup.py's (SIGTERM too) once a
        # command runs. The window: after the first, SIGINT uncaught, before the second
        # (at exit the interpreter drops its handlers too: that is not the window).
        python_handler = python_handler or bool(caught & _bit(signal.SIGINT))
        cleanup_handlers = cleanup_handlers or bool(caught & _bit(signal.SIGTERM))
        in_window = python_handler and not cleanup_handlers and not caught & _bit(signal.SIGINT)
        if in_window:
            proc.send_signal(signal.SIGINT)
        else:
            time.sleep(0.0005)  # the next look at /proc, not a wait for a result
    out, err = proc.communicate(timeout=60)
    # Killed by the signal: nothing printed. A run the signal reached only once it was
    # done (or never: on a loaded machine the window can pass unseen) printed the
    # helper's own answer to its empty stdin, and exited 1.
    assert out == b"" or (proc.returncode == 1 and out == b"no credentials server URL\n"), (
        proc.returncode,
        out,
    )
    return in_window, proc.returncode, err


@pytest.mark.parametrize(
    "argv",
    [
        [CLI, "push", "--engine", "skopeo", "--from", "oci:/x", "127.0.0.1:5999/a/b:1"],
        [HELPER, "get"],
    ],
    ids=["credhelper-push", "helper-get"],
)
def test_a_sigint_while_importing_kills_without_a_traceback(ch: Env, argv: list[str]) -> None:
    """Python's own SIGINT handler (a KeyboardInterrupt traceback, exit 1) is off while
    credhelper imports, so a Ctrl-C then kills the command as the signal does.

    The helper's imports are short: a run whose window was not seen is run again (bounded).
    """
    ch.store_creds("127.0.0.1:5999", "alice", "pw-early-sigint")
    runs = []
    for _attempt in range(20):
        in_window, code, err = _sigint_in_the_import_window(argv, ch.env)
        assert b"Traceback" not in err and b"Fatal Python error" not in err, err
        runs.append((in_window, code))
        if in_window and code == -signal.SIGINT:
            break
    # A signal that lands just after the helper's own handling took over is its exit 1.
    assert all(code in (-signal.SIGINT, 1) for seen, code in runs if seen), runs
    assert (True, -signal.SIGINT) in runs, runs  # old code: SIGINT caught all along


CRASHING_SKOPEO = """#!/bin/sh
echo "authfile: $3" > {log}
kill -SEGV $$
"""


def test_an_engine_that_crashes_gives_128_plus_n_and_leaves_nothing(
    ch: Env, tmp_path: Path
) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "log"
    (shims / "skopeo").write_text(CRASHING_SKOPEO.format(log=log))
    (shims / "skopeo").chmod(0o700)
    ch.store_creds("127.0.0.1:5999", "alice", "pw-crash-atk")
    env = dict(ch.env, PATH=f"{shims}{os.pathsep}{ch.env['PATH']}")
    proc = ch.cli("push", "--engine", "skopeo", "--from", "oci:/nonexistent",
                  "127.0.0.1:5999/a/b:1", env=env)  # fmt: skip
    assert "authfile" in log.read_text()
    assert proc.returncode == 128 + signal.SIGSEGV, proc.stderr
    tmpdir = Path(env["TMPDIR"])
    assert sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("credhelper-push-")) == []
