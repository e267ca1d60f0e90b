"""Attacks on `credhelper exec` and the defences that stop them.

Each test is an attack that once worked (the docstring says how); the test now
proves the defence. Real parts throughout: the credhelper executables, skopeo,
podman, git, Debian's docker-registry, unshare for a pid namespace.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CLI, Env, require_tool
from tests.registry_server import RegistryServer
from tests.test_exec import job_dirs, pushed_image, run, wait_for

pytest_plugins = ["tests.registry_server"]


@pytest.fixture
def job_env(ch: Env, tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    env = dict(ch.env, TMPDIR=str(tmp), DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")
    for name in ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "DOCKER_AUTH_CONFIG"):
        env.pop(name, None)
    return env


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


# ------------------------------------------------------------ sweep vs. a live job


def test_sweep_after_sigkill_keeps_the_job_of_a_live_grandchild(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL of credhelper: PR_SET_PDEATHSIG kills only COMMAND itself. What COMMAND
    started (a script's `docker push`, here a `sleep`) lives on in COMMAND's process
    group with the job's key, yet the next credhelper run "proves" the job dead from
    the owner and the direct child only, and deletes the live job's store and config.
    Defence: a job is dead only when no live process has COMMAND's process group or
    session id (COMMAND records them itself before it execs).
    """
    marks = tmp_path / "marks"
    marks.mkdir()
    script = 'sh -c \'echo $$ > "$1/gc.pid"; exec sleep 12\' x "$1" &\nwait\n'
    owner = subprocess.Popen(
        [CLI, "exec", "--", "/bin/sh", "-c", script, "sh", str(marks)],
        env=job_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gc_pid = 0
    try:
        wait_for(
            lambda: (marks / "gc.pid").exists() and (marks / "gc.pid").read_text().strip() != "",
            "grandchild",
        )
        gc_pid = int((marks / "gc.pid").read_text())
        (job,) = job_dirs(job_env)
        wait_for(lambda: (job / "child").exists(), "child record")
        child_pid = int((job / "child").read_text().split()[0])
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        wait_for(lambda: not _alive(child_pid), "PR_SET_PDEATHSIG to end COMMAND")
        assert _alive(gc_pid), "the grandchild should outlive the owner (it holds the job's key)"
        # Any later credhelper command sweeps.
        run([CLI, "list"], job_env)
        assert _alive(gc_pid)
        # The attack: the store/config the live grandchild uses was deleted.
        assert (job / "docker" / "config.json").exists(), (
            "sweep_stale removed the job directory while a process of the job was alive"
        )
        # Once the last process of the job's group is gone, the next run removes it.
        os.kill(gc_pid, signal.SIGKILL)
        wait_for(lambda: not _alive(gc_pid), "the grandchild to die")
        run([CLI, "list"], job_env)
        assert not job.exists()
    finally:
        owner.kill()
        if gc_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(gc_pid, signal.SIGKILL)


# ------------------------------------------------------ the caller's logins leak in


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_skopeo_inside_exec_ignores_the_users_containers_auth_json(
    ch: Env, registry_htpasswd_tls: RegistryServer, job_env: dict[str, str], tmp_path: Path
) -> None:
    """exec sets REGISTRY_AUTH_FILE, but containers/image (skopeo, podman) also reads
    $XDG_CONFIG_HOME/containers/auth.json (default ~/.config/...) and ~/.dockercfg of
    the caller's HOME. A job with NO login gets the user's real login: "docker, skopeo
    and podman inside see these logins and no others" does not hold.
    Defence: COMMAND's HOME and XDG_CONFIG_HOME are views without those files.
    """
    skopeo = require_tool("skopeo")
    reg = registry_htpasswd_tls
    env = reg.client_env(job_env)
    pushed_image(reg, tmp_path, env)
    real = Path(env["HOME"]) / ".config" / "containers" / "auth.json"
    real.parent.mkdir(parents=True)
    real.write_text(
        json.dumps({"auths": {reg.host: {"auth": _b64(f"alice:{reg.users['alice']}")}}})
    )
    assert reg.certs_d is not None
    inspect = [
        skopeo,
        "inspect",
        "--cert-dir",
        str(reg.certs_d / reg.host),
        f"docker://{reg.host}/demo/app:v1",
    ]
    proc = run([CLI, "exec", "--", *inspect], env)
    assert proc.returncode != 0, "skopeo inside a job without logins used the user's own login"


def test_skopeo_inside_exec_ignores_the_users_legacy_dockercfg(job_env: dict[str, str]) -> None:
    """Same hole through ~/.dockercfg (the legacy file containers/image still reads)."""
    require_tool("skopeo")
    home = Path(job_env["HOME"])
    (home / ".dockercfg").write_text(
        json.dumps({"r2.example": {"auth": _b64("legacyuser:legacysecret"), "email": "x@y"}})
    )
    proc = run([CLI, "exec", "--", "skopeo", "login", "--get-login", "r2.example"], job_env)
    assert "legacyuser" not in proc.stdout, "a login outside the job is visible inside it"


def test_docker_auth_config_of_the_caller_never_reaches_command(job_env: dict[str, str]) -> None:
    """DOCKER_AUTH_CONFIG (docker CLI 28+: logins that win over any helper; doctor itself
    warns about it) is passed through to COMMAND, so docker inside a job uses the
    caller's logins instead of (or besides) the job's. Defence: it is dropped.
    """
    env = dict(
        job_env,
        DOCKER_AUTH_CONFIG=json.dumps({"auths": {"r.example": {"auth": _b64("real:secret")}}}),
    )
    # docker CLI >= 28.3.0 reads DOCKER_AUTH_CONFIG before any helper (GitLab runner
    # issue 38909); the docker here is 28.2.2, so the leak is shown on COMMAND's env.
    proc = run([CLI, "exec", "--", "env"], env)
    assert proc.returncode == 0, proc.stderr
    assert "DOCKER_AUTH_CONFIG=" not in proc.stdout, (
        "the caller's DOCKER_AUTH_CONFIG reached COMMAND"
    )


def _unshare_pid() -> list[str]:
    unshare = require_tool("unshare")
    probe = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", "true"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    if probe.returncode != 0:
        probe = subprocess.run(
            [unshare, "--user", "--map-current-user", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            timeout=20,
            check=False,
        )
        if probe.returncode != 0:
            pytest.skip(f"cannot make a pid namespace: {probe.stderr!r}")
        return [unshare, "--user", "--map-current-user", "--pid", "--fork", "--mount-proc"]
    return [unshare, "--pid", "--fork", "--mount-proc"]


def test_sweep_in_another_pid_namespace_keeps_a_live_job(job_env: dict[str, str]) -> None:
    """A container (own pid namespace, same uid, shared TMPDIR: `docker run -v /tmp:/tmp`,
    a CI service container) runs any credhelper command: the live host job's pid does
    not exist in ITS /proc, which the sweep takes as proof of death, and it deletes the
    running job's store and Docker config. The other direction (a job made inside the
    namespace, swept from the host) fails the same way. Defence: the job's name
    carries its pid namespace and boot id; other namespaces and boots are never judged.
    """
    prefix = _unshare_pid()
    owner = subprocess.Popen(
        [CLI, "exec", "--", "sleep", "15"],
        env=job_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: len(job_dirs(job_env)) == 1 and (job_dirs(job_env)[0] / "child").exists(), "job"
        )
        (job,) = job_dirs(job_env)
        proc = run([*prefix, CLI, "list"], job_env)
        assert proc.returncode == 0, proc.stderr
        assert owner.poll() is None, "the job is still running"
        assert (job / "docker" / "config.json").exists(), (
            "a credhelper in another pid namespace deleted a live job's directory"
        )
    finally:
        owner.send_signal(signal.SIGTERM)
        owner.wait(timeout=30)


def test_signal_held_during_job_mkdir_still_removes_the_job_directory(
    job_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """jobs.job() makes the directory inside cleanup.critical(), but the try/finally
    that removes it starts only AFTER the critical block: a SIGTERM that arrives
    during the mkdir is held, then raised at the end of the critical block, before
    the cleanup is in place. The job's directory (store/ and docker/ not yet made)
    stays behind although the job got SIGTERM. (cleanup.temp_dir has the same shape.)
    Defence: the try starts before the critical block.
    """
    import tempfile

    from credhelper import cleanup, jobs

    monkeypatch.setattr(tempfile, "tempdir", job_env["TMPDIR"])
    real_mkdir = os.mkdir

    def mkdir(path: str, mode: int = 0o777, *args: object, **kw: object) -> None:
        real_mkdir(path, mode, *args, **kw)  # type: ignore[arg-type]
        if os.path.basename(str(path)).startswith("job-"):
            os.kill(os.getpid(), signal.SIGTERM)  # the signal arrives during mkdir

    monkeypatch.setattr(os, "mkdir", mkdir)
    caught = None
    with cleanup.guard():
        try:
            with cleanup.guard(), jobs.job():
                pass
        except cleanup.Terminated as stop:
            caught = stop.signum
    monkeypatch.setattr(os, "mkdir", real_mkdir)
    assert caught == signal.SIGTERM
    assert job_dirs(job_env) == [], f"left behind after SIGTERM: {job_dirs(job_env)}"


def _unread(fd: int) -> int:
    import array
    import fcntl
    import termios

    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def test_nonblocking_stdin_password_is_read_whole(
    job_env: dict[str, str],
) -> None:
    """read_password_line treats any OSError from os.read(0, 1) as end of line. On a
    stdin with O_NONBLOCK (inherited from a parent such as a Node-based runner) a
    pipe that is momentarily empty raises EAGAIN in the middle of the password: exec
    stores the first half as the password and COMMAND (or the next --login) reads the
    rest of the password from stdin. Defence: EAGAIN waits (select) and reads again;
    only a 0-byte read is the end of input. (COMMAND's stdin goes to a file here, as
    the helper's answer on stdout holds the whole password.)
    """
    import fcntl

    rest = Path(job_env["TMPDIR"]).parent / "rest-of-stdin"
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(read_end, fcntl.F_GETFL)
    fcntl.fcntl(read_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    os.write(write_end, b"hun")
    proc = subprocess.Popen(
        [
            CLI,
            "exec",
            "--login",
            "r.example",
            "-u",
            "u",
            "--password-stdin",
            "--no-verify",
            "--",
            "/bin/sh",
            "-c",
            'echo r.example | docker-credential-credhelper get; echo; cat > "$1"',
            "sh",
            str(rest),
        ],
        env=job_env,
        stdin=read_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The writer pauses until credhelper has drained the pipe: the next read of the
    # non-blocking stdin is then an EAGAIN in the middle of the password.
    wait_for(lambda: _unread(read_end) == 0, "credhelper to read the first bytes")
    os.close(read_end)
    os.write(write_end, b"ter2\nfor COMMAND\n")
    os.close(write_end)
    out, err = proc.communicate(timeout=60)
    assert '"Secret":"hunter2"' in out or proc.returncode != 0, (
        f"the job stored a truncated password; COMMAND got the rest on stdin: {out!r} {err!r}"
    )
    assert proc.returncode == 0, err
    stdin_rest = rest.read_text()
    assert "ter2" not in stdin_rest, (
        f"the rest of the password reached COMMAND's stdin: {stdin_rest!r}"
    )
    assert stdin_rest == "for COMMAND\n"


def test_sigterm_during_cleanup_after_a_normal_end_finishes_the_removal(
    job_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When COMMAND has ended normally, jobs.job()'s finally runs Job.remove() outside
    cleanup.critical() and with no unwind in progress: a SIGTERM arriving during the
    rmtree raises Terminated inside shutil.rmtree (ignore_errors only covers OSError),
    the removal stops half way and the job's store stays behind. Defence: the
    removal runs inside cleanup.critical(); the signal is raised once it is done.
    """
    import shutil
    import tempfile

    from credhelper import cleanup, jobs

    monkeypatch.setattr(tempfile, "tempdir", job_env["TMPDIR"])
    real_rmtree = shutil.rmtree

    def rmtree(path: str, *args: object, **kw: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the cancel arrives as cleanup starts
        real_rmtree(path, *args, **kw)  # type: ignore[arg-type]

    caught = None
    with cleanup.guard():
        try:
            with cleanup.guard(), jobs.job() as job:
                Path(job.store_dir, "config.json").write_text("{}")
                monkeypatch.setattr(shutil, "rmtree", rmtree)
        except cleanup.Terminated as stop:
            caught = stop.signum
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    assert caught == signal.SIGTERM
    assert job_dirs(job_env) == [], f"left behind after SIGTERM during cleanup: {job_dirs(job_env)}"


def test_usage_error_never_repeats_a_password_given_after_password_stdin(
    job_env: dict[str, str],
) -> None:
    """A common slip (`--password-stdin "$TOKEN"`, as with docker's -p habit) is refused,
    but the refusal quotes the token back on stderr, i.e. into the CI log, which
    keeps it long after the process list forgot it. Defence: stray words are never
    quoted (test_exec_attacks also checks the other commands and arbitrary tokens).
    """
    secret = "ghp_S3cretTokenValue123"
    proc = run(
        [CLI, "exec", "--login", "r.example", "-u", "u", "--password-stdin", secret, "--", "true"],
        job_env,
    )
    assert proc.returncode == 2
    assert secret not in proc.stderr + proc.stdout, f"the error repeats the secret: {proc.stderr!r}"


# ------------------------------------------------------- siblings of the findings


def test_command_is_recorded_before_it_runs(job_env: dict[str, str]) -> None:
    """The job's `child` record (pid, start, process group, session) is written by
    COMMAND's own process before the exec, so it is there from COMMAND's first
    instruction: a SIGKILL of credhelper at any moment leaves no unrecorded process.
    """
    script = 'cat "$DOCKER_CONFIG/../child"; echo "$$ $(ps -o pgid= -p $$) $(ps -o sid= -p $$)"'
    proc = run([CLI, "exec", "--", "/bin/sh", "-c", script], job_env)
    assert proc.returncode == 0, proc.stderr
    record, mine = proc.stdout.splitlines()
    pid, start, pgid, sid = record.split()
    assert [pid, pgid, sid] == mine.split()
    assert pid == pgid == sid  # without a terminal COMMAND leads its own session
    assert int(start) > 0
    assert job_dirs(job_env) == []


def _auths(host: str, user: str) -> str:
    return json.dumps({"auths": {host: {"auth": _b64(f"{user}:pw")}}})


def _users_logins(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Plant a login for a different registry in every place containers/image looks."""
    home = Path(env["HOME"])
    places = {
        "xdg.example": home / ".config" / "containers" / "auth.json",
        "legacy.example": home / ".dockercfg",
        "dockerhome.example": home / ".docker" / "config.json",
        "runtime.example": tmp_path / "runtime" / "containers" / "auth.json",
    }
    for host, path in places.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        user = host.split(".")[0] + "user"
        if path.name == ".dockercfg":
            path.write_text(json.dumps({host: {"auth": _b64(f"{user}:pw"), "email": "x@y"}}))
        else:
            path.write_text(_auths(host, user))
    (tmp_path / "runtime").chmod(0o700)
    return dict(env, XDG_RUNTIME_DIR=str(tmp_path / "runtime"))


@pytest.mark.parametrize("tool", ["skopeo", "podman"])
def test_no_login_of_the_user_is_visible_inside_exec(
    tool: str, job_env: dict[str, str], tmp_path: Path
) -> None:
    """Every auth file containers/image reads (REGISTRY_AUTH_FILE aside):
    ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json,
    ~/.docker/config.json and ~/.dockercfg. Outside the job each is seen (so the
    planted files are real logins); inside, none is.
    """
    path = require_tool(tool)
    env = _users_logins(job_env, tmp_path)
    hosts = ["xdg.example", "legacy.example", "dockerhome.example", "runtime.example"]
    outside_env = {k: v for k, v in env.items() if k not in ("DOCKER_CONFIG",)}
    for host in hosts:
        user = host.split(".")[0] + "user"
        outside = run([path, "login", "--get-login", host], outside_env)
        assert outside.stdout.strip() == user, (host, outside.stderr)
        inside = run([CLI, "exec", "--", path, "login", "--get-login", host], env)
        assert inside.returncode != 0, (host, inside.stdout)
        assert user not in inside.stdout + inside.stderr
    assert job_dirs(env) == []


def test_home_view_keeps_the_users_files_and_hides_only_logins(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    """COMMAND's HOME is a view of the real one: git's ~/.gitconfig, other dotfiles
    and ~/.config entries are there (through symlinks, so writes reach the real
    file); only the login files are not. A caller's own XDG_CONFIG_HOME gets the
    same treatment, and XDG_DATA_HOME stays the real one (podman's storage).
    """
    git = require_tool("git")
    home = Path(job_env["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Real User\n")
    (home / ".dockercfg").write_text("{}")
    (home / "notes.txt").write_text("kept\n")
    xdg = tmp_path / "xdg"
    (xdg / "containers").mkdir(parents=True)
    (xdg / "containers" / "auth.json").write_text(_auths("r.example", "real"))
    (xdg / "containers" / "registries.conf").write_text("# mine\n")
    (xdg / "tool.conf").write_text("setting\n")
    env = dict(job_env, XDG_CONFIG_HOME=str(xdg))
    script = (
        f"{git} config --global user.name; cat ~/notes.txt; echo more >> ~/notes.txt;"
        " test ! -e ~/.dockercfg && echo no-dockercfg;"
        ' test ! -e "$XDG_CONFIG_HOME/containers/auth.json" && echo no-auth;'
        ' cat "$XDG_CONFIG_HOME/containers/registries.conf" "$XDG_CONFIG_HOME/tool.conf";'
        ' echo "$XDG_DATA_HOME"; echo "$HOME"'
    )
    proc = run([CLI, "exec", "--", "/bin/sh", "-c", script], env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:6] == ["Real User", "kept", "no-dockercfg", "no-auth", "# mine", "setting"]
    assert lines[6] == str(home / ".local" / "share")
    assert lines[7] != str(home) and lines[7].startswith(job_env["TMPDIR"])
    assert (home / "notes.txt").read_text() == "kept\nmore\n"  # written through the view
    assert (home / ".dockercfg").exists() and (xdg / "containers" / "auth.json").exists()
    assert job_dirs(env) == []


def test_helm_registry_config_of_the_caller_never_reaches_command(
    job_env: dict[str, str],
) -> None:
    """helm finds registry logins through HELM_REGISTRY_CONFIG: inside a job it names
    the job's Docker config, never the caller's file."""
    env = dict(job_env, HELM_REGISTRY_CONFIG="/home/someone/.config/helm/registry/config.json")
    proc = run(
        [CLI, "exec", "--", "/bin/sh", "-c", 'echo "$HELM_REGISTRY_CONFIG $DOCKER_CONFIG"'], env
    )
    assert proc.returncode == 0, proc.stderr
    helm, docker = proc.stdout.split()
    assert helm == str(Path(docker) / "config.json")


def test_job_made_in_a_pid_namespace_survives_a_sweep_from_outside(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    """The other direction: a job started inside a pid namespace (its pids are small
    numbers that mean other processes, or nothing, on the host) is not judged by a
    credhelper outside."""
    prefix = _unshare_pid()
    marks = tmp_path / "ns-marks"
    marks.mkdir()
    script = 'touch "$1/started"; exec sleep 15'
    owner = subprocess.Popen(
        [*prefix, CLI, "exec", "--", "/bin/sh", "-c", script, "sh", str(marks)],
        env=job_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (marks / "started").exists(), "the job in the namespace")
        (job,) = job_dirs(job_env)
        proc = run([CLI, "list"], job_env)
        assert proc.returncode == 0, proc.stderr
        assert owner.poll() is None
        assert (job / "docker" / "config.json").exists(), (
            "a credhelper outside the pid namespace deleted a live job's directory"
        )
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)


@pytest.mark.parametrize(
    "args",
    [
        ["login", "r.example", "-u", "u", "--password-stdin", "SECRET"],
        ["logout", "r.example", "SECRET"],
        ["list", "SECRET"],
        ["doctor", "SECRET"],
        ["rotate", "SECRET"],
        ["exec", "--login", "r.example", "-u", "u", "--password-stdin", "SECRET", "--", "true"],
        ["exec", "--login", "r.example", "-u", "u", "-SECRET", "--", "true"],
        ["exec", "-SECRET", "--", "true"],
    ],
)
def test_usage_errors_never_quote_a_stray_argument(
    args: list[str], job_env: dict[str, str]
) -> None:
    secret = "ghp_S3cretTokenValue123"
    argv = [a.replace("SECRET", secret) for a in args]
    proc = run([CLI, *argv], job_env)
    assert proc.returncode == 2, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert secret[1:] not in proc.stdout + proc.stderr


@settings(max_examples=300, deadline=None)
@given(
    before=st.sampled_from([[], ["--login", "r.example"], ["--login", "r", "-u", "u"]]),
    dash=st.sampled_from(["", "-", "--"]),
    # "Zq9" marks the token: no error text contains it, so finding it means it was quoted.
    rest=st.text(max_size=40),
)
def test_parse_args_never_quotes_an_unknown_token(before: list[str], dash: str, rest: str) -> None:
    token = dash + "Zq9" + rest
    from credhelper import cli
    from credhelper.cli import exec_cmd
    from credhelper.errors import UsageError

    args = [*before, "--password-stdin", token, "--", "true"] if before else [token, "--", "x"]
    try:
        exec_cmd.parse_args(args)
    except UsageError as err:
        quoted = cli._OPTION_NAME.fullmatch(token.split("=", 1)[0]) is not None
        assert quoted or token not in err.message
        if not before and not token.startswith("-"):
            raise AssertionError("a plain first word is COMMAND, not an error") from err


@pytest.mark.parametrize("at", ["mkdtemp", "rmtree"])
def test_cleanup_temp_dir_survives_a_signal_at_either_end(
    at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cleanup.temp_dir had jobs.job()'s shape: a SIGTERM held during mkdtemp was
    raised before its finally existed, and one during the rmtree stopped it half way.
    """
    import shutil
    import tempfile

    from credhelper import cleanup

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tempfile if at == "mkdtemp" else shutil
    real = getattr(target, at)

    def interrupted(*args: object, **kw: object) -> object:
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kw)

    made: list[str] = []
    caught = None
    with cleanup.guard():
        try:
            with cleanup.guard():
                if at == "mkdtemp":
                    monkeypatch.setattr(tempfile, "mkdtemp", interrupted)
                with cleanup.temp_dir("attack-") as path:
                    made.append(path)
                    Path(path, "secret").write_text("x")
                    if at == "rmtree":
                        monkeypatch.setattr(shutil, "rmtree", interrupted)
        except cleanup.Terminated as stop:
            caught = stop.signum
    monkeypatch.undo()
    assert caught == signal.SIGTERM
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("attack-")] == []


def test_h_inside_an_option_cluster_is_no_help(job_env: dict[str, str]) -> None:
    """`-h` among click's help options made `exec -ghp_x -- deploy` print the help and
    exit 0 without running COMMAND (click reads "-ghp_x" as the cluster -g -h -p ...):
    a CI step would pass without doing anything. Only a lone -h or --help is help."""
    proc = run([CLI, "exec", "-ghp_x", "--", "true"], job_env)
    assert proc.returncode == 2 and "Usage" not in proc.stdout
    for flag in ("-h", "--help"):
        shown = run([CLI, "exec", flag], job_env)
        assert shown.returncode == 0 and "Run COMMAND with logins" in shown.stdout


def test_removing_a_job_never_follows_the_home_view_into_your_files(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    """The job's HOME view is symlinks to your files: removing the job, at a normal
    end or by the sweep after a SIGKILL, unlinks the symlinks and never descends
    into what they point at."""
    home = Path(job_env["HOME"])
    (home / "project").mkdir(parents=True)
    (home / "project" / "main.c").write_text("int main;\n")
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "config").write_text("[core]\n")
    (home / ".config" / "containers").mkdir()
    (home / ".config" / "containers" / "registries.conf").write_text("# mine\n")
    marks = tmp_path / "view-marks"
    marks.mkdir()
    owner = subprocess.Popen(
        [CLI, "exec", "--", "/bin/sh", "-c", 'touch "$1/started"; exec sleep 20', "sh", str(marks)],
        env=job_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (marks / "started").exists(), "the job")
        (job,) = job_dirs(job_env)
        child_pid = int((job / "child").read_text().split()[0])
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        wait_for(lambda: not _alive(child_pid), "COMMAND to die with credhelper")
        run([CLI, "list"], job_env)
        assert not job.exists()
    finally:
        owner.kill()
        owner.wait(timeout=10)
    assert (home / "project" / "main.c").read_text() == "int main;\n"
    assert (home / ".config" / "git" / "config").exists()
    assert (home / ".config" / "containers" / "registries.conf").exists()
    proc = run([CLI, "exec", "--", "true"], job_env)  # and at a normal end
    assert proc.returncode == 0, proc.stderr
    assert (home / "project" / "main.c").exists() and (home / ".config" / "git" / "config").exists()


def test_a_proc_of_another_pid_namespace_proves_nothing(job_env: dict[str, str]) -> None:
    """`unshare --pid --fork` without --mount-proc: credhelper's pids are those of the
    new namespace, but /proc still lists the host's, so a pid looked up there is some
    other process or none. Such a credhelper sweeps nothing; the host's does."""
    prefix = [p for p in _unshare_pid() if p != "--mount-proc"]
    from tests.test_exec import job_tag, jobs_root

    ns, boot = job_tag()
    root = jobs_root(job_env)
    root.mkdir(mode=0o700, exist_ok=True)
    dead = root / f"job-999999989-5-{ns}-{boot}-0123abcd"  # owner gone, no COMMAND
    dead.mkdir(mode=0o700)
    proc = run([*prefix, CLI, "list"], job_env)
    assert proc.returncode == 0, proc.stderr
    assert dead.exists(), "a credhelper reading another namespace's /proc removed a job"
    run([CLI, "list"], job_env)
    assert not dead.exists()
    # A job made there cannot say which pids it means: it is named so that no
    # credhelper ever sweeps it (start time, namespace and boot all unknown).
    show = 'basename "$(dirname "$DOCKER_CONFIG")"'
    made = run([*prefix, CLI, "exec", "--", "/bin/sh", "-c", show], job_env)
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"job-[0-9]+-0-0-0{32}-[0-9a-f]{8}", made.stdout.strip()), made.stdout
