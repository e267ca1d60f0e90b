"""The in-process CLI (`Env.cli`) is the executable (`Env.cli_exe`): output, exit code, files.

Most CLI tests run `credhelper ARGS` inside the test process (tests/inprocess.py)
for speed. This test is what lets them: every scenario below runs step by step
twice, once through the installed `credhelper` executable and once in-process,
each against its own fresh Env, under the very same environment (Env.env plus
the step's variables: one dict, handed to both), and every step must give the
same exit code, stdout and stderr (each env's root replaced by <root>), and
leave the same state behind: the same files and directories under the env's
HOME and TMPDIR, with the same types and modes and, where they are
deterministic, the same contents (sealed values and the key's bytes are random:
only their presence and length are compared), and the same `credhelper list`
output. Each in-process step is checked to have really run in this process (a
PYTHON* variable would have sent it to the executable, proving nothing).

The corpus covers version, --version, --help, no command, an unknown command, a
stray word that could be a password, undecodable argv, login --password-stdin
--no-verify (non-ASCII, CRLF, empty and undecodable passwords, no password
without a terminal), list and list --json, logout (present, absent, default,
--all, hostile names with terminal escape sequences), rotate (--yes,
--reencrypt, --json, --if-older-than, the refusal without a terminal), doctor /
-v / --json / --fix on a broken Docker config, install and uninstall
--restore-credentials, migrate from plaintext Docker logins and from another
helper (which reports the locale it was started with), a lost key, a damaged
store, the env key provider, --docker-config without CREDHELPER_HOME, a store
lock held past CREDHELPER_LOCK_TIMEOUT by another process, C / C.UTF-8 locales
with non-ASCII server and user names, output bytes that are not UTF-8
(compared as bytes, from inprocess.run_cli, below Env.cli's strict decoding), the
job directory a SIGKILLed `exec` leaves in $TMPDIR, a store nested near Python's
recursion limit and, with a private Secret Service, keyring backend detection
with the session bus unreachable and then reachable.

`KNOWN` keeps the one difference left as a strict xfail, so that fixing it
shows up (XPASS): a store lock held by the test process itself (the lock line
names the holder's pid except its own). A test that holds the store lock in its
own process and runs the CLI meanwhile uses `cli_exe`.

Only what differs between two runs by construction is replaced, each by its
own narrow rule (`Normaliser`): the roots; the key ids the store records and
the lock holder's pid (exact strings, known to the test, not guessed); RFC 3339
UTC times, the key's age in seconds and backups' UTC stamps (regexes matching
only those forms). Nothing else, and never a whole line.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import inprocess
from tests.conftest import CLI, Env, make_env, require_tool
from tests.keyring_session import secret_service

ROOT = "@ROOT@"  # in a step's args and variables: that env's root


@dataclass(frozen=True)
class Run:
    """One `credhelper ARGS` call: its stdin, the variables it sets on top of Env.env
    (None removes one), what holds the store lock meanwhile, and checks of its own."""

    args: tuple[str, ...]
    stdin: bytes | str | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    lock_held_by: str | None = None  # "child": another process; "test": this one
    expect: int | None = None  # the exit code both must give, where it is fixed
    raw: bool = False  # bytes in, bytes out, on both sides (`raw_exe`, `raw_in_process`)


Step = Run | Callable[[Env], None]


def run(*args: str, **kw: object) -> Run:
    return Run(tuple(args), **kw)  # type: ignore[arg-type]


def login(server: str, user: str, password: bytes | str, *extra: str, **kw: object) -> Run:
    args = ("login", server, "-u", user, "--password-stdin", "--no-verify", *extra)
    return Run(args, stdin=password, **kw)  # type: ignore[arg-type]


# --- steps that change an env directly (applied identically to both) ---------------------


def stored_logins(env: Env) -> None:
    """Two logins, stored as docker stores them (through the helper, in this process)."""
    env.put("a.example", "ua", "pa")
    env.put("b.example", "ub", "pb")


def lose_key(env: Env) -> None:
    env.key.unlink()


def garbage_store(env: Env) -> None:
    env.store.write_bytes(b'\x00\xff{"version": 2, "auths": [\xfe garbage')


def broken_docker_config(env: Env) -> None:
    path = env.docker_config / "config.json"
    path.write_text(json.dumps({"auths": {"bad.example": {"auth": "abc"}}}))
    path.chmod(0o600)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def plaintext_logins(env: Env) -> None:
    """What `docker login` leaves without a helper: base64 user:password in config.json."""
    path = env.docker_config / "config.json"
    doc = {
        "auths": {
            "plain.example": {"auth": b64("alice:pa55")},
            "https://index.docker.io/v1/": {"auth": b64("hub:tok")},
            "other.example:5000": {"auth": b64("bob:pässwörd")},
        },
        "psFormat": "table {{.ID}}",
    }
    path.write_text(json.dumps(doc, indent="\t"))
    path.chmod(0o600)


# A credential helper that tells, in the username it returns, the locale it was started
# with: what credhelper passes on to the programs it runs (helper_call.child_env).
ENV_ECHO = """#!/bin/sh
case "$1" in
list) printf '{"https://echo.example": "u"}' ;;
get) read -r url; printf '{"ServerURL":"%s","Username":"LC_CTYPE=%s LANG=%s","Secret":"pw"}' \\
    "$url" "${LC_CTYPE-unset}" "${LANG-unset}" ;;
