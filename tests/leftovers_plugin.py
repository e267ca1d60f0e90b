"""A test run leaves nothing in /tmp: a `credhelper-*` entry that appeared there during
the run is named at the end, and fails the run in CI (CREDHELPER_STRICT=1).

Tests put what they make under tmp_path, and give the product a private TMPDIR
(`credhelper exec`'s `$TMPDIR/credhelper-jobs-<uid>` is its runtime directory, so
the tests point TMPDIR elsewhere rather than the product changing). Entries that
were there before the run started (a user's own jobs directory) do not count. With
pytest-xdist only the controller checks, once every worker has finished.
Registered by tests/conftest.py (`pytest_plugins`), which also imports `locks_dir`
from here first (PYTEST_DONT_REWRITE: so pytest does not warn that it cannot rewrite it).
"""

from __future__ import annotations

import getpass
import os
import tempfile

import pytest

PREFIX = "credhelper-"


def _dirs() -> list[str]:
    """/tmp, and the temporary directory of this run if TMPDIR points elsewhere."""
    found = ["/tmp"]
    other = os.path.realpath(tempfile.gettempdir())
    if other not in found:
        found.append(other)
    return found


def _entries() -> set[tuple[str, int]]:
    seen: set[tuple[str, int]] = set()
    for directory in _dirs():
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    if entry.name.startswith(PREFIX):
                        seen.add((os.path.join(directory, entry.name), entry.inode()))
        except OSError:
            continue
    return seen


def locks_dir() -> str:
    """Where test runs keep lock files shared by every run of this user (the crontab is
    one per account): pytest's own per-user directory, never a /tmp/credhelper-* entry.
    `CREDHELPER_TESTS_LOCK_DIR` names another."""
    path = os.environ.get("CREDHELPER_TESTS_LOCK_DIR") or os.path.join(
        tempfile.gettempdir(), f"pytest-of-{getpass.getuser()}"
    )
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_worker(session.config):
        session.config.stash[_BEFORE] = _entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    left = sorted(path for path, inode in _entries() - before)
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"tests left {len(left)} entr(y/ies) in the temporary directory (a test must "
            f"put what it makes under tmp_path): {', '.join(left)}",
            red=True,
        )
    # In CI (CREDHELPER_STRICT=1) the run is the machine's only one, so whatever
    # appeared came from it: the run fails. On a shared machine another user's
    # tool (scripts/bench, a manual `credhelper exec`) may add one meanwhile, so
    # there the line is printed and the run's status is left alone.
    if os.environ.get("CREDHELPER_STRICT") == "1":
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[tuple[str, int]]]()
