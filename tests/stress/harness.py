"""Run many real helper processes at once and check their history against a model.

Every secret written encodes its server, writer and a checksum, so any reader
can tell a whole value some writer wrote for that server from a torn or mixed
one. Each operation's interval [launch, reap] is recorded by the parent (a
superset of the real interval), and each read and the final state are checked
against the values a linearizable register could hold: nothing lost, nothing
torn, nothing resurrected. Used by tests/stress and scripts/stress.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
HELPER = str(BIN / "docker-credential-credhelper")
CLI = str(BIN / "credhelper")
NOT_FOUND = b"credentials not found in native keychain"
INF = float("inf")
MUTATING = ("store", "erase", "rotate")


def make_secret(server: str, writer: int, pad: int = 48) -> str:
    """A secret that names its server and writer and carries its own checksum."""
    body = f"{server}|{writer}|" + hashlib.sha256(f"{server}{writer}".encode()).hexdigest()
    body = (body * (1 + pad // len(body)))[: max(pad, len(body))]
    body = f"{server}|{writer}|{body}"
    return f"{body}|{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def parse_secret(secret: str) -> tuple[str, int] | None:
    """(server, writer) of a whole secret made by make_secret, else None (torn/foreign)."""
    body, sep, check = secret.rpartition("|")
    if not sep or hashlib.sha256(body.encode()).hexdigest()[:16] != check:
        return None
    server, _, rest = body.partition("|")
    writer, _, _ = rest.partition("|")
    try:
        return server, int(writer)
    except ValueError:
        return None


def username_for(writer: int) -> str:
    return f"user{writer}"


@dataclass
class Op:
    """One process: what it was asked, when, and what it answered."""

    idx: int
    kind: str  # store | get | erase | list | rotate
    server: str | None = None
    forced: bool = False  # rotate without --reencrypt: invalidates every entry
    start: float = 0.0
    end: float = INF
    rc: int | None = None
    out: bytes = b""
    err: bytes = b""
    killed: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def argv(self) -> list[str]:
        if self.kind == "rotate":
            extra = [] if self.forced else ["--reencrypt"]
            return [CLI, "rotate", *extra, "--yes"]
        return [HELPER, self.kind]

    def stdin(self) -> bytes:
        if self.kind == "store":
            assert self.server is not None
            return json.dumps(
                {
                    "ServerURL": self.server,
                    "Username": username_for(self.idx),
                    "Secret": make_secret(self.server, self.idx),
                }
            ).encode()
        if self.kind in ("get", "erase"):
            assert self.server is not None
            return self.server.encode()
        return b""


def _status_code(status: int) -> tuple[int, bool]:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), True
    return os.WEXITSTATUS(status), False


def run_concurrently(
    ops: list[Op], env: dict[str, str], workdir: Path, deadline_s: float = 240.0
) -> bool:
    """Launch every op as its own process as fast as possible; reap all of them.

    Children are reaped as soon as they exit (also between launches) so each
    recorded end time is close to the real one. Returns False if the deadline
    passed (a deadlock); every process left is then killed and reaped.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env_list = dict(env)
    by_pid: dict[int, Op] = {}
    files: dict[int, tuple[Path, Path]] = {}

    def reap(block: bool) -> None:
        while by_pid:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            now = time.monotonic()
            op = by_pid.pop(pid, None)
            if op is None:
                continue
            op.end = now
            op.rc, op.killed = _status_code(status)
            block = False

    for op in ops:
        stdin_path = workdir / f"{op.idx}.in"
        stdin_path.write_bytes(op.stdin())
        out_path, err_path = workdir / f"{op.idx}.out", workdir / f"{op.idx}.err"
        fds = [
            os.open(stdin_path, os.O_RDONLY),
            os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        ]
        try:
            op.start = time.monotonic()
            argv = op.argv()
            pid = os.posix_spawn(
                argv[0],
                argv,
                env_list,
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)],
            )
        finally:
            for fd in fds:
                os.close(fd)
        by_pid[pid] = op
        files[op.idx] = (out_path, err_path)
        reap(block=False)

    limit = time.monotonic() + deadline_s
    while by_pid and time.monotonic() < limit:
        reap(block=False)
        if by_pid:
            time.sleep(0.005)  # a poll with a bound (the deadline), not a wait for luck
    finished = not by_pid
    for pid in list(by_pid):
        os.kill(pid, signal.SIGKILL)
    reap(block=True)
    for op in ops:
        out_path, err_path = files[op.idx]
        op.out, op.err = out_path.read_bytes(), err_path.read_bytes()
    return finished


