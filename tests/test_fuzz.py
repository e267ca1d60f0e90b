"""Coverage-guided fuzzing (atheris) for a fixed budget, and the crash regressions.

CI runs each target for a few seconds; `pytest --big` for five minutes each;
scripts/fuzz for as long as asked. Every input that once crashed a reader is
kept under tests/fuzz/regressions/ and replayed here, in-process and through
the real executable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Env
from tests.fuzz.targets import TARGETS, seeds, write_dict
from tests.stress.fsprobe import tree

ROOT = Path(__file__).resolve().parents[1]
REGRESSIONS = Path(__file__).resolve().parent / "fuzz" / "regressions"
CI_SECONDS = {"protocol": 25, "store": 25, "key": 10}


def run_atheris(target: str, seconds: int, workdir: Path) -> tuple[int, int, str]:
    """(exit status, executions, output tail) of one atheris run of `target`."""
    corpus = workdir / f"corpus-{target}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds(target)):
        (corpus / f"seed-{i}").write_bytes(data)
    for path in sorted((REGRESSIONS / target).glob("*")):
        shutil.copy(path, corpus / f"regression-{path.name}")
    dictionary = workdir / "json.dict"
    write_dict(str(dictionary))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            target,
            f"-max_total_time={seconds}",
            f"-dict={dictionary}",
            "-max_len=65536",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={workdir}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=seconds + 120,
    )
    runs = re.findall(r"Done (\d+) runs", proc.stderr)
    return proc.returncode, int(runs[-1]) if runs else 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_budget_finds_no_crash(target: str, tmp_path: Path, big: bool) -> None:
    seconds = 300 if big else CI_SECONDS[target]
    rc, runs, tail = run_atheris(target, seconds, tmp_path)
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert rc == 0 and not crashes, f"{target}: crash {crashes}, rc={rc}\n{tail}"
    assert runs > 0, tail


@pytest.mark.parametrize(
    "path",
    sorted(REGRESSIONS.glob("*/*")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_regression_inputs_in_process(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())


def _clean(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert proc.returncode in (0, 1)
    both = proc.stdout + proc.stderr
    assert b"Traceback" not in both and b"internal error" not in both, both[:300]


@pytest.mark.parametrize("path", sorted((REGRESSIONS / "protocol").glob("*")), ids=lambda p: p.name)
def test_protocol_regressions_through_the_helper(ch: Env, path: Path) -> None:
    ch.store_creds("r.example", "u", "p")
    before = tree(ch.home)
    for action in ("store", "get", "erase"):
        proc = ch.helper(action, path.read_bytes())
        _clean(proc)
    _clean(ch.helper("list"))
    if proc.returncode == 1:
        assert tree(ch.home) == before


@pytest.mark.parametrize("path", sorted((REGRESSIONS / "store").glob("*")), ids=lambda p: p.name)
def test_store_regressions_through_the_helper(ch: Env, path: Path) -> None:
    ch.store_creds("r.example", "u", "p")
    ch.store.write_bytes(path.read_bytes())
    before = tree(ch.home)
    for action, data in (("get", b"r.example"), ("list", b""), ("erase", b"nothing.example")):
        _clean(ch.helper(action, data))
    proc = ch.helper("store", b'{"ServerURL":"n.example","Username":"u","Secret":"s"}')
    _clean(proc)
    if proc.returncode == 1:
        assert tree(ch.home) == before
