"""`credhelper push` with real skopeo into a real registry, and docker without a daemon.

Engines are wrapped by shims on PATH that record every argv (and the content of any
--authfile), so the tests can prove no password ever reaches a child's argv.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from credhelper import push, reference
from credhelper.errors import UsageError
from tests.conftest import BIN, CLI, Env, make_env, require_tool
from tests.registry_server import (
    OciImage,
    RegistryServer,
    free_port,
    make_oci_layout,
    make_pki,
    start_registry,
)
from tests.terminal import run_on_tty

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e

SHIM = """#!/bin/sh
log={log}
printf '%s\\n' "{name} $*" >> "$log"
if [ -t 1 ]; then
  exec 3<&1  # in $(...) fd 1 is the substitution's pipe; fd 3 is the terminal
  echo "tty: {name} stdout is a terminal of size $(stty size <&3)" >> "$log"
  exec 3<&-
  if (exec 4</dev/tty) 2>/dev/null; then echo "tty: {name} has a controlling terminal" >> "$log"; fi
fi
prev=
for arg in "$@"; do
  if [ "$prev" = "--authfile" ]; then echo "authfile: $(cat "$arg")" >> "$log"; fi
  prev=$arg
done
exec {real} "$@"
"""


@dataclass
class Pusher:
    ch: Env
    reg: RegistryServer
    image: OciImage
    env: dict[str, str]
    log: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [CLI, *args],
            input="",
            capture_output=True,
            text=True,
            env=env or self.env,
            timeout=180,
            check=False,
        )
        for password in self.reg.users.values():
            assert password not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        return proc

    def login(self, user: str = "alice") -> None:
        proc = subprocess.run(
            [CLI, "login", self.reg.host, "-u", user, "--password-stdin"],
            input=self.reg.users[user],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr

    def push_skopeo(self, tag: str = "v1") -> subprocess.CompletedProcess[str]:
        return self.run(
            "push",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{self.image.path}:{self.image.tag}",
            f"{self.reg.host}/demo/app:{tag}",
        )

    def calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _shim(directory: Path, name: str, real: str, log: Path) -> None:
    path = directory / name
    path.write_text(SHIM.format(log=log, name=name, real=real))
    path.chmod(stat.S_IRWXU)


@pytest.fixture
def pusher(ch: Env, registry_htpasswd_tls: RegistryServer, tmp_path: Path) -> Pusher:
    skopeo = require_tool("skopeo")
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    _shim(shims, "skopeo", skopeo, log)
    _shim(shims, "docker-credential-credhelper", str(BIN / "docker-credential-credhelper"), log)
    env = registry_htpasswd_tls.client_env(ch.env)
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    image = make_oci_layout(tmp_path / "oci")
    return Pusher(ch, registry_htpasswd_tls, image, env, log)


def assert_no_secret_in_children(p: Pusher) -> None:
    calls = p.calls()
    for password in p.reg.users.values():
        assert password not in calls


def test_push_with_skopeo(pusher: Pusher) -> None:
    p = pusher
    p.login()
    proc = p.push_skopeo()
    assert proc.returncode == 0, proc.stderr
    assert "Writing manifest to image destination" in proc.stdout  # streamed through
    assert p.reg.catalog() == ["demo/app"]
    assert p.reg.tags("demo/app") == ["v1"]
    assert p.reg.manifest_digest("demo/app", "v1") == p.image.manifest_digest
    calls = p.calls()
    assert "credHelpers" in calls and "docker-credential-credhelper get" in calls
    assert_no_secret_in_children(p)


def test_push_without_credentials(pusher: Pusher) -> None:
    p = pusher
    proc = pusher.push_skopeo()
    assert proc.returncode == 3
    assert f"no credentials stored for {p.reg.host}" in proc.stderr
    assert f"run: credhelper login {p.reg.host}" in proc.stderr
    assert "skopeo" not in p.calls()  # stopped before the engine ran
    assert p.reg.catalog() == []


def test_push_with_a_wrong_password(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    proc = p.push_skopeo()
    assert proc.returncode == 5, proc.stderr
    assert "authentication required" in proc.stderr  # skopeo's own output, streamed
    assert f"{p.reg.host} rejected the credentials of alice" in proc.stderr
    assert f"run: credhelper login {p.reg.host}" in proc.stderr
    assert "not-the-password" not in proc.stdout + proc.stderr
    assert p.reg.catalog() == []
    assert_no_secret_in_children(p)


def test_push_after_the_key_file_was_removed(pusher: Pusher) -> None:
    p = pusher
    p.login()
    p.ch.key.unlink()  # the key that sealed the login is gone
    proc = p.push_skopeo()
    assert proc.returncode == 3
    # The very line get prints for the same entry (one wording, from the store).
    get = p.ch.helper("get", p.reg.host)
    [hint] = get.stderr.decode().splitlines()
    assert f"key file {p.ch.key} is missing" in hint
    assert proc.stderr.splitlines() == [hint]
    assert f"credhelper login {p.reg.host}" in proc.stderr
    assert "skopeo" not in p.calls()
    # the fix it names: log in again (that starts a new key)
    p.login()
    assert p.push_skopeo().returncode == 0


def test_relogin_needs_a_terminal(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    proc = p.run(
        "push",
        "--relogin",
        "--engine",
        "skopeo",
        "--from",
        f"oci:{p.image.path}",
        f"{p.reg.host}/demo/app:v1",
    )
    assert proc.returncode == 5
    assert "--relogin needs a terminal" in proc.stderr


def test_skopeo_needs_a_source(pusher: Pusher) -> None:
    proc = pusher.run("push", "--engine", "skopeo", f"{pusher.reg.host}/demo/app:v1")
    assert proc.returncode == 2
    assert "--from" in proc.stderr


def test_docker_without_a_daemon(pusher: Pusher, tmp_path: Path) -> None:
    require_tool("docker")
    p = pusher
    p.login()
    env = dict(p.env, DOCKER_HOST=f"unix://{tmp_path}/no-such-docker.sock")
    proc = p.run("push", "--engine", "docker", f"{p.reg.host}/demo/app:v1", env=env)
    assert proc.returncode == 8
    assert "docker daemon is not reachable" in proc.stderr
    assert_no_secret_in_children(p)


def test_engine_not_installed(ch: Env, tmp_path: Path) -> None:
    ch.store_creds("reg.example", "alice", "pw-x1")
    env = dict(ch.env, PATH=str(BIN))  # the venv only: no podman there
    proc = ch.cli("push", "--engine", "podman", "reg.example/app:1", env=env)
    assert proc.returncode == 8
    assert "podman engine is not installed" in proc.stderr


def test_bad_reference(ch: Env) -> None:
    proc = ch.cli("push", "--engine", "skopeo", "--from", "oci:/x", "Reg.Example/App")
    assert proc.returncode == 2
    assert "invalid reference format" in proc.stderr


def test_engine_args_after_double_dash(pusher: Pusher) -> None:
    p = pusher
    p.login()
    proc = p.run(
        "push",
        "--engine",
        "skopeo",
        "--from",
        f"oci:{p.image.path}",
        f"{p.reg.host}/demo/app:v2",
        "--",
        "--retry-times=1",
    )
    assert proc.returncode == 0, proc.stderr
    assert "--retry-times=1" in p.calls()
    assert p.reg.tags("demo/app") == ["v2"]


def test_relogin_on_a_terminal_retries_once(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    status, output = run_on_tty(
        [
            CLI,
            "push",
            "--relogin",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{p.image.path}",
            f"{p.reg.host}/demo/app:v1",
        ],
        p.env,
        [(b"Password:", p.reg.users["alice"].encode() + b"\n")],
    )
    assert status == 0, output
    assert b"rejected the credentials of alice" in output
    assert b"Login Succeeded" in output
    assert p.reg.users["alice"].encode() not in output
    assert p.reg.tags("demo/app") == ["v1"]


def test_missing_login_on_a_terminal_offers_to_log_in(pusher: Pusher) -> None:
    p = pusher
    status, output = run_on_tty(
        [CLI, "push", "--engine", "skopeo", "--from", f"oci:{p.image.path}", f"{p.reg.host}/a:1"],
        p.env,
        [
            (b"now?", b"y\n"),
            (b"Username:", b"bob\n"),
            (b"Password:", p.reg.users["bob"].encode() + b"\n"),
        ],
    )
    assert status == 0, output
    assert b"no credentials stored" in output
    assert p.reg.tags("a") == ["1"]


def test_valid_login_without_push_permission(
    ch: Env, registry_token_tls: RegistryServer, tmp_path: Path
) -> None:
    require_tool("skopeo")
    reg = registry_token_tls
    assert reg.token is not None
    reg.token.read_only.add("bob")
    env = reg.client_env(ch.env)
    login = subprocess.run(
        [CLI, "login", reg.host, "-u", "bob", "--password-stdin"],
        input=reg.users["bob"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    image = make_oci_layout(tmp_path / "oci")
    proc = subprocess.run(
        [
            CLI,
            "push",
            "--engine",
            "skopeo",
            "--from",
            f"oci:{image.path}",
            f"{reg.host}/demo/app:v1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 5, proc.stderr
    assert "is valid" in proc.stderr and "push permission" in proc.stderr
    assert reg.users["bob"] not in proc.stdout + proc.stderr


# ---------------------------------------------------------------- sources each engine takes


@pytest.mark.parametrize(
    ("engine", "source", "says"),
    [
        ("skopeo", "./build/oci", "give TRANSPORT:DETAILS"),
        ("skopeo", "tar:./image.tar", "give TRANSPORT:DETAILS"),
        ("podman", "oci:./build/oci", "use --engine skopeo --from oci:./build/oci"),
        ("podman", "docker-archive:./img.tar", "podman pushes only images in its own storage"),
        ("podman", "dir:./img", "podman pull dir:./img"),
        ("podman", "--authfile=/etc/passwd", "takes a source, not an option"),
        ("skopeo", "--src-creds=u:pw-Secret9", "takes a source, not an option"),
        ("docker", "oci:./build/oci", "docker pushes only images in its daemon"),
    ],
)
def test_a_source_the_engine_cannot_take_is_refused_up_front(
    pusher: Pusher, engine: str, source: str, says: str
) -> None:
    p = pusher
    p.login()
    proc = p.run("push", "--engine", engine, "--from", source, f"{p.reg.host}/demo/app:v1")
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert says in line
    assert "pw-Secret9" not in line
    assert "skopeo " not in p.calls()  # nothing ran
    assert p.reg.catalog() == []


@pytest.mark.parametrize("transport", ["oci", "oci-archive", "docker-archive", "dir"])
def test_skopeo_takes_every_local_transport(pusher: Pusher, tmp_path: Path, transport: str) -> None:
    p = pusher
    p.login()
    if transport == "oci":
        source = f"oci:{p.image.path}:{p.image.tag}"
    else:  # made by the real skopeo from the OCI layout, no registry involved
        made = tmp_path / f"made.{transport}"
        subprocess.run(
            [
                require_tool("skopeo"),
                "copy",
                f"oci:{p.image.path}:{p.image.tag}",
                f"{transport}:{made}",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        source = f"{transport}:{made}"
    proc = p.run("push", "--engine", "skopeo", "--from", source, f"{p.reg.host}/demo/app:v1")
    assert proc.returncode == 0, proc.stderr
    assert p.reg.tags("demo/app") == ["v1"]


def test_push_help_lists_the_sources_each_engine_takes(ch: Env) -> None:
    text = ch.cli("push", "--help").stdout
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for engine, takes in [
        ("docker", "none: it pushes IMAGE from its daemon"),
        ("podman", "an image in podman's storage"),
        ("skopeo", "required, TRANSPORT:DETAILS"),
    ]:
        assert f"{engine}   {takes}" in text
        row = f"| {engine} | {takes}"
        assert row in readme, row


# ---------------------------------------------------------------- on a terminal


def test_on_a_terminal_the_engine_writes_to_a_terminal(pusher: Pusher) -> None:
    p = pusher
    p.login()
    status, output = run_on_tty(
        [CLI, "push", "--engine", "skopeo", "--from", f"oci:{p.image.path}", f"{p.reg.host}/d:1"],
        p.env,
        [],
        size=(24, 100),
    )
    assert status == 0, output
    # skopeo's own progress, as run directly: its bars redraw in place (cursor-up, erase)
    # and the blob/manifest lines reached the terminal.
    assert b"Copying blob" in output and b"Writing manifest to image destination" in output
    assert b"\x1b[1A" in output
    calls = p.calls()
    assert "tty: skopeo stdout is a terminal of size 24 100" in calls  # as run directly
    # ... but not its controlling terminal: a prompt on /dev/tty fails instead of hanging
    assert "controlling terminal" not in calls
    assert "tty: docker-credential-credhelper" not in calls  # the helper's stdout is skopeo's pipe
    assert p.reg.users["alice"].encode() not in output
    assert p.reg.tags("d") == ["1"]


def test_without_a_terminal_the_engine_writes_to_pipes(pusher: Pusher) -> None:
    p = pusher
    p.login()
    assert p.push_skopeo().returncode == 0
    assert "tty:" not in p.calls()


def test_on_a_terminal_an_auth_failure_is_still_diagnosed(pusher: Pusher) -> None:
    p = pusher
    p.ch.store_creds(p.reg.host, "alice", "not-the-password")
    status, output = run_on_tty(
        [CLI, "push", "--engine", "skopeo", "--from", f"oci:{p.image.path}", f"{p.reg.host}/d:1"],
        p.env,
        [],
        size=(24, 100),
    )
    assert status == 5, output
    assert b"authentication required" in output  # skopeo's words, through the pty
    assert f"{p.reg.host} rejected the credentials of alice".encode() in output
    # Our lines, after the SGR reset that follows the engine's output on a terminal.
    ours = [x for x in output.splitlines() if x.removeprefix(b"\x1b[0m").startswith(b"credhelper:")]
    assert ours and all(b"credhelper-push-" not in x for x in ours)  # no authfile path
    assert b"not-the-password" not in output
    assert p.reg.catalog() == []


WINCH_SHIM = """#!/bin/sh
# skopeo as the user would see it, after reporting what SIGWINCH does to its terminal.
log={log}
exec 3<&1  # in $(...) fd 1 is the substitution's pipe; fd 3 is the terminal
echo "tty: start $(stty size <&3)" >> "$log"
trap 'echo "tty: winch $(stty size <&3)" >> "$log"' WINCH
echo "engine ready"
i=0
while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
exec {real} "$@"
"""


def _tty_with_size(rows: int, cols: int) -> tuple[int, int]:
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def test_the_engines_terminal_follows_the_window_size(pusher: Pusher, tmp_path: Path) -> None:
    import fcntl
    import select
    import signal
    import struct
    import termios
    import time

    p = pusher
    p.login()
    go = tmp_path / "go"
    shim = tmp_path / "shims" / "skopeo"
    shim.write_text(WINCH_SHIM.format(log=p.log, go=go, real=require_tool("skopeo")))
    master, slave = _tty_with_size(33, 111)
    argv = [CLI, "push", "--engine", "skopeo", "--from", f"oci:{p.image.path}", f"{p.reg.host}/w:1"]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=p.env)
    os.close(slave)
    seen = b""

    def read_until(needle: bytes, bound: float = 60.0) -> bool:
        nonlocal seen
        deadline = time.monotonic() + bound
        while needle not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                seen += chunk
        return needle in seen

    def logged(needle: str, bound: float = 30.0) -> bool:
        deadline = time.monotonic() + bound
        while needle not in p.calls() and time.monotonic() < deadline:
            time.sleep(0.05)
        return needle in p.calls()

    try:
        assert read_until(b"engine ready"), seen
        assert "tty: start 33 111" in p.calls()  # the pty starts with our window's size
        # The window grows: the terminal (here the test) resizes it and sends SIGWINCH.
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
        proc.send_signal(signal.SIGWINCH)
        assert logged("tty: winch 40 132"), p.calls()
        go.touch()
        read_until(b"Writing manifest to image destination")
        assert proc.wait(timeout=120) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"Writing manifest to image destination" in seen
    assert p.reg.tags("w") == ["1"]


# ---------------------------------------------------------------- plain HTTP on loopback


def test_push_to_a_plain_http_loopback_registry(
    ch: Env, registry_http: RegistryServer, tmp_path: Path
) -> None:
    reg = registry_http
    assert reg.url.startswith("http://127.0.0.1:")
    skopeo = require_tool("skopeo")
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    _shim(shims, "skopeo", skopeo, log)
    env = dict(ch.env, PATH=f"{shims}{os.pathsep}{ch.env['PATH']}")
    p = Pusher(ch, reg, make_oci_layout(tmp_path / "oci"), env, log)
    p.login()  # login reaches it over plain HTTP (loopback)
    proc = p.push_skopeo()
    assert proc.returncode == 0, proc.stderr
    assert p.reg.tags("demo/app") == ["v1"]
    [call] = [x for x in p.calls().splitlines() if x.startswith("skopeo ")]
    assert "--dest-tls-verify=false" in call.split()
    # The user's own TLS choice after -- wins: credhelper adds no second one.
    proc = p.run(
        "push",
        "--engine",
        "skopeo",
        "--from",
        f"oci:{p.image.path}",
        f"{reg.host}/demo/app:v2",
        "--",
        "--dest-tls-verify=true",
    )
    assert proc.returncode == 6, proc.stderr  # its choice: HTTPS to a plain-HTTP registry
    assert proc.stderr.splitlines()[-1] == (
        f"credhelper: {reg.host} answers plain HTTP, and the engine used TLS; "
        "give no --dest-tls-verify after --, or push again"
    )
    last = [x for x in p.calls().splitlines() if x.startswith("skopeo ")][-1]
    assert last.split().count("--dest-tls-verify=true") == 1
    assert "--dest-tls-verify=false" not in last


def test_tls_is_never_turned_off_for_a_registry_that_is_not_loopback() -> None:
    from credhelper import push, reference

    for image in ("registry.example.com/app:1", "10.0.0.5:5000/app:1", "docker.io/app:1"):
        ref = reference.parse_reference(image)
        for engine, source in (("podman", None), ("skopeo", "oci:/x")):
            job = push.Job(engine, engine, ref, image, source, ())
            argv = push.build_argv(job, "/a.json")
            assert not any("tls-verify" in a for a in argv), argv
    failure = push.plain_http_failure(
        "podman",
        "registry.example.com",
        'Error: pinging container registry registry.example.com: Get "https://registry.example.com'
        '/v2/": http: server gave HTTP response to HTTPS client',
    )
    assert failure is not None and failure.exit_code == 6
    assert "add after --: --tls-verify=false" in failure.message


# ---------------------------------------------------------------- engine_io plumbing

RUN_ENGINE = """
import json, os, sys
from credhelper import engine_io
out = engine_io.run(sys.argv[2:], dict(os.environ))
with open(sys.argv[1], "w") as result:
    json.dump([out.returncode, out.output], result)