@dataclass
class Report:
    processes: int = 0
    operations: int = 0
    lost: int = 0
    torn: int = 0
    stale: int = 0
    resurrected: int = 0
    errors: int = 0
    lock_timeouts: int = 0  # writers that hit the CREDHELPER_LOCK_TIMEOUT bound (exit 1)
    deadlocked: bool = False
    max_op_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def note(self, what: str, detail: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(f"{what}: {detail}")

    def figures(self) -> dict[str, object]:
        return {
            "processes": self.processes,
            "operations": self.operations,
            "lost": self.lost,
            "torn": self.torn,
            "stale": self.stale,
            "resurrected": self.resurrected,
            "errors": self.errors,
            "lock_timeouts": self.lock_timeouts,
            "deadlock": self.deadlocked,
            "max_op_seconds": round(self.max_op_seconds, 2),
        }

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.torn
            or self.stale
            or self.resurrected
            or self.errors
            or self.deadlocked
        )


class Model:
    """The possible values of each server's register, from the recorded history."""

    def __init__(self, servers: Iterable[str], initial: dict[str, int], ops: list[Op]) -> None:
        self.servers = list(servers)
        self.initial = initial  # server -> writer id of the value present before the run
        self.muts: dict[str, list[Op]] = {s: [] for s in self.servers}
        for op in ops:
            if op.kind in ("store", "erase") and op.server in self.muts:
                self.muts[op.server].append(op)
            elif op.kind == "rotate" and op.forced:
                for server in self.servers:
                    self.muts[server].append(op)

    @staticmethod
    def effect(op: Op | None, initial: int | None) -> int | None:
        """The writer whose value the register holds after `op` (None: absent)."""
        if op is None:
            return initial
        return op.idx if op.kind == "store" else None

    def possible(self, server: str, start: float, end: float) -> set[int | None]:
        """Values a read over [start, end] may return.

        A mutation may be the one seen if it began before the read ended and no
        completed mutation strictly after it had ended before the read began.
        Failed mutations may have happened but never supersede anything.
        """
        muts = self.muts[server]
        done = [m for m in muts if m.ok]
        out: set[int | None] = set()
        candidates: list[Op | None] = [None, *muts]
        for m in candidates:
            m_start, m_end = (-INF, -INF) if m is None else (m.start, m.end)
            if m_start >= end:
                continue
            superseded = any(m_end < n.start and n.end < start for n in done if n is not m)
            if not superseded:
                out.add(self.effect(m, self.initial.get(server)))
        return out

    def superseder(self, server: str, writer: int) -> str:
        """'resurrected' if an erase or forced rotation should have removed `writer`."""
        w = next((m for m in self.muts[server] if m.idx == writer), None)
        if w is None:
            return "torn"
        later = [n for n in self.muts[server] if n.ok and n.start > w.end]
        return "resurrected" if later and all(n.kind != "store" for n in later) else "lost"


def _classify_get(op: Op, model: Model, report: Report, start: float, end: float) -> None:
    assert op.server is not None
    allowed = model.possible(op.server, start, end)
    if op.rc == 0:
        try:
            doc = json.loads(op.out)
            secret, user = doc["Secret"], doc["Username"]
        except (ValueError, KeyError, TypeError):
            report.torn += 1
            report.note("torn", f"get {op.server}: output is not a credential record")
            return
        parsed = parse_secret(secret)
        if parsed is None or parsed[0] != op.server or username_for(parsed[1]) != user:
            report.torn += 1
            report.note("torn", f"get {op.server}: secret fails its checksum or names another")
            return
        if parsed[1] not in allowed:
            kind = model.superseder(op.server, parsed[1]) if end == INF else "stale"
            setattr(report, kind, getattr(report, kind) + 1)
            report.note(kind, f"get {op.server} returned writer {parsed[1]}; allowed {allowed}")
        return
    if op.rc == 1 and op.out.strip() == NOT_FOUND:
        if None not in allowed:
            if end == INF:
                report.lost += 1
            else:
                report.stale += 1
            report.note("lost" if end == INF else "stale", f"get {op.server}: not found")
        return
    report.errors += 1
    report.note("error", f"get {op.server}: rc={op.rc} {op.out[:200]!r}")


def _classify_list(op: Op, model: Model, report: Report, start: float, end: float) -> None:
    if op.rc != 0:
        report.errors += 1
        report.note("error", f"list: rc={op.rc} {op.out[:200]!r}")
        return
    try:
        listed = json.loads(op.out)
        assert isinstance(listed, dict)
    except (ValueError, AssertionError):
        report.torn += 1
        report.note("torn", "list output is not a JSON object")
        return
    for server in model.servers:
        allowed = model.possible(server, start, end)
        user = listed.get(server)
        ok = (
            (None in allowed)
            if user is None
            else any(w is not None and username_for(w) == user for w in allowed)
        )
        if not ok:
            kind = "lost" if end == INF else "stale"
            setattr(report, kind, getattr(report, kind) + 1)
            report.note(kind, f"list shows {server} as {user!r}; allowed {allowed}")
    for server in set(listed) - set(model.servers):
        report.torn += 1
        report.note("torn", f"list shows unknown server {server!r}")


