"""The lint configuration really covers bin/ and scripts/ (their Python files have no .py suffix).

scripts/test runs `ruff check credhelper tests scripts bin` and
`ruff format --check bin scripts`; ruff walks a directory only for the suffixes
it knows plus pyproject.toml's extend-include. A Python executable added without
being named there would silently go unchecked: this test finds every file in
bin/ and scripts/ whose first line names python and asks ruff which it sees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_files() -> set[Path]:
    found = set()
    for folder in ("bin", "scripts"):
        for path in (ROOT / folder).iterdir():
            if not path.is_file():
                continue
            with path.open("rb") as handle:
                first = handle.readline()
            if first.startswith(b"#!") and b"python" in first:
                found.add(path.resolve())
    return found


def test_ruff_sees_every_python_file_in_bin_and_scripts() -> None:
    expected = python_files()
    assert {p.name for p in expected} >= {"credhelper", "docker-credential-credhelper", "bench"}
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-files", "bin", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seen = {Path(line).resolve() for line in proc.stdout.splitlines() if line.strip()}
    assert expected <= seen, sorted(str(p) for p in expected - seen)
    # ...and no shell script is fed to the Python parser.
    assert all(p in expected for p in seen), sorted(str(p) for p in seen - expected)
