"""The leftovers check fails a run that leaves a credhelper-* entry in /tmp, and only then."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest imports the plugin as tests.leftovers_plugin, from this checkout."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


INNER = """
import os

def test_leaves_one():
    os.mkdir({path!r})

def test_clean(tmp_path):
    (tmp_path / "credhelper-fine").mkdir()
"""


def test_a_run_that_leaves_a_tmp_entry_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDHELPER_STRICT", "1")
    path = Path("/tmp") / f"credhelper-leftover-check-{uuid.uuid4().hex}"
    pytester.makepyfile(test_inner=INNER.format(path=str(path)))
    # Another tool on a shared machine may add its own entry meanwhile: match ours.
    expected = f"*tests left * in the temporary directory*{path}*"
    try:
        strict = pytester.runpytest_subprocess("-p", "tests.leftovers_plugin", "-q")
        assert path.is_dir()
        os.rmdir(path)
        monkeypatch.delenv("CREDHELPER_STRICT", raising=False)
        local = pytester.runpytest_subprocess("-p", "tests.leftovers_plugin", "-q")
    finally:
        if path.exists():
            os.rmdir(path)
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines([expected])
    strict.assert_outcomes(passed=2)
    # Outside CI the machine may be shared: the entry is named, the status kept.
    assert local.ret == pytest.ExitCode.OK
    local.stdout.fnmatch_lines([expected])


def test_a_clean_run_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDHELPER_STRICT", "1")
    pytester.makepyfile(
        test_inner="def test_ok(tmp_path):\n    (tmp_path / 'credhelper-x').mkdir()\n"
    )
    result = pytester.runpytest_subprocess("-p", "tests.leftovers_plugin", "-q")
    assert result.ret == pytest.ExitCode.OK
