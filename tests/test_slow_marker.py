"""Long tests carry the `slow` marker, and CI still runs them.

A test with a `--big` budget (it takes the `big` fixture) is a long stress, kill or
fuzz test: it must be marked `slow`, so that `pytest -m "not slow"` gives a quick
local run. In CI (CREDHELPER_STRICT=1) deselecting them is refused.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _is_slow_mark(node: ast.expr) -> bool:
    """`pytest.mark.slow` (also inside a list assigned to pytestmark)."""
    if isinstance(node, ast.List | ast.Tuple):
        return any(_is_slow_mark(item) for item in node.elts)
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "slow"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    )


def _module_is_slow(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return _is_slow_mark(node.value)
    return False


def test_every_test_with_a_big_budget_is_marked_slow() -> None:
    unmarked = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _module_is_slow(tree):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            if "big" in [a.arg for a in node.args.args] and not any(
                _is_slow_mark(d) for d in node.decorator_list
            ):
                unmarked.append(f"{path.relative_to(ROOT)}::{node.name}")
    assert unmarked == [], "mark these @pytest.mark.slow"


def test_ci_refuses_to_drop_the_slow_tests() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDHELPER_", "PYTEST_"))}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
    target = "tests/test_slow_marker.py"
    strict = subprocess.run(
        [*argv, "-m", "not slow", target],
        cwd=ROOT,
        env={**env, "CREDHELPER_STRICT": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert strict.returncode == 4, strict.stdout + strict.stderr  # pytest's usage error
    assert "would drop the slow tests" in strict.stdout + strict.stderr
    local = subprocess.run(
        [*argv, "-m", "not slow", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert local.returncode == 0, local.stdout + local.stderr


SKIPPING = """
import pytest


def test_runs() -> None:
    pass


def test_skips() -> None:
    pytest.skip("a tool is missing")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_ci_fails_a_run_with_a_skip_also_in_parallel(tmp_path: Path, workers: list[str]) -> None:
    """CREDHELPER_STRICT=1 turns a skip into a failed run, also when xdist workers ran it."""
    tests = tmp_path / "tests"
    tests.mkdir()
    for helper in (ROOT / "tests").glob("*.py"):  # conftest.py and the plugins it loads
        if not helper.name.startswith("test_"):
            (tests / helper.name).write_text(helper.read_text())
    (tests / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDHELPER_", "PYTEST_"))}
    # The child's tests must not queue behind this run's own crontab locks.
    env["CREDHELPER_TESTS_LOCK_DIR"] = str(tmp_path)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *workers, "tests"]
    strict = subprocess.run(
        argv,
        cwd=tmp_path,
        env={**env, "CREDHELPER_STRICT": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "1 test(s) skipped; in CI nothing may skip" in strict.stdout
    assert "1 passed, 1 skipped" in strict.stdout
    if not workers:  # the same run without CREDHELPER_STRICT passes
        local = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert local.returncode == 0, local.stdout + local.stderr
