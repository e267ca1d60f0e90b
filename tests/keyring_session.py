"""A real, private Secret Service for tests: a D-Bus session bus and gnome-keyring-daemon.

`secret_service(root)` starts `dbus-daemon --session` and, on that bus,
`gnome-keyring-daemon --foreground --unlock --components=secrets` with its own
HOME/XDG dirs under `root` (so a fresh "login" keyring is created and unlocked
with a throwaway password), waits (bounded) until org.freedesktop.secrets answers,
yields the environment variables a client needs, and stops both at exit.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import require_tool

READY_TIMEOUT = 60.0  # start-up on a machine running two test workers per CPU
_PROBE = (
    "import secretstorage, sys\n"
    "c = secretstorage.dbus_init()\n"
    "ok = secretstorage.check_service_availability(c)\n"
    "ok = ok and not secretstorage.get_default_collection(c).is_locked()\n"
    "sys.exit(0 if ok else 1)\n"
)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _start_keyring(keyring_daemon: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    daemon = subprocess.Popen(
        [keyring_daemon, "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert daemon.stdin is not None
    daemon.stdin.write(b"test-keyring-password")  # throwaway; the keyring is a temp dir
    daemon.stdin.close()
    return daemon


@contextlib.contextmanager
def secret_service(root: Path) -> Iterator[dict[str, str]]:
    """Yield {"DBUS_SESSION_BUS_ADDRESS": ...} for a running, unlocked Secret Service."""
    dbus_daemon = require_tool("dbus-daemon")
    keyring_daemon = require_tool("gnome-keyring-daemon")
    home = root / "keyring-home"
    # Short: gnome-keyring binds its control socket under here, and a unix socket path
    # has at most 107 bytes (a test's tmp_path under pytest-of-root/pytest-NNN/popen-gwN
    # is long enough to break it: the login keyring is then never made).
    runtime = Path(tempfile.mkdtemp(prefix="kr-"))
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_"))},
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    bus = subprocess.Popen(
        [dbus_daemon, "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        ready, _, _ = select.select([bus.stdout], [], [], READY_TIMEOUT)
        assert ready, "dbus-daemon printed no address"
        address = bus.stdout.readline().decode().strip()
        assert address, "dbus-daemon printed no address"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        for attempt in range(3):
            daemon = _start_keyring(keyring_daemon, env)
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                probe = subprocess.run(
                    [sys.executable, "-c", _PROBE],
                    env=env,
                    capture_output=True,
                    timeout=READY_TIMEOUT,
                    check=False,
                )
                if probe.returncode == 0 or b"PromptDismissed" in probe.stderr:
                    break
                assert daemon.poll() is None, "gnome-keyring-daemon exited"
                assert time.monotonic() < deadline, f"Secret Service not ready: {probe.stderr!r}"
                time.sleep(0.1)
            if probe.returncode == 0:
                break
            # Seen on loaded CI runs: the daemon came up without its login keyring (the
            # password on stdin not taken), so the default collection needs a prompt that
            # nobody answers. Start it again on an empty keyring directory.
            _stop(daemon)
            daemon = None
            shutil.rmtree(home / "data", ignore_errors=True)
            assert attempt < 2, f"Secret Service not ready: {probe.stderr!r}"
        yield {"DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        if daemon is not None:
            _stop(daemon)
        _stop(bus)
        shutil.rmtree(runtime, ignore_errors=True)
        if bus.stdout is not None:
            bus.stdout.close()