*) exit 1 ;;
esac
"""


def env_echo_helper(env: Env) -> None:
    """docker-credential-envecho on the env's PATH (first)."""
    bin_dir = env.root / "bin"
    bin_dir.mkdir(mode=0o700)
    helper = bin_dir / "docker-credential-envecho"
    helper.write_text(ENV_ECHO)
    helper.chmod(0o700)
    env.env["PATH"] = f"{bin_dir}{os.pathsep}{env.env['PATH']}"


def nested_store(depth: int) -> Callable[[Env], None]:
    """The store with a member of its own, an array nested `depth` deep (a store keeps
    members it does not know). Python's json counts every level against the recursion
    limit (1000), from wherever the parse runs: near the limit, how deep the caller's
    stack already is decides."""

    def step(env: Env) -> None:
        doc = env.store.read_bytes().rstrip()
        assert doc.endswith(b"}"), doc[-20:]
        env.store.write_bytes(doc[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}\n")

    step.__name__ = f"nested_store({depth})"
    return step


def stale_job(env: Env) -> None:
    """What a `credhelper exec` killed by SIGKILL leaves in $TMPDIR (jobs.py): its job
    directory, owner and child dead; any later command sweeps it (cli._sweep_stale_jobs)."""
    found = re.fullmatch(r"pid:\[([0-9]+)\]", os.readlink("/proc/self/ns/pid"))
    assert found is not None
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
    root = Path(env.env["TMPDIR"]) / f"credhelper-jobs-{os.getuid()}"
    root.mkdir(mode=0o700)
    root.chmod(0o700)
    job = root / f"job-999999996-5-{found.group(1)}-{boot}-deadbeef"
    (job / "store").mkdir(mode=0o700, parents=True)
    (job / "child").write_text("999999997 5 999999997 999999997\n")  # dead pid, group, session


HOSTILE = "evil\x1b]0;owned\x07\x1b[31m.example\x9b2J"


def hostile_logins(env: Env) -> None:
    """Names `credhelper login` refuses but docker (through the helper) stores."""
    env.put(HOSTILE, "u\x1b[5m", "p")
    env.put("régistry.example", "ü", "pässwörd")
    env.put("ok.example", "plain", "pw")


# --- the corpus --------------------------------------------------------------------------

AESKEY = base64.b64encode(bytes(range(32))).decode()
LOCK_WAIT = {"CREDHELPER_LOCK_TIMEOUT": "0.2"}
LOCALES: list[dict[str, str | None]] = [
    {"LANG": "C", "LC_ALL": None, "LC_CTYPE": None},  # coerced to C.UTF-8 by Python
    {"LC_ALL": "C", "LANG": None},  # UTF-8 mode
    {"LC_ALL": "C.UTF-8", "LANG": None},
]

SCENARIOS: dict[str, list[Step]] = {
    "arguments": [
        run("version"),
        run("--version"),
        run("--help"),
        run(),
        run("bogus"),
        run("list", "ghp_notAPasswordButCouldBe0123456789"),
        run("login", "--password-stdin", "--no-verify", "reg.example", "extra-pw", stdin="pw"),
        run("logout", "--all", "--expired"),
        run("logout", "bad\udcff.example"),  # argv byte 0xff, as the shell would pass it
    ],
    "login and list": [
        run("list"),
        login("reg.example", "alice", "s3cret\n"),
        login("reg.example:5000", "bob", "pässwörd ✓\n", "--json"),
        login("https://index.docker.io/v1/", "hub", b"tok\r\n"),
        login("ghcr.io", "ci", "x" * 300, "--expires-in", "12h"),
        login("reg.example", "alice2", b""),
        run("login", "reg.example", "-u", "a", "--password-stdin", "-p", "x", stdin=b"pw"),
        run("login", "reg.example", "-u", "a", "--no-verify", stdin=b"pw\n"),
        run("list", "--json"),
    ],
    "hostile names and logout": [
        hostile_logins,
        run("list"),
        run("list", "--json"),
        run("logout", HOSTILE),
        run("logout", "ok.example"),
        run("logout", "ok.example", "--json"),
        run("logout"),
        run("logout", "--all"),
        run("list"),
    ],
    "rotate": [
        run("rotate", "--yes"),
        login("a.example", "ua", "pa"),
        login("b.example", "ub", "pb"),
        run("rotate"),
        run("rotate", "--reencrypt", "--yes"),
        run("rotate", "--yes", "--json"),
        run("rotate", "--yes", "--if-older-than", "90d"),
        login("a.example", "ua", "pa2"),
        run("list"),
    ],
    "doctor": [
        broken_docker_config,
        run("doctor"),
        run("doctor", "--json"),
        run("doctor", "--fix"),
        run("doctor", "-v"),
        run("doctor", "--fix", "--json"),
    ],
    "install, uninstall, migrate": [
        run("migrate", "--from", "docker"),
        plaintext_logins,
        run("install"),
        run("list"),
        run("uninstall", "--restore-credentials", "--json"),
        run("migrate", "--from", "docker", "--json"),
        env_echo_helper,
        run("migrate", "--from-helper", "envecho"),
        run("list"),
    ],
    "lost key": [
        stored_logins,
        lose_key,
        run("list"),
        run("doctor"),
        login("a.example", "ua", "pa-again"),
        run("list", "--json"),
    ],
    "damaged store": [
        stored_logins,
        garbage_store,
        run("list"),
        login("b.example", "ub", "pb"),
        run("doctor", "--fix"),
        login("b.example", "ub", "pb"),
    ],
    "env key and other directories": [
        login("a.example", "ua", "pa", env={"CREDHELPER_AESKEY": AESKEY}),
        run("list", env={"CREDHELPER_AESKEY": AESKEY}),
        run("list"),
        run("install", "--docker-config", f"{ROOT}/alt", env={"CREDHELPER_HOME": None}),
        login("c.example", "uc", "pc", env={"CREDHELPER_HOME": None, "DOCKER_CONFIG": None}),
        run("list", env={"CREDHELPER_HOME": None, "DOCKER_CONFIG": f"{ROOT}/alt"}),
        run("doctor"),
    ],
    "store locked by another process": [
        stored_logins,
        login("c.example", "uc", "pc", env=LOCK_WAIT, lock_held_by="child", expect=7),
        run("logout", "a.example", env=LOCK_WAIT, lock_held_by="child", expect=7),
    ],
    "locales": [
        hostile_logins,
        run("rotate", "--yes"),
        run("doctor", env=LOCALES[0]),
        *(
            step
            for n, variant in enumerate(LOCALES)
            for step in (
                run("list", env=variant),
                run("logout", "régistry.example", env=variant),
                login(f"r{n}.example", f"üser{n}", "pässwörd\n", env=variant),
            )
        ),
    ],
    # Env.cli and cli_exe decode output strictly (subprocess's text mode): bytes that are
    # not UTF-8 are compared as bytes, below the decoding, from inprocess.run_cli itself.
    "undecodable bytes": [
        login("a.example", "ua", b"\xff\xfe pass \x80\n", raw=True),
        login("c.example", "uc", b"ok \xc3\xa9 \xed\xa0\x80\n", raw=True, env={"LC_ALL": "C"}),
        login("d.example", "ud", "pässwörd ✓\n".encode(), raw=True),
        run("install", "--docker-config", f"{ROOT}/d\udcff", raw=True),
        run("doctor", "--docker-config", f"{ROOT}/d\udcff", "--json", raw=True),
        run("list", env={"DOCKER_CONFIG": f"{ROOT}/d\udcff", "CREDHELPER_HOME": None}, raw=True),
        run("logout", "a\udcffb", raw=True),
    ],
    # Python's start-up coerces LANG=C to C.UTF-8 and puts LC_CTYPE=C.UTF-8 in the
    # executable's environment (PEP 538); the programs it runs inherit that.
    "a program credhelper runs, under LANG=C": [
        env_echo_helper,
        run("migrate", "--from-helper", "envecho", env=LOCALES[0]),
    ],
    # cli_exe hands stdin's bytes over as they are (the executable says: not UTF-8).
    "undecodable password through cli_exe": [login("a.example", "ua", b"\xff\xfe pass \x80\n")],
    # The executable parses a store nested up to ~985 deep (its stack starts ~15 frames
    # down); in-process the parse starts below pytest's (and xdist's) frames and gives
    # up ~40 levels earlier: "JSON nested too deeply", exit 4.
    # jobs.jobs_root() is tempfile.gettempdir()'s, which Python works out from $TMPDIR
    # once per process and keeps: the executable sweeps the env's TMPDIR; in-process the
    # sweep looks where the pytest worker's first gettempdir() pointed (/tmp).
    "a job left by a killed exec": [stale_job, run("version"), run("list")],
    "a store nested 970 deep": [
        stored_logins,
        nested_store(970),
        run("list"),
        run("list", "--json"),
        login("c.example", "uc", "pc"),
    ],
}

# Scenarios run with a private Secret Service (tests/keyring_session.py) in both envs.
# keyring detects its backends once per process (keyring.backend.get_all_keyring is
# @once; inprocess.new_command resets only keyring.core's chosen backend): the session
# bus that a pytest worker's first detection saw decides every later one. Seen first
# without a bus, the Secret Service is never a candidate again (the executable
# installs, exit 0; in-process: "no usable OS keyring", exit 4); seen first with one, a
# later unreachable bus gives "cannot find the OS keyring (RuntimeError: ...)" where
# the executable says "no usable OS keyring was found (no Secret Service?)". Either
# way one of the two installs below differs, whatever ran before on the worker.
NO_BUS: dict[str, str | None] = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={ROOT}/no-bus"}
KEYRING_SCENARIOS: dict[str, list[Step]] = {
    "keyring detection, bus unreachable then reachable": [
        login("a.example", "ua", "pa"),
        run("install", "--key-provider", "keyring", env=NO_BUS),
        run("install", "--key-provider", "keyring"),
        run("list"),
    ],
}

# Known differences, kept so that they are fixed: strict, so a fix makes them fail as XPASS.
KNOWN: dict[str, tuple[list[Step], type[BaseException], str]] = {
    "store locked by the test process": (
        [
            stored_logins,
            login("c.example", "uc", "pc", env=LOCK_WAIT, lock_held_by="test", expect=7),
        ],
        AssertionError,
        "lockwait.holder_pid() skips os.getpid(): in-process the holder is the process "
        "itself, so the line says 'another process holds it' where the executable says "
        "'pid N: python3.x holds it'",
    ),
}


# --- normalising and state ---------------------------------------------------------------

# Each env writes at its own wall-clock second: the store's "updated" stamps, the key's
# creation and rotation times and list's UPDATED column are RFC 3339 UTC times.
RFC3339 = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
# The key's age in list and doctor, "(0s ago)", "(1m 5s ago)" (durations.format_duration),
# depends on when the step ran.
KEY_AGE = re.compile(r"\(\d+[dhms](?: \d+[dhms])? ago\)")
# Backups are named <file>.bak-<UTC time>, and .bak-<UTC time>.N when one of that second
# exists (backups.write_backup): whether two backups fall in one second depends on the
# clock (the executable is slower), so the suffix goes with the stamp. Their number does
# not: every backup is still one entry in the files compared.
BACKUP_STAMP = re.compile(r"\.bak-\d{8}T\d{6}Z(?:\.\d+\b)?")


class Normaliser:
    """What differs between the two envs by construction: their roots, the random key ids
    of their stores (read from the store file: exact strings) and a lock holder's pid."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.key_ids: list[str] = []
        self.holder: int | None = None

    def learn(self) -> None:
        """Record the key ids the env's stores now hold (the usual one, and any other a
        step made: --docker-config DIR), in order of first appearance."""
        for path in sorted(self.env.root.rglob("config.json")):
            with _deep_enough():
                try:
                    doc = json.loads(path.read_bytes())
                except (OSError, ValueError):
                    continue
                found_ids = list(_key_ids(doc))
            for found in found_ids:
                if found not in self.key_ids:
                    self.key_ids.append(found)

    def text(self, text: str) -> str:
        text = text.replace(str(self.env.root), "<root>")
        for n, kid in enumerate(self.key_ids):
            text = text.replace(kid, f"<key-{n}>")
        if self.holder is not None:
            text = text.replace(f"pid {self.holder}:", "pid <holder>:")
        text = RFC3339.sub("<time>", text)
        text = KEY_AGE.sub("(<age> ago)", text)
        return BACKUP_STAMP.sub(".bak-<stamp>", text)


def _key_ids(doc: object) -> Iterator[str]:
    if isinstance(doc, dict):
        for name, value in doc.items():
            if name == "keyId" and isinstance(value, str):
                yield value
            else:
                yield from _key_ids(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _key_ids(value)


def _masked(doc: object) -> object:
    """A JSON document with its sealed (random) values replaced by their presence."""
    if isinstance(doc, dict):
        # An invalidated login keeps its username sealed ("user"), as random as "sealed".
        random = {"sealed", "user"} if "invalidated" in doc else {"sealed"}
        return {k: "<sealed>" if k in random else _masked(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_masked(v) for v in doc]
    return doc


@contextlib.contextmanager
def _deep_enough() -> Iterator[None]:
    """Room for this test's own reading of the files a step left (a store nested near
    Python's default limit, below the test's frames)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _content(path: Path, norm: Normaliser) -> str:
    data = path.read_bytes()
    if path.name == "aeskey":
        return f"<key: {len(data)} bytes>"  # random bytes: only their length is fixed
    with _deep_enough():
        try:
            doc = json.loads(data)
        except ValueError:
            return norm.text(data.decode("utf-8", "backslashreplace"))
        return norm.text(json.dumps(_masked(doc), sort_keys=True, ensure_ascii=False))