"""


def _run_engine_io(
    engine: list[str], stderr_tty: bool, tmp_path: Path
) -> tuple[bytes, bytes, list[object]]:
    """engine_io.run(engine) in a process whose stdout is a pty; (terminal, stderr, outcome)."""
    import json
    import select
    import time

    from tests.conftest import BIN

    master, slave = _tty_with_size(24, 80)
    err_r, err_w = os.pipe()
    result = tmp_path / "outcome.json"
    proc = subprocess.Popen(
        [str(BIN / "python"), "-c", RUN_ENGINE, str(result), *engine],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave if stderr_tty else err_w,
    )
    os.close(slave)
    os.close(err_w)
    seen = {master: b"", err_r: b""}
    try:
        open_fds = [master, err_r]
        deadline = time.monotonic() + 120
        while open_fds and time.monotonic() < deadline and select.select(open_fds, [], [], 60)[0]:
            for fd in select.select(open_fds, [], [], 0)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the pty's last writer is gone
                    chunk = b""
                if not chunk:
                    open_fds.remove(fd)
                seen[fd] += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(err_r)
    return seen[master], seen[err_r], json.loads(result.read_text())


def test_engine_output_reaches_the_terminal_byte_for_byte(tmp_path: Path) -> None:
    script = r"printf 'a\rb\033[1A\377'; printf 'denied: x' >&2; exit 3"
    terminal, _errors, (status, tail) = _run_engine_io(["sh", "-c", script], True, tmp_path)
    assert terminal == b"a\rb\x1b[1A\xffdenied: x"  # unchanged: no \r\n games, no decoding
    assert status == 3
    assert tail == "a\rb\x1b[1A\ufffddenied: x"  # the tail, decoded only for the diagnosis


def test_a_stderr_that_is_not_a_terminal_stays_a_pipe(tmp_path: Path) -> None:
    script = "[ -t 1 ] && echo out-tty; [ -t 2 ] || echo err-pipe >&2"
    terminal, errors, (status, tail) = _run_engine_io(["sh", "-c", script], False, tmp_path)
    assert terminal == b"out-tty\r\n" and errors == b"err-pipe\n"
    assert status == 0 and "out-tty" in str(tail) and "err-pipe" in str(tail)


def test_the_tail_is_bounded_and_keeps_the_end(tmp_path: Path) -> None:
    from credhelper import engine_io

    script = "head -c 300000 /dev/zero | tr '\\0' x; echo; echo 'unauthorized: no'"
    terminal, _errors, (_status, tail) = _run_engine_io(["sh", "-c", script], True, tmp_path)
    assert terminal.count(b"x") == 300000  # all of it shown
    assert isinstance(tail, str) and len(tail) == engine_io.TAIL_BYTES
    assert tail.endswith("unauthorized: no\n")


@pytest.mark.parametrize("stderr_tty", [True, False], ids=["pty", "pipe"])
def test_a_grandchild_writing_on_does_not_keep_the_push(tmp_path: Path, stderr_tty: bool) -> None:
    """The engine exits while something it started keeps writing to its streams."""
    script = "(while :; do echo spam >&2; sleep 0.01; done) & sleep 0.2; exit 4"
    terminal, errors, (status, _tail) = _run_engine_io(["sh", "-c", script], stderr_tty, tmp_path)
    assert status == 4  # the engine's status, and run() returned: the writer was stopped
    assert b"spam" in (terminal if stderr_tty else errors)


# ------------------------------------------- a refused source or image never shows its password

USERINFO_PW = "S3cretPw-atkC-9d1"


@pytest.mark.parametrize(
    ("engine", "source"),
    [
        ("podman", f"docker://bob:{USERINFO_PW}@reg.example/team/app"),
        ("skopeo", f"bob:{USERINFO_PW}@reg.example/team/app"),  # the scheme forgotten
        ("skopeo", f"docker//bob:{USERINFO_PW}@reg.example/team/app"),  # a mistyped scheme
        ("podman", f"oci:/tmp/bob:{USERINFO_PW}@x/y@z"),  # several "@"
    ],
    ids=["podman-docker-url", "skopeo-no-scheme", "skopeo-typo", "several-at"],
)
def test_a_refused_source_with_userinfo_does_not_echo_the_password(
    ch: Env, engine: str, source: str
) -> None:
    require_tool(engine)
    proc = ch.cli("push", "--engine", engine, "--from", source, "127.0.0.1:5999/team/app:1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert USERINFO_PW not in out, out
    assert "***@" in out and out.count("\n") == 1


@pytest.mark.parametrize(
    "image",
    [f"bob:{USERINFO_PW}@reg.example/team/app:1", f"https://bob:{USERINFO_PW}@reg.example/x"],
)
def test_an_image_with_userinfo_is_refused_without_the_password(ch: Env, image: str) -> None:
    proc = ch.cli("push", "--engine", "skopeo", "--from", "oci:/x", image)
    assert proc.returncode == 2, proc.stderr
    assert USERINFO_PW not in proc.stdout + proc.stderr, proc.stderr
    assert "invalid reference format" in proc.stderr


def test_an_option_like_source_is_not_echoed(ch: Env) -> None:
    for engine in ("podman", "skopeo", "docker"):
        require_tool(engine)
        proc = ch.cli("push", "--engine", engine, "--from", f"--src-creds=bob:{USERINFO_PW}",
                      "127.0.0.1:5999/team/app:1")  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert USERINFO_PW not in proc.stdout + proc.stderr


def test_control_characters_in_a_refused_source_are_escaped(ch: Env) -> None:
    require_tool("podman")
    proc = ch.cli("push", "--engine", "podman", "--from", "oci:\x1b]0;owned\x07\nsecond-line",
                  "127.0.0.1:5999/team/app:1")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert "\x1b" not in out and "\x07" not in out
    assert out.count("\n") == 1


# ------------------------------------ plain HTTP is detected only where TLS is not spoken at all

REGISTRY_401 = (
    b"HTTP/1.1 401 Unauthorized\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
    b'WWW-Authenticate: Basic realm="x"\r\nContent-Type: application/json\r\n'
    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
)


@contextmanager
def both_on_one_port(tmp_path: Path) -> Iterator[int]:
    """127.0.0.1:PORT speaking TLS (an untrusted cert) to TLS clients, registry HTTP to others.

    What a TLS-terminating multiplexer (or a registry behind sslh) looks like.
    """
    pki = make_pki(tmp_path / "pki")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.cert_file), str(pki.key_file))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                first = conn.recv(1, socket.MSG_PEEK)
                if first == b"\x16":  # a TLS ClientHello
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(65536)
                        tls.sendall(REGISTRY_401)
                else:
                    conn.recv(65536)
                    conn.sendall(REGISTRY_401)
            except (OSError, ssl.SSLError):
                pass

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            serve(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=10)
        sock.close()


def test_a_loopback_port_that_also_speaks_tls_is_not_downgraded(ch: Env, tmp_path: Path) -> None:
    with both_on_one_port(tmp_path) as port:
        ref = reference.parse_reference(f"127.0.0.1:{port}/team/app:1")
        turned_off = push.plain_http_loopback(ref)
    # _ping falls back to HTTP after the untrusted-certificate failure (as docker's login
    # does), but the port answered TLS: skopeo must not get --dest-tls-verify=false.
    assert not turned_off


def test_a_tls_registry_with_an_untrusted_cert_is_not_downgraded(ch: Env, tmp_path: Path) -> None:
    """Real docker-registry on TLS, its CA not given: no TLS switch."""
    with start_registry(tmp_path, tls=True) as reg:
        ref = reference.parse_reference(f"{reg.host}/team/app:1")
        assert not push.plain_http_loopback(ref)
        opts = push._containers_opts("skopeo", ref, [], None)
    assert not any("tls-verify" in o for o in opts)


def test_a_plain_http_loopback_registry_is_detected(ch: Env, tmp_path: Path) -> None:
    """Control: the real plain-HTTP registry does get the switch."""
    with start_registry(tmp_path, tls=False) as reg:
        ref = reference.parse_reference(f"{reg.host}/team/app:1")
        assert push.plain_http_loopback(ref)


LOOKALIKES = [
    "127.0.0.1.attacker.example:{port}",
    "localhost.localdomain:{port}",
    "localhost.:{port}",
    "x.localhost:{port}",
    "0x7f.1:{port}",
    "127.1:{port}",
    "2130706433:{port}",
    "0177.0.0.1:{port}",
    "localhost:{port}@evil.example",
    "l\u043ecalhost:{port}",  # Cyrillic o
    "[::ffff:7f00:1%lo]:{port}",
]


@pytest.mark.parametrize("name", LOOKALIKES)
def test_a_name_that_only_looks_loopback_gets_no_tls_switch(ch: Env, name: str) -> None:
    """Each spelling is either refused as a reference or not loopback."""
    with start_registry_http_once() as port:
        image = name.format(port=port) + "/team/app:1"
        try:
            ref = reference.parse_reference(image)
        except UsageError:
            return
        assert not push.plain_http_loopback(ref)


@contextmanager
def start_registry_http_once() -> Iterator[int]:
    """A plain-HTTP registry answer on 127.0.0.1 (if a name did reach it, it would say yes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_port()))
    sock.listen(4)
    sock.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(REGISTRY_401)
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=10)
        sock.close()


