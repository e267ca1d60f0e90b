"""Shared fixtures: an isolated store per test and runners for the real executables.

Every test gets its own CREDHELPER_HOME and DOCKER_CONFIG under tmp_path, so no
test can touch the user's real Docker configuration. With CREDHELPER_STRICT=1
(set by .ci/run) a run in which any test skipped fails: in CI every tool the
tests need is installed, so a skip would hide an untested feature.
"""

from __future__ import annotations

import fcntl
import io
import locale
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import inprocess
from tests.leftovers_plugin import locks_dir

# A run that leaves a /tmp/credhelper-* entry behind fails (tests/leftovers_plugin.py).
pytest_plugins = ["tests.leftovers_plugin"]

BIN = Path(sys.executable).parent
HELPER = str(BIN / "docker-credential-credhelper")
CLI = str(BIN / "credhelper")
Result = subprocess.CompletedProcess[bytes]


def with_lock_default(script: str, seconds: float) -> list[str]:
    """argv that runs the installed `script` (HELPER or CLI) as itself, with the
    lock wait's built-in default (20 s, what an absurd CREDHELPER_LOCK_TIMEOUT
    falls back to) shortened to `seconds`.

    The script file itself runs (runpy, as `__main__`), in a process of its own:
    only the constant differs, so a test of the fallback need not wait 20 s.
    tests/test_edges.py::test_lock_default_is_twenty_seconds pins the real value.
    """
    code = (
        "import runpy, sys; import credhelper.fslock as f; "
        f"f.DEFAULT_LOCK_TIMEOUT = {float(seconds)!r}; "
        "sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    # -I as the script's own re-exec would do (any PYTHON* variable, such as tox's
    # PYTHONHASHSEED, makes it start again under -I, losing the shortened default);
    # -I also keeps the current directory off sys.path: the installed package runs.
    return [sys.executable, "-I", "-c", code, script]


@dataclass
class Env:
    """Paths and environment of one isolated credhelper installation."""

    root: Path
    home: Path  # CREDHELPER_HOME: the store directory
    docker_config: Path  # DOCKER_CONFIG
    env: dict[str, str]

    @property
    def store(self) -> Path:
        return self.home / "config.json"

    @property
    def key(self) -> Path:
        return self.home / "aeskey"

    def helper(
        self, action: str, stdin: bytes | str | None = b"", *args: str, **kw: object
    ) -> subprocess.CompletedProcess[bytes]:
        """Run docker-credential-credhelper ACTION with `stdin`, as a client would."""
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return subprocess.run(
            [HELPER, action, *args],
            input=data,
            capture_output=True,
            env=self.env,
            timeout=60,
            check=False,
        )

    def call(
        self,
        action: str,
        stdin: bytes | str | None = b"",
        *args: str,
        env: dict[str, str] | None = None,
    ) -> Result:
        """docker-credential-credhelper ACTION in this process: what `helper` gives.

        The same code as the executable minus the process set-up (credhelper.protocol.run
        with BytesIO streams), under exactly the environment the executable gets
        (`env`, by default `self.env`; restored afterwards).
        tests/test_protocol_equivalence.py proves both give the same bytes and exit code.
        """
        from credhelper import protocol

        data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
        argv = [HELPER, action, *args]
        out, err = io.BytesIO(), io.BytesIO()
        # The encoding and error handler of the executable's stderr (stdstreams).
        text_err = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace")
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env if env is None else env)
        inprocess.new_command()
        limit = inprocess.room_as_in_main()
        try:
            with inprocess.timer_kept():
                code = protocol.run(argv, io.BytesIO(data), out, text_err)
        finally:
            sys.setrecursionlimit(limit)
            os.environ.clear()
            os.environ.update(saved)
        text_err.flush()
        return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())

    def put(self, server: str, user: str, secret: str) -> None:
        """`store_creds` in this process (see `call`)."""
        import json

        proc = self.call(
            "store", json.dumps({"ServerURL": server, "Username": user, "Secret": secret})
        )
        assert proc.returncode == 0, proc.stdout

    def cli(
        self, *args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`credhelper ARGS…` without a TTY: what `cli_exe` gives, in this process where
        that is the same (tests/inprocess.py; tests/test_cli_equivalence.py proves it)."""
        run_env = env or self.env
        if not inprocess.in_process_ok(args, run_env):
            return self.cli_exe(*args, stdin=stdin, env=env)
        # subprocess's text mode: the locale's encoding, strict, universal newlines.
        encoding = locale.getpreferredencoding(False)
        data = stdin.encode(encoding) if isinstance(stdin, str) else (stdin or b"")
        code, out, err = inprocess.run_cli(CLI, args, data, run_env)
        return subprocess.CompletedProcess(
            [CLI, *args], code, _text(out, encoding), _text(err, encoding)
        )

    def cli_exe(
        self, *args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed `credhelper ARGS…` executable without a TTY (stdin bytes as
        they are, a str in the locale's encoding; output decoded as subprocess's text mode)."""
        encoding = locale.getpreferredencoding(False)
        data = stdin.encode(encoding) if isinstance(stdin, str) else (stdin or b"")
        proc = subprocess.run(
            [CLI, *args],
            input=data,
            capture_output=True,
            env=env or self.env,
            timeout=120,
            check=False,
        )
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, _text(proc.stdout, encoding), _text(proc.stderr, encoding)
        )

    def store_creds(self, server: str, user: str, secret: str) -> None:
        """A login stored as docker stores it: `put` (in this process, see `call`)."""
        self.put(server, user, secret)