def files(env: Env, norm: Normaliser) -> list[tuple[str, str, str]]:
    """(path, type and mode, content) of everything under the env's HOME and TMPDIR."""
    found = []
    for top in (env.root, Path(env.env["TMPDIR"])):
        for dirpath, dirnames, filenames in os.walk(top):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath, name)
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    content = norm.text(os.readlink(path))
                elif stat.S_ISREG(st.st_mode):
                    content = _content(path, norm)
                else:
                    content = ""
                found.append((norm.text(str(path)), stat.filemode(st.st_mode), content))
    return sorted(found)


def listing(env: Env, norm: Normaliser) -> tuple[int, str, str]:
    """`credhelper list` as the next command sees the state (one runner for both envs)."""
    proc = env.cli("list")
    return proc.returncode, norm.text(proc.stdout), norm.text(proc.stderr)


# --- running -----------------------------------------------------------------------------


def fresh_env(root: Path) -> Env:
    """make_env's env less any PYTHON* variable that would keep `cli` on the executable
    (both sides would be the executable then, and nothing would be proven)."""
    env = make_env(root)
    env.env = {n: v for n, v in env.env.items() if inprocess.in_process_ok(("list",), {n: v})}
    return env


def step_env(env: Env, step: Run) -> dict[str, str]:
    """The one environment both runners get for `step` in `env`."""
    merged = dict(env.env)
    for name, value in step.env.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value.replace(ROOT, str(env.root))
    return merged


