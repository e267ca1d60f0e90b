"""Hundreds of concurrent helper processes over a few dozen servers: nothing lost or torn.

CI runs 500 processes over 50 servers; `pytest --big` runs 2,000 over 50.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Env
from tests.stress.harness import stress_run

ROTATE = Path(__file__).resolve().parents[2] / "credhelper" / "rotate.py"


def _assert_clean(report_figures: dict[str, object], problems: list[str], clean: bool) -> None:
    # Problems name servers, writer ids and exit codes, never a secret.
    assert clean, f"{report_figures}\n" + "\n".join(problems)


def test_500_concurrent_processes_lose_and_tear_nothing(ch: Env, tmp_path: Path, big: bool) -> None:
    n = 2000 if big else 500
    report = stress_run(ch.env, tmp_path / "ops", n_processes=n, n_servers=50, seed=6)
    _assert_clean(report.figures(), report.problems, report.clean)
    assert report.processes == n


@pytest.mark.skipif(not ROTATE.exists(), reason="credhelper rotate is not implemented yet")
def test_concurrent_processes_with_rotations_in_the_middle(
    ch: Env, tmp_path: Path, big: bool
) -> None:
    """A --reencrypt rotation at 40% and a forced one at 70% of the launches."""
    n = 2000 if big else 500
    report = stress_run(
        ch.env,
        tmp_path / "ops",
        n_processes=n,
        n_servers=50,
        seed=7,
        rotations=((0.4, False), (0.7, True)),
    )
    _assert_clean(report.figures(), report.problems, report.clean)