@pytest.mark.parametrize(
    "extra",
    [[], ["-u", "bob"]],  # refused for the missing -u; for an empty stdin after it
    ids=["no-user", "no-password-line"],
)
def test_exec_never_echoes_a_login_servers_userinfo(ch: Env, extra: list[str]) -> None:
    """The sibling in `credhelper exec --login SERVER` (same rule as push's --from)."""
    stdin_flag = ["--password-stdin"] if extra else []
    proc = subprocess.run(
        [CLI, "exec", "--login", f"bob:{USERINFO_PW}@reg.example", *extra, *stdin_flag,
         "--", "true"],
        input="", capture_output=True, text=True, env=ch.env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert USERINFO_PW not in proc.stdout + proc.stderr, proc.stderr
    assert "***@reg.example" in proc.stderr


# ------------------------------------------------ a hostile registry's error text through skopeo

HOSTILE_BODY = (
    b'{"errors":[{"code":"DENIED","message":"\\u001b[8mnothing to see\\u001b]0;pwned\\u0007"}]}'
)
HOSTILE_401 = (
    b"HTTP/1.1 401 Unauthorized\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
    b'WWW-Authenticate: Basic realm="x"\r\nContent-Type: application/json\r\n'
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(HOSTILE_BODY)
) + HOSTILE_BODY


def test_registry_escape_sequences_never_reach_the_output_raw(tmp_path: Path) -> None:
    """skopeo quotes the registry's message; neither it nor our diagnosis lets ESC/BEL through."""
    require_tool("skopeo")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    port = int(sock.getsockname()[1])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(HOSTILE_401)
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        ch = make_env(tmp_path / "e")
        ch.store_creds(f"127.0.0.1:{port}", "alice", "pw-esc-atk")
        image = make_oci_layout(tmp_path / "oci")
        proc = ch.cli(
            "push", "--engine", "skopeo", "--from", f"oci:{image.path}:{image.tag}",
            f"127.0.0.1:{port}/a/b:1",
        )  # fmt: skip
    finally:
        stop.set()
        thread.join(timeout=10)
        sock.close()
    assert proc.returncode == 5, proc.stderr
    out = proc.stdout + proc.stderr
    assert "\x1b" not in out and "\x07" not in out
    assert "rejected the credentials of alice" in proc.stderr