def _as_text(raw: bytes) -> str:
    """Bytes as a str that keeps every byte (undecodable ones as lone surrogates)."""
    return raw.decode("utf-8", "surrogateescape")


def raw_exe(
    args: tuple[str, ...], stdin: bytes, run_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The executable given stdin's bytes as they are; its output's bytes, all kept."""
    proc = subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, env=run_env, timeout=120, check=False
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, _as_text(proc.stdout), _as_text(proc.stderr)
    )


def raw_in_process(
    args: tuple[str, ...], stdin: bytes, run_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """What Env.cli runs, before it decodes: inprocess.run_cli's bytes, all kept."""
    code, out, err = inprocess.run_cli(CLI, args, stdin, run_env)
    return subprocess.CompletedProcess([CLI, *args], code, _as_text(out), _as_text(err))


HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # never waits: held now, or exits
print("held", flush=True)
sys.stdin.read()
"""


class LockHolder:
    """An exclusive flock on the env's store lock file, by this process or by a child."""

    def __init__(self, env: Env, norm: Normaliser, by: str) -> None:
        env.home.mkdir(mode=0o700, exist_ok=True)
        path = str(env.home / "config.json.lock")
        self.fd: int | None = None
        self.child: subprocess.Popen[str] | None = None
        if by == "test":
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        self.child = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", HOLD, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        if self.child.stdout.readline() != "held\n":  # '' once it has exited
            self.release()
            raise AssertionError("the lock holder did not take the lock")
        norm.holder = self.child.pid

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        if self.child is not None:
            try:
                self.child.communicate(timeout=30)  # closes its stdin: it exits
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(timeout=30)


def one_side(
    env: Env, norm: Normaliser, step: Run, in_process: bool
) -> subprocess.CompletedProcess[str]:
    run_env = step_env(env, step)
    args = tuple(a.replace(ROOT, str(env.root)) for a in step.args)
    holder = LockHolder(env, norm, step.lock_held_by) if step.lock_held_by else None
    try:
        if in_process:
            assert inprocess.in_process_ok(args, run_env), step
        if step.raw:
            stdin = step.stdin or b""
            assert isinstance(stdin, bytes), step
            return (raw_in_process if in_process else raw_exe)(args, stdin, run_env)
        if in_process:
            return env.cli(*args, stdin=step.stdin, env=run_env)
        return env.cli_exe(*args, stdin=step.stdin, env=run_env)
    finally:
        if holder is not None:
            holder.release()


def check(tmp_path: Path, steps: list[Step], monkeypatch: pytest.MonkeyPatch) -> None:
    in_process_calls = []
    real_run_cli = inprocess.run_cli

    def counted(*a: object, **kw: object) -> tuple[int, bytes, bytes]:
        in_process_calls.append(a)
        return real_run_cli(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(inprocess, "run_cli", counted)
    real, inproc = fresh_env(tmp_path / "real"), fresh_env(tmp_path / "inproc")
    norms = {id(real): Normaliser(real), id(inproc): Normaliser(inproc)}
    for n, step in enumerate(steps):
        if callable(step):
            step(real)
            step(inproc)
            continue
        results = []
        for env, in_process in ((real, False), (inproc, True)):
            norm = norms[id(env)]
            norm.holder = None
            norm.learn()
            before = len(in_process_calls)
            proc = one_side(env, norm, step, in_process)
            # The in-process side ran in this process, the executable's did not.
            assert len(in_process_calls) == before + in_process, f"step {n}: {step}"
            norm.learn()
            out = (proc.returncode, norm.text(proc.stdout), norm.text(proc.stderr))
            results.append((out, files(env, norm), listing(env, norm)))
        (by_exe, exe_files, exe_list), (by_call, call_files, call_list) = results
        where = f"step {n}: credhelper {' '.join(map(repr, step.args))} {step.env or ''}"
        assert by_call == by_exe, where
        assert call_files == exe_files, f"{where}: files"
        assert call_list == exe_list, f"{where}: list"
        if step.expect is not None:
            assert by_exe[0] == step.expect, f"{where}: {by_exe}"
        assert "internal error" not in by_exe[2], f"{where}: {by_exe[2]}"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_process_cli_gives_the_executables_output_and_files(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    check(tmp_path, SCENARIOS[name], monkeypatch)


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(KEYRING_SCENARIOS))
def test_in_process_cli_with_a_secret_service(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tool("secret-tool")
    with secret_service(tmp_path / "ss") as bus:

        def on_the_bus(env: Env) -> None:
            env.env.update(bus)

        check(tmp_path, [on_the_bus, *KEYRING_SCENARIOS[name]], monkeypatch)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, raises=raises, reason=reason))
        for name, (_steps, raises, reason) in KNOWN.items()
    ],
)
def test_known_differences(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check(tmp_path, KNOWN[name][0], monkeypatch)
