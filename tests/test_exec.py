"""`credhelper exec`: job-scoped logins that real clients use and that vanish with the job.

The docker CLI (client side only: DOCKER_HOST names a socket that does not exist)
and skopeo run inside `credhelper exec` against Debian's docker-registry. After
every ending (success, failure, SIGTERM/SIGHUP/SIGINT, SIGKILL then a later
credhelper run) no job directory, store, Docker config or key remains, and the
user's own store and Docker config were never written.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, Env, require_tool
from tests.registry_server import OciImage, RegistryServer, make_oci_layout

pytest_plugins = ["tests.registry_server"]

SH = "/bin/sh"
LOGIN_C = ["--login", "r.example", "-u", "c", "--password-stdin"]


@pytest.fixture
def job_env(ch: Env, tmp_path: Path) -> dict[str, str]:
    """ch's environment with a private TMPDIR, so the jobs root is this test's own."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    return dict(ch.env, TMPDIR=str(tmp), DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")


def jobs_root(env: dict[str, str]) -> Path:
    return Path(env["TMPDIR"]) / f"credhelper-jobs-{os.getuid()}"


def job_dirs(env: dict[str, str]) -> list[Path]:
    root = jobs_root(env)
    return sorted(root.iterdir()) if root.exists() else []


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def session_ended(sid: int) -> bool:
    """No live process is left in session `sid` (COMMAND's last `sleep` may outlive it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            return False
    return True


def assert_untouched(ch: Env) -> None:
    """The user's own store and Docker config were never created or written."""
    assert not ch.home.exists()
    assert not (ch.docker_config / "config.json").exists()


def pushed_image(reg: RegistryServer, tmp_path: Path, env: dict[str, str]) -> OciImage:
    """An image in `reg` (pushed with skopeo and explicit credentials, not through credhelper)."""
    skopeo = require_tool("skopeo")
    image = make_oci_layout(tmp_path / "oci")
    argv = [skopeo, "copy", "--dest-creds", f"alice:{reg.users['alice']}"]
    if reg.certs_d is not None:
        argv += ["--dest-cert-dir", str(reg.certs_d / reg.host)]
    else:
        argv += ["--dest-tls-verify=false"]
    proc = run([*argv, f"oci:{image.path}", f"docker://{reg.host}/demo/app:v1"], env)
    assert proc.returncode == 0, proc.stderr
    return image


def exec_argv(reg: RegistryServer, *command: str, user: str = "alice") -> list[str]:
    return [CLI, "exec", "--login", reg.host, "-u", user, "--password-stdin", "--", *command]


# ------------------------------------------------------------------ real clients