def check_history(model: Model, ops: list[Op], report: Report) -> None:
    """Check every read made during the run, and every mutation's exit status."""
    for op in ops:
        report.max_op_seconds = max(report.max_op_seconds, op.end - op.start)
        if op.killed:
            report.errors += 1
            report.note("error", f"{op.kind} was killed by signal {-(op.rc or 0)}")
        elif op.kind == "get":
            _classify_get(op, model, report, op.start, op.end)
        elif op.kind == "list":
            _classify_list(op, model, report, op.start, op.end)
        elif op.rc == 1 and b"waiting for the lock" in op.out and op.out.count(b"\n") == 1:
            # The bounded wait did its job: a clear error, and the model treats the
            # write as possibly applied (it never supersedes anything).
            report.lock_timeouts += 1
        elif op.rc != 0:
            report.errors += 1
            report.note("error", f"{op.kind} {op.server}: rc={op.rc} {op.out[:200]!r}")


def check_final(model: Model, env: dict[str, str], report: Report) -> None:
    """After the run: one get per server and one list, as of 'after everything'."""
    import subprocess

    for server in model.servers:
        proc = subprocess.run(
            [HELPER, "get"], input=server.encode(), capture_output=True, env=env, timeout=60
        )
        op = Op(-1, "get", server, rc=proc.returncode, out=proc.stdout)
        _classify_get(op, model, report, INF, INF)
    proc = subprocess.run([HELPER, "list"], capture_output=True, env=env, timeout=60)
    _classify_list(Op(-1, "list", rc=proc.returncode, out=proc.stdout), model, report, INF, INF)


def plan(
    n_processes: int,
    servers: list[str],
    seed: int,
    rotations: tuple[tuple[float, bool], ...] = (),
) -> list[Op]:
    """A reproducible mix: 40% store, 30% get, 15% erase, 15% list (+ rotations).

    `rotations` places `credhelper rotate` runs at fractions of the launch order;
    the bool says forced (invalidate everything) or --reencrypt.
    """
    rng = random.Random(seed)
    kinds = rng.choices(["store", "get", "erase", "list"], weights=[40, 30, 15, 15], k=n_processes)
    ops = [
        Op(i, kind, None if kind == "list" else rng.choice(servers)) for i, kind in enumerate(kinds)
    ]
    for where, forced in rotations:
        ops.insert(int(len(ops) * where), Op(0, "rotate", None, forced=forced))
    for i, op in enumerate(ops):
        op.idx = i + 1000  # writer ids; the initial values use 0..999
    return ops


def server_names(n: int) -> list[str]:
    # A mix of the spellings clients really send.
    shapes = ["registry{}.example:5000", "https://index{}.docker.io/v1/", "ghcr{}.io"]
    return [shapes[i % len(shapes)].format(i) for i in range(n)]


def seed_store(servers: list[str], initial: dict[str, int], filler: int = 0) -> None:
    """Write the starting store in-process (the environment points at the test's home)."""
    from credhelper.store import Store

    with Store().transaction() as txn:
        for server, writer in initial.items():
            txn.put(server, username_for(writer), make_secret(server, writer))
        for i in range(filler):
            name = f"filler{i}.example"
            txn.put(name, "filler", "x" * 64)


def stress_run(
    env: dict[str, str],
    workdir: Path,
    n_processes: int,
    n_servers: int,
    seed: int,
    rotations: tuple[tuple[float, bool], ...] = (),
    lock_timeout: str | None = None,
) -> Report:
    """Seed a store, run the mix, check it. The caller's os.environ must match `env`.

    `lock_timeout` sets CREDHELPER_LOCK_TIMEOUT for the run (None: the default bound).
    """
    if lock_timeout is not None:
        env = {**env, "CREDHELPER_LOCK_TIMEOUT": lock_timeout}
    servers = server_names(n_servers)
    rng = random.Random(seed ^ 0x5EED)
    initial = {s: i for i, s in enumerate(servers) if rng.random() < 0.6}
    seed_store(servers, initial)
    ops = plan(n_processes, servers, seed, rotations)
    report = Report(processes=len(ops), operations=len(ops) + len(servers) + 1)
    finished = run_concurrently(ops, env, workdir)
    report.deadlocked = not finished
    model = Model(servers, initial, ops)
    check_history(model, ops, report)
    check_final(model, env, report)
    store_dir = Path(env["CREDHELPER_HOME"])
    leftovers = [p.name for p in store_dir.iterdir() if ".tmp-" in p.name]
    if leftovers:
        report.errors += 1
        report.note("error", f"temp files left after the run: {leftovers}")
    return report
