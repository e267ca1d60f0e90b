"""The fuzz targets leave nothing behind in $TMPDIR: not on import, not after running.

They once created a `credhelper-fuzz-key-*` directory at import time, so every
pytest run and every scripts/fuzz run left one in /tmp.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Import the targets, then feed each its seeds plus inputs that make the readers
# fail, in a child whose TMPDIR is a directory this test watches.
SCRIPT = """
from tests.fuzz.targets import TARGETS, seeds

for name, target in TARGETS.items():
    for data in [*seeds(name), b"\\xff" * 40, b"x" * 33, b"{"]:
        target(data)
print("ran", len(TARGETS))
"""


def run_in(tmpdir: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDHELPER_", "DOCKER_"))}
    env.update(TMPDIR=str(tmpdir), TEMP=str(tmpdir), TMP=str(tmpdir))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_the_targets_creates_nothing(tmp_path: Path) -> None:
    watched = tmp_path / "tmp"
    watched.mkdir()
    proc = run_in(watched, "import tests.fuzz.targets")
    assert proc.returncode == 0, proc.stderr
    assert list(watched.iterdir()) == []


def test_running_every_target_leaves_nothing(tmp_path: Path) -> None:
    watched = tmp_path / "tmp"
    watched.mkdir()
    proc = run_in(watched, SCRIPT)
    assert (proc.returncode, proc.stdout.strip()) == (0, "ran 3"), proc.stderr
    assert list(watched.iterdir()) == []


def test_a_failing_target_still_removes_its_directory(tmp_path: Path) -> None:
    """An input that crashes the key target (here: a forced assertion) cleans up too."""
    watched = tmp_path / "tmp"
    watched.mkdir()
    code = (
        "from tests.fuzz import targets\n"
        "from credhelper.keys import file as key_file_module\n"
        "def broken(path, what='key file'):\n"
        "    raise RuntimeError('simulated crash')\n"
        "key_file_module._read_key_file = broken\n"
        "try:\n"
        "    targets.key_file(b'k' * 32)\n"
        "except RuntimeError:\n"
        "    print('crashed')\n"
    )
    proc = run_in(watched, code)
    assert (proc.returncode, proc.stdout.strip()) == (0, "crashed"), proc.stderr
    assert list(watched.iterdir()) == []