def test_docker_manifest_inspect_inside_exec(
    ch: Env, registry_http: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    docker = require_tool("docker")
    reg = registry_http
    image = pushed_image(reg, tmp_path, job_env)
    inspect = [docker, "manifest", "inspect", "--insecure", f"{reg.host}/demo/app:v1"]
    # Without the job's login docker is refused: the login below is what makes it work.
    assert run(inspect, job_env).returncode != 0
    proc = run(exec_argv(reg, *inspect), job_env, reg.users["alice"] + "\n")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["layers"][0]["digest"] == json.loads(image.manifest)["layers"][0]["digest"]
    assert f"logged in to {reg.host} for this job" in proc.stderr
    assert reg.users["alice"] not in proc.stdout + proc.stderr
    assert job_dirs(job_env) == []
    assert_untouched(ch)
    # and the login ended with the job
    assert run(inspect, job_env).returncode != 0


def test_skopeo_inside_exec(
    ch: Env, registry_htpasswd_tls: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    skopeo = require_tool("skopeo")
    reg = registry_htpasswd_tls
    env = reg.client_env(job_env)
    image = pushed_image(reg, tmp_path, env)
    assert reg.certs_d is not None
    inspect = [
        skopeo,
        "inspect",
        "--cert-dir",
        str(reg.certs_d / reg.host),
        f"docker://{reg.host}/demo/app:v1",
    ]
    assert run(inspect, env).returncode != 0
    proc = run(exec_argv(reg, *inspect), env, reg.users["alice"] + "\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == image.manifest_digest
    assert job_dirs(env) == []
    assert_untouched(ch)


def test_user_real_auth_file_is_not_read_inside_exec(
    ch: Env, registry_htpasswd_tls: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    """skopeo inside a job sees the job's logins only, not REGISTRY_AUTH_FILE of the caller."""
    skopeo = require_tool("skopeo")
    reg = registry_htpasswd_tls
    env = reg.client_env(job_env)
    pushed_image(reg, tmp_path, env)
    import base64

    auth = base64.b64encode(f"alice:{reg.users['alice']}".encode()).decode()
    real = tmp_path / "auth.json"
    real.write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
    env["REGISTRY_AUTH_FILE"] = str(real)
    assert reg.certs_d is not None
    inspect = [skopeo, "inspect", "--cert-dir", str(reg.certs_d / reg.host)]
    assert run([*inspect, f"docker://{reg.host}/demo/app:v1"], env).returncode == 0
    proc = run([CLI, "exec", "--", *inspect, f"docker://{reg.host}/demo/app:v1"], env)
    assert proc.returncode != 0  # the job has no login, and the caller's file is not used
    assert real.read_text() == json.dumps({"auths": {reg.host: {"auth": auth}}})


# ------------------------------------------------------------------ stdin, env, argv


def test_several_logins_one_line_each_and_command_gets_the_rest(
    ch: Env, registry_http: RegistryServer, job_env: dict[str, str]
) -> None:
    reg = registry_http
    other = "other.registry.example:5000"
    script = (
        "docker-credential-credhelper list; "
        f"printf %s {other} | docker-credential-credhelper get; cat"
    )
    argv = [
        CLI,
        "exec",
        "--login",
        reg.host,
        "-u",
        "alice",
        "--password-stdin",
        "--login",
        other,
        "-u",
        "carol",
        "--password-stdin",
        "--no-verify",
        "--",
        SH,
        "-c",
        script,
    ]
    stdin = f"{reg.users['alice']}\ncarol-secret\r\nrest of stdin\nline 2\n"
    proc = run(argv, job_env, stdin)
    assert proc.returncode == 0, proc.stderr
    listed, got, rest = proc.stdout.split("\n", 2)
    assert json.loads(listed) == {reg.host: "alice", other: "carol"}
    assert json.loads(got) == {"ServerURL": other, "Username": "carol", "Secret": "carol-secret"}
    assert rest == "rest of stdin\nline 2\n"
    assert_untouched(ch)


def test_options_written_with_equals_signs_still_end_at_the_double_dash(
    ch: Env, job_env: dict[str, str]
) -> None:
    """`--login=SERVER --username=ci --password-stdin -- COMMAND`: click itself drops
    that `--` (every word before it is an option it does not know); exec must still
    find COMMAND after it, and an `--help` there is COMMAND's."""
    server = "eq.registry.example:5000"
    script = f'printf %s {server} | docker-credential-credhelper get; printf " %s" "$@"'
    argv = [
        CLI,
        "exec",
        f"--login={server}",
        "--username=ci",
        "--password-stdin",
        "--no-verify",
        "--expires-in=1h",
        "--",
        SH,
        "-c",
        script,
        "sh",
        "--",
        "--help",
    ]
    proc = run(argv, job_env, "eq-secret\n")
    assert proc.returncode == 0, proc.stderr
    got, args = proc.stdout.split(" ", 1)
    assert json.loads(got) == {"ServerURL": server, "Username": "ci", "Secret": "eq-secret"}
    assert args == "-- --help"  # after the first `--`, every word is COMMAND's as typed
    assert job_dirs(job_env) == []
    assert_untouched(ch)


def test_no_password_in_argv_or_env_and_job_key_only_in_env(
    ch: Env, registry_http: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    reg = registry_http
    password = reg.users["alice"]
    dump = (
        'printf "%s\\n" "$CREDHELPER_AESKEY"; '
        "tr '\\0' '\\n' < /proc/$$/environ; tr '\\0' ' ' < /proc/$PPID/cmdline; echo; "
        "tr '\\0' '\\n' < /proc/$PPID/environ"
    )
    proc = run(exec_argv(reg, SH, "-c", dump), job_env, password + "\n")
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.split("\n", 1)[0]
    assert len(key) == 44  # base64 of 32 bytes: a fresh job key
    assert password not in proc.stdout  # not in COMMAND's env, credhelper's argv or env
    env_lines = proc.stdout.splitlines()
    assert "CREDHELPER_KEY_PROVIDER=env" in env_lines
    assert not any(line.startswith("CREDHELPER_AESKEY_FILE=") for line in env_lines)
    # After the job, the key is nowhere on disk under this test's directory.
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert key.encode() not in path.read_bytes(), path


def test_each_job_has_its_own_key(registry_http: RegistryServer, job_env: dict[str, str]) -> None:
    keys = set()
    for _ in range(2):
        proc = run([CLI, "exec", "--", SH, "-c", 'printf %s "$CREDHELPER_AESKEY"'], job_env)
        assert proc.returncode == 0, proc.stderr
        keys.add(proc.stdout)
    assert len(keys) == 2


# ------------------------------------------------------------------ endings


def test_exit_status_is_commands_and_nothing_remains(ch: Env, job_env: dict[str, str]) -> None:
    proc = run([CLI, "exec", "--", SH, "-c", "exit 7"], job_env)
    assert proc.returncode == 7
    proc = run([CLI, "exec", "--", SH, "-c", "kill -TERM $$"], job_env)
    assert proc.returncode == 128 + signal.SIGTERM
    proc = run([CLI, "exec", "--", SH, "-c", "exit 0"], job_env)
    assert proc.returncode == 0
    assert job_dirs(job_env) == []
    assert_untouched(ch)


def test_command_not_found_or_not_executable(job_env: dict[str, str], tmp_path: Path) -> None:
    proc = run([CLI, "exec", "--", str(tmp_path / "no-such-command")], job_env)
    assert proc.returncode == 127
    assert proc.stderr.count("\n") == 1 and "command not found" in proc.stderr
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    proc = run([CLI, "exec", "--", str(plain)], job_env)
    assert proc.returncode == 126
    assert job_dirs(job_env) == []


def test_rejected_login_runs_nothing_and_leaves_nothing(
    ch: Env, registry_http: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    proc = run(exec_argv(registry_http, "touch", str(marker)), job_env, "wrong-password\n")
    assert proc.returncode == 5, proc.stderr
    assert "wrong-password" not in proc.stderr + proc.stdout
    assert not marker.exists()
    assert job_dirs(job_env) == []
    assert_untouched(ch)


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["--login", "r.example", "--password-stdin", "--", "true"], "pw\n"),
        (["--login", "r.example", "-u", "ci", "--", "true"], ""),
        (["--login", "r.example", "-u", "ci", "--password-stdin", "--"], "pw\n"),
        (["--login", "r.example", "-u", "ci", "--password-stdin", "--", "true"], ""),
        (["--login", "r.example", "-u", "ci", "--password-stdin", "--", "true"], "\n"),
        (["-u", "ci", "--login", "r.example", "--password-stdin", "--", "true"], "pw\n"),
        (["--login", "r.example", "-u", "ci", "--password", "pw", "--", "true"], ""),
        (["--login"], ""),
        ([], ""),
        (
            [*LOGIN_C, "--expires-in", "1x", "--no-verify", "--", "true"],
            "pw\n",
        ),
        (
            [*LOGIN_C, "--no-verify", "--expires-at", "2001-01-01T00:00:00Z", "--", "true"],
            "pw\n",
        ),
    ],
)
def test_bad_usage_is_one_line_exit_2(
    ch: Env, job_env: dict[str, str], tmp_path: Path, args: list[str], stdin: str
) -> None:
    proc = run([CLI, "exec", *args], job_env, stdin)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "pw" not in proc.stderr.replace("--password", "")
    assert job_dirs(job_env) == []
    assert_untouched(ch)


def start_job(
    env: dict[str, str], tmp_path: Path, name: str, trap: str = ""
) -> tuple[subprocess.Popen[bytes], Path]:
    """A `credhelper exec` whose COMMAND writes its job paths, then waits (trapping `trap`)."""
    info = tmp_path / f"{name}.info"
    script = (
        f"{trap}"
        f'printf "%s\\n%s\\n" "$DOCKER_CONFIG" "$CREDHELPER_HOME" > {info}.tmp; '
        f"mv {info}.tmp {info}; "
        "i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
    )
    proc = subprocess.Popen(
        [CLI, "exec", "--", SH, "-c", script],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(info.exists, f"{name}'s COMMAND to start")
    return proc, info


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_cancel_is_forwarded_then_everything_removed(
    ch: Env, job_env: dict[str, str], tmp_path: Path, signum: int
) -> None:
    got = tmp_path / "got-signal"
    trap = f"trap 'echo {int(signum)} > {got}; exit 9' {signal.Signals(signum).name[3:]}; "
    proc, info = start_job(job_env, tmp_path, "job", trap)
    docker_dir = Path(info.read_text().splitlines()[0])
    assert (docker_dir / "config.json").exists()
    proc.send_signal(signum)
    proc.wait(timeout=60)
    assert proc.returncode == -signum  # credhelper dies of the same signal (shell: 128+N)
    assert got.read_text().strip() == str(int(signum))  # COMMAND was told first
    assert not docker_dir.exists()
    assert job_dirs(job_env) == []
    assert_untouched(ch)


def test_sigkill_leaves_a_job_that_the_next_run_removes(
    ch: Env, job_env: dict[str, str], tmp_path: Path
) -> None:
    proc, info = start_job(job_env, tmp_path, "job")
    docker_dir, store_dir = (Path(p) for p in info.read_text().splitlines())
    child_file = docker_dir.parent / "child"
    wait_for(child_file.exists, "the job to record COMMAND")
    child_pid, _, _, child_sid = (int(f) for f in child_file.read_text().split())
    proc.kill()
    proc.wait(timeout=30)
    # PR_SET_PDEATHSIG took COMMAND down with credhelper
    wait_for(lambda: dead(child_pid), "COMMAND to die")
    # A job is swept only once none of its processes lives: the loop's last
    # `sleep 0.1` may outlive its shell by up to 0.1 s.
    wait_for(lambda: session_ended(child_sid), "COMMAND's session to end")
    assert docker_dir.exists()  # nothing could clean up after SIGKILL...
    listed = run([CLI, "list"], job_env)  # ...until the next credhelper run
    assert listed.returncode == 0, listed.stderr
    assert not docker_dir.exists() and not store_dir.exists()
    assert job_dirs(job_env) == []
    assert_untouched(ch)


def job_tag() -> tuple[str, str]:
    """(pid-namespace inode, boot id) as a job's name carries them."""
    found = re.fullmatch(r"pid:\[([0-9]+)\]", os.readlink("/proc/self/ns/pid"))
    assert found is not None
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
    return found.group(1), boot


def test_sweep_keeps_live_jobs_and_anything_it_cannot_prove_dead(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    live, info = start_job(job_env, tmp_path, "live")
    try:
        root = jobs_root(job_env)
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ns, boot = job_tag()
        tag = f"{ns}-{boot}"
        me = f"job-{os.getpid()}-{fields[19]}-{tag}-0123abcd"  # this test process: alive
        orphan = f"job-999999996-5-{tag}-deadbeef"
        in_group = f"job-999999993-5-{tag}-deadbeef"
        others = {
            me: True,
            orphan: True,  # owner dead, but its child is alive
            in_group: True,  # owner and child dead, but their process group is not empty
            "not-a-job": False,
            f"job-{os.getpid()}-x-{tag}-01234567": False,
            f"job-999999999-5-{tag}-0123abcd": False,  # no such pid: dead, child file odd
            "job-999999992-5-0123abcd": False,  # the old name without namespace and boot
            f"job-999999991-5-1-{boot}-0123abcd": False,  # another pid namespace
            f"job-999999990-5-{ns}-{'0' * 31}1-0123abcd": False,  # another boot / host
        }
        for name in others:
            (root / name).mkdir(mode=0o700)
            (root / name / "store").mkdir()
        me_record = f"{os.getpid()} {fields[19]} {os.getpgid(0)} {os.getsid(0)}\n"
        (root / orphan / "child").write_text(me_record)
        (root / in_group / "child").write_text(f"999999997 5 {os.getpgid(0)} 999999997\n")
        (root / f"job-999999999-5-{tag}-0123abcd" / "child").write_text("garbage\n")
        (root / f"job-999999998-5-{tag}-0123abcd").symlink_to(tmp_path)
        fifo = root / f"job-999999995-5-{tag}-0123abcd"
        fifo.mkdir(mode=0o700)
        os.mkfifo(fifo / "child")  # must neither hang the sweep nor count as proof
        proc = run([CLI, "list"], job_env)
        assert proc.returncode == 0, proc.stderr
        remaining = {p.name for p in root.iterdir()}
        assert set(others) | {f"job-999999998-5-{tag}-0123abcd", fifo.name} <= remaining
        assert tmp_path.exists()
        assert live.poll() is None
        live_dir = Path(info.read_text().splitlines()[0]).parent
        assert live_dir.exists()
        # once the child of that job is provably gone (its record points at a dead pid)
        (root / orphan / "child").write_text("999999997 5 999999997 999999997\n")
        run([CLI, "list"], job_env)
        assert not (root / orphan).exists()
        assert (root / in_group).exists()
    finally:
        live.send_signal(signal.SIGTERM)
        live.wait(timeout=60)
    assert not live_dir.exists()


def test_hostile_jobs_root_is_refused(job_env: dict[str, str], tmp_path: Path) -> None:
    root = jobs_root(job_env)
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    victim = root / "job-999999999-5-0123abcd"
    victim.mkdir()
    proc = run([CLI, "exec", "--", "true"], job_env)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "refusing the jobs directory" in proc.stderr
    run([CLI, "list"], job_env)
    assert victim.exists()  # a directory others could write to is never acted on
    root.chmod(0o700)


def test_concurrent_jobs_never_see_each_others_logins(
    registry_http: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    reg = registry_http
    go = tmp_path / "go"
    procs = {}
    for user in ("alice", "bob"):
        ready = tmp_path / f"{user}.ready"
        script = (
            f"touch {ready}; i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; "
            "i=$((i+1)); done; docker-credential-credhelper list; "
            f"printf %s {reg.host} | docker-credential-credhelper get; "
            'printf "%s" "$DOCKER_CONFIG"'
        )
        procs[user] = subprocess.Popen(
            exec_argv(reg, SH, "-c", script, user=user),
            env=job_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stdin = procs[user].stdin
        assert stdin is not None
        stdin.write(reg.users[user] + "\n")
        stdin.close()
        procs[user].stdin = None  # closed: communicate() must not flush it
    for user in procs:
        wait_for((tmp_path / f"{user}.ready").exists, f"{user}'s job to start")
    assert len(job_dirs(job_env)) == 2  # both jobs exist at the same time
    go.touch()
    seen = {}
    for user, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        listed, got, docker_config = out.split("\n", 2)
        assert json.loads(listed) == {reg.host: user}
        assert json.loads(got)["Username"] == user
        seen[user] = docker_config
    assert seen["alice"] != seen["bob"]
    assert job_dirs(job_env) == []


def test_docker_login_inside_a_job_stays_in_the_job(
    ch: Env, registry_http: RegistryServer, job_env: dict[str, str]
) -> None:
    docker = require_tool("docker")
    reg = registry_http
    script = (
        f"{docker} login {reg.host} -u bob --password-stdin >/dev/null && "
        "docker-credential-credhelper list && "
        'grep -c bob "$DOCKER_CONFIG/config.json" || true'
    )
    proc = run([CLI, "exec", "--", SH, "-c", script], job_env, reg.users["bob"] + "\n")
    assert proc.returncode == 0, proc.stderr
    listed, count = proc.stdout.splitlines()[:2]
    assert json.loads(listed) == {reg.host: "bob"}
    assert count == "0"  # docker stored through credhelper, not in its config
    assert_untouched(ch)
    assert job_dirs(job_env) == []


def test_exec_help(job_env: dict[str, str]) -> None:
    proc = run([CLI, "exec", "--help"], job_env)
    assert proc.returncode == 0
    assert "--password-stdin" in proc.stdout and "one line per --login" in proc.stdout


@pytest.fixture
def hanging_registry() -> Iterator[str]:
    """host:port of a listening socket that never answers: a login to it hangs."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_signal_during_login_leaves_nothing(
    ch: Env, job_env: dict[str, str], tmp_path: Path, hanging_registry: str, signum: int
) -> None:
    marker = tmp_path / "ran"
    argv = [CLI, "exec", "--login", hanging_registry, "-u", "ci", "--password-stdin"]
    proc = subprocess.Popen(
        [*argv, "--", "touch", str(marker)],
        env=job_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(b"pw-hang\n")
    proc.stdin.flush()
    wait_for(lambda: bool(job_dirs(job_env)), "the job directory")  # logging in now
    proc.send_signal(signum)
    proc.wait(timeout=60)
    assert proc.returncode == -signum
    if signum == signal.SIGKILL:
        (left,) = job_dirs(job_env)  # no chance to clean up, and no COMMAND was started
        assert not (left / "child").exists()
        assert run([CLI, "version"], job_env).returncode == 0
    assert job_dirs(job_env) == []
    assert not marker.exists()
    assert_untouched(ch)


def test_jobs_root_that_is_a_symlink_is_refused(job_env: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "job-999999999-5-0123abcd").mkdir()
    jobs_root(job_env).symlink_to(elsewhere)
    proc = run([CLI, "exec", "--", "true"], job_env)
    assert proc.returncode == 4 and "refusing the jobs directory" in proc.stderr
    assert run([CLI, "list"], job_env).returncode == 0
    assert (elsewhere / "job-999999999-5-0123abcd").exists()


def test_podman_pull_inside_exec(
    ch: Env, registry_http: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.test_push_podman import _private_podman

    podman = require_tool("podman")
    reg = registry_http
    image = pushed_image(reg, tmp_path, job_env)
    env = dict(job_env, **_private_podman(tmp_path / "podman"))
    env.pop("DOCKER_CONFIG")  # podman 4 fails on a DOCKER_CONFIG without config.json
    pull = [podman, "pull", "--tls-verify=false", f"{reg.host}/demo/app:v1"]
    assert run(pull, env).returncode != 0  # no login outside the job
    proc = run(exec_argv(reg, *pull), env, reg.users["alice"] + "\n")
    assert proc.returncode == 0, proc.stderr
    digest = run([podman, "image", "inspect", "--format", "{{.Digest}}", pull[-1]], env)
    assert digest.stdout.strip() == image.manifest_digest
    assert job_dirs(env) == []


def test_job_files_are_private_whatever_the_umask(job_env: dict[str, str]) -> None:
    script = (
        'stat -c "%a %n" "$(dirname "$DOCKER_CONFIG")/.." "$(dirname "$DOCKER_CONFIG")" '
        '"$DOCKER_CONFIG" "$DOCKER_CONFIG/config.json" "$CREDHELPER_HOME" '
        '"$CREDHELPER_HOME/config.json"'
    )
    proc = subprocess.run(
        [
            CLI,
            "exec",
            "--login",
            "r.example",
            "-u",
            "ci",
            "--password-stdin",
            "--no-verify",
            "--",
            SH,
            "-c",
            script,
        ],
        input="pw-umask\n",
        capture_output=True,
        text=True,
        env=job_env,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(0),
    )
    assert proc.returncode == 0, proc.stderr
    modes = [line.split()[0] for line in proc.stdout.splitlines()]
    assert modes == ["700", "700", "700", "600", "700", "600"], proc.stdout


def test_background_processes_of_command_end_with_the_job(job_env: dict[str, str]) -> None:
    proc = run([CLI, "exec", "--", SH, "-c", "sleep 300 >/dev/null 2>&1 & echo $!"], job_env)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.strip())
    wait_for(lambda: dead(pid), "the background sleep to be stopped")
    assert job_dirs(job_env) == []
