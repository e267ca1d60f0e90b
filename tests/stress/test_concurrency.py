"""Hundreds of concurrent helper processes over a few dozen servers: nothing lost or torn.

CI runs 500 processes over 50 servers; `pytest --big` runs 2,000 over 50.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Env
from tests.stress.harness import (
    Model,
    Op,
    Report,
    check_final,
    check_history,
    run_concurrently,
    seed_store,
    server_names,
    stress_run,
)


def _assert_clean(report_figures: dict[str, object], problems: list[str], clean: bool) -> None:
    # Problems name servers, writer ids and exit codes, never a secret. With a 60 s
    # bound no writer may time out at these sizes.
    assert clean and not report_figures["lock_timeouts"], f"{report_figures}\n" + "\n".join(
        problems
    )


@pytest.mark.slow
def test_500_concurrent_processes_lose_and_tear_nothing(ch: Env, tmp_path: Path, big: bool) -> None:
    n = 2000 if big else 500
    report = stress_run(
        ch.env, tmp_path / "ops", n_processes=n, n_servers=50, seed=6, lock_timeout="60"
    )
    _assert_clean(report.figures(), report.problems, report.clean)
    assert report.processes == n


@pytest.mark.slow
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
        # A loaded CI machine may be slower than the default 20 s bound; the
        # bound itself is tested in test_faults.py.
        lock_timeout="60",
    )
    _assert_clean(report.figures(), report.problems, report.clean)


@pytest.mark.slow
def test_readers_never_miss_an_entry_during_reencrypt_rotations(
    ch: Env, tmp_path: Path, big: bool
) -> None:
    """Readers take no lock: a get racing a --reencrypt rotation must still find the entry.

    (The reader may read the store under the old key id and then the key file
    after the rotation replaced it.)
    """
    servers = server_names(10)
    initial = {s: i for i, s in enumerate(servers)}
    seed_store(servers, initial)
    n_get = 600 if big else 240
    n_rot = 40 if big else 12
    ops = [Op(1000 + i, "get", servers[i % len(servers)]) for i in range(n_get)]
    step = n_get // n_rot
    for k in range(n_rot):
        ops.insert(k * (step + 1), Op(0, "rotate"))
    for i, op in enumerate(ops):
        op.idx = 1000 + i
    lists = [Op(0, "list") for _ in range(n_rot)]
    for k, op in enumerate(lists):
        ops.insert(k * (step + 2) + 1, op)
    for i, op in enumerate(ops):
        op.idx = 1000 + i
    report = Report(processes=len(ops), operations=len(ops))
    report.deadlocked = not run_concurrently(ops, ch.env, tmp_path / "ops")
    model = Model(servers, initial, ops)
    check_history(model, ops, report)
    check_final(model, ch.env, report)
    _assert_clean(report.figures(), report.problems, report.clean)


@pytest.mark.slow
def test_concurrent_first_runs_end_with_one_key_and_every_entry(
    ch: Env, tmp_path: Path, big: bool
) -> None:
    """100 stores at once into a home that does not exist yet (one key for all of them)."""
    servers = server_names(100 if not big else 400)
    ops = [Op(1000 + i, "store", server) for i, server in enumerate(servers)]
    assert not ch.home.exists()
    report = Report(processes=len(ops), operations=len(ops))
    report.deadlocked = not run_concurrently(ops, {**ch.env, "CREDHELPER_LOCK_TIMEOUT": "60"},
                                             tmp_path / "ops")  # fmt: skip
    model = Model(servers, {}, ops)
    check_history(model, ops, report)
    check_final(model, ch.env, report)
    _assert_clean(report.figures(), report.problems, report.clean)
    names = sorted(p.name for p in ch.home.iterdir())
    assert names == ["aeskey", "config.json", "config.json.lock"], names