def _text(raw: bytes, encoding: str) -> str:
    """Output as subprocess's text mode gives it: strict decoding, universal newlines."""
    return raw.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def make_env(root: Path) -> Env:
    home = root / "credhelper-home"
    docker_config = root / "docker-config"
    docker_config.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CREDHELPER_", "DOCKER_", "REGISTRY_AUTH_FILE"))
    }
    # What the product puts in $TMPDIR (`exec` jobs, `push` authfiles) stays with the
    # test, beside its HOME, even when a test kills it mid-way (leftovers_plugin.py).
    tmpdir = root.with_name(f"{root.name}-tmp")
    tmpdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        {
            "CREDHELPER_HOME": str(home),
            "DOCKER_CONFIG": str(docker_config),
            "HOME": str(root),
            "TMPDIR": str(tmpdir),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return Env(root=root, home=home, docker_config=docker_config, env=env)


@pytest.fixture
def ch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """An isolated credhelper: its store, Docker config and HOME under tmp_path.

    The in-process environment is pointed there too, so library calls and the
    subprocesses agree.
    """
    env = make_env(tmp_path)
    for key in list(os.environ):
        if key.startswith(("CREDHELPER_", "DOCKER_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CREDHELPER_HOME", str(env.home))
    monkeypatch.setenv("DOCKER_CONFIG", str(env.docker_config))
    monkeypatch.setenv("HOME", str(tmp_path))
    yield env


# The account's crontab is one for every test process (xdist workers, other runs).
# Tests that change it (their module uses schedule_support.crontab_kept, which also
# restores it) run alone: they hold an exclusive lock for their whole run. The only
# reader is doctor (its schedule check runs `crontab -l`): a test takes a shared
# lock, held to its end, the first time it starts `crontab` itself or in-process
# product code does, or starts a program with "doctor" in its arguments (the
# audit hook below sees every subprocess this process starts). Taking it only
# then keeps writers from waiting for the many tests that never read it. A writer
# first takes the turnstile, which stops new readers, so that a stream of
# readers cannot keep it waiting for ever.
_LOCKS = locks_dir()  # pytest-of-<user> in the temporary directory, shared by runs


def _flock(name: str, mode: int) -> int:
    fd = os.open(
        os.path.join(_LOCKS, f"credhelper-tests-{name}.lock"),
        os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
        0o600,
    )
    fcntl.flock(fd, mode)
    return fd


class _Crontab:
    """The lock the running test holds on the crontab (fd), if any."""

    held: int | None = None
    taking = threading.Lock()


def _crontab_take(mode: int) -> None:
    turnstile = _flock("crontab-turnstile", fcntl.LOCK_EX)
    try:
        _Crontab.held = _flock("crontab-rw", mode)
    finally:
        os.close(turnstile)


def _reads_crontab(argv: object) -> bool:
    words = argv if isinstance(argv, (list, tuple)) else [argv]
    text = [os.fsdecode(w) for w in words if isinstance(w, (str, bytes, os.PathLike))]
    return bool(text) and (
        os.path.basename(text[0]) == "crontab" or any("doctor" in w for w in text)
    )


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "subprocess.Popen" and _Crontab.held is None and _reads_crontab(args[1]):
        with _Crontab.taking:  # two threads of one test: one lock, no fd left open
            if _Crontab.held is None:
                _crontab_take(fcntl.LOCK_SH)


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test ends with the environment it started with: a test that runs product code
    in this process (a job's activate(), click's --docker-config) cannot hand its
    CREDHELPER_* or DOCKER_CONFIG to the next test on the same worker."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _crontab_turn(request: pytest.FixtureRequest) -> Iterator[None]:
    if "crontab_kept" in vars(request.module):
        _crontab_release()  # a shared lock a fixture took before this test began
        _crontab_take(fcntl.LOCK_EX)
    try:
        yield
    finally:
        _crontab_release()


def _crontab_release() -> None:
    if _Crontab.held is not None:
        os.close(_Crontab.held)
        _Crontab.held = None


def require_tool(name: str) -> str:
    """The path of an external tool, or a skip saying exactly what is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (install it, or run .ci/run which does)")
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CREDHELPER_STRICT") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        if reporter is not None:
            reporter.write_line(
                f"CREDHELPER_STRICT=1: {len(skipped)} test(s) skipped; in CI nothing may skip",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    """In CI the `slow` tests run too: `-m "not slow"` is for quick local runs only."""
    markexpr = " ".join((config.option.markexpr or "").split())
    if os.environ.get("CREDHELPER_STRICT") == "1" and "not slow" in markexpr:
        raise pytest.UsageError(
            f"CREDHELPER_STRICT=1: -m {config.option.markexpr!r} would drop the slow tests; "
            "in CI every test runs"
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--big",
        action="store_true",
        default=False,
        help="run stress and fuzz tests with their long budgets (not used in CI)",
    )


@pytest.fixture
def big(request: pytest.FixtureRequest) -> bool:
    """True when the run asked for the long stress/fuzz budgets (--big)."""
    return bool(request.config.getoption("--big"))
