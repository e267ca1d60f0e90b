"""scripts/install leaves docker able to run the helper it configures, or configures nothing.

Run as a new user would: a throwaway HOME, a PATH without ~/.local/bin. As root the
helper goes to /usr/local/bin: the test gives the script a private mount namespace
in which /usr/local/bin and /usr/local/lib are its own empty directories, so the
machine's are never touched, and the real docker CLI then logs in through it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.registry_server import RegistryServer

pytest_plugins = ["tests.registry_server"]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent
SCRIPT = str(REPO / "scripts" / "install")


def _home(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHON": sys.executable,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }


def _run(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        args, env=env, capture_output=True, text=True, timeout=600, check=False, **kw
    )


def _docker_config(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".docker" / "config.json"


def test_as_root_it_links_into_usr_local_bin_and_docker_runs_it(
    tmp_path: Path, registry_http: RegistryServer
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root layout is tested as root (CI runs the suite as root)")
    require_tool("unshare")
    docker = require_tool("docker")
    env = _home(tmp_path)
    fake_bin, fake_lib = tmp_path / "usr-local-bin", tmp_path / "usr-local-lib"
    fake_bin.mkdir()
    fake_lib.mkdir()
    (fake_bin / "docker").touch()
    reg = registry_http
    q = shlex.quote
    # Inside the namespace: the real docker CLI stays reachable as /usr/local/bin/docker,
    # then scripts/install, then `docker login`, which must run the helper from PATH.
    inner = " && ".join(
        [
            f"mount --bind {q(docker)} {q(str(fake_bin / 'docker'))}",
            f"mount --rbind {q(str(fake_bin))} /usr/local/bin",
            f"mount --bind {q(str(fake_lib))} /usr/local/lib",
            q(SCRIPT),
            f"printf %s {q(reg.users['alice'])} | docker login {reg.host} -u alice "
            "--password-stdin",
            f"printf %s {reg.host} | docker-credential-credhelper get",
        ]
    )
    proc = _run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Installed /usr/local/bin/credhelper " in proc.stdout
    assert "Login Succeeded" in proc.stdout
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"ServerURL": reg.host, "Username": "alice", "Secret": reg.users["alice"]}
    for exe in ("credhelper", "docker-credential-credhelper"):
        link = fake_bin / exe
        assert link.is_symlink()
        assert os.readlink(link) == f"/usr/local/lib/credhelper/bin/{exe}"
    # Every user may run a system-wide install; only root may change it.
    assert (fake_lib / "credhelper").stat().st_mode & 0o777 == 0o755
    config = json.loads(_docker_config(env).read_text())
    assert config["credsStore"] == "credhelper"
    assert reg.users["alice"] not in _docker_config(env).read_text()


def test_a_link_directory_off_path_configures_nothing_and_says_the_fix(tmp_path: Path) -> None:
    env = _home(tmp_path)
    bindir = Path(env["HOME"]) / ".local" / "bin"
    env["CREDHELPER_BINDIR"] = str(bindir)
    env["CREDHELPER_PREFIX"] = str(Path(env["HOME"]) / ".local" / "share" / "credhelper")
    proc = _run([SCRIPT], env)
    assert (
        proc.returncode == 9
    )  # as `credhelper install` (ExitCode.HELPER_MISSING), proc.stdout + proc.stderr
    assert f"{bindir} is not on PATH" in proc.stderr
    assert f'export PATH="{bindir}:$PATH"' in proc.stderr
    assert f"then run: {bindir}/credhelper install" in proc.stderr
    # docker was not pointed at a helper it cannot find.
    assert not _docker_config(env).exists()
    assert not (Path(env["HOME"]) / ".docker" / "credhelper").exists()

    # Doing what it says works.
    fixed = {**env, "PATH": f"{bindir}:{env['PATH']}"}
    done = _run([str(bindir / "credhelper"), "install"], fixed)
    assert done.returncode == 0, done.stderr
    assert json.loads(_docker_config(env).read_text())["credsStore"] == "credhelper"
    assert _run(["docker-credential-credhelper", "list"], fixed).stdout == "{}\n"


def test_another_helper_first_on_path_configures_nothing(tmp_path: Path) -> None:
    env = _home(tmp_path)
    home = Path(env["HOME"])
    other = home / "other-bin"
    other.mkdir()
    stale = other / "docker-credential-credhelper"
    stale.write_text("#!/bin/sh\nexit 1\n")
    stale.chmod(0o755)
    bindir = home / ".local" / "bin"
    env.update(
        CREDHELPER_BINDIR=str(bindir),
        CREDHELPER_PREFIX=str(home / "venv"),
        PATH=f"{other}:{bindir}:/usr/bin:/bin",
    )
    proc = _run([SCRIPT], env)
    assert proc.returncode == 9, proc.stdout + proc.stderr
    assert f"docker would run {stale} from PATH" in proc.stderr
    assert not _docker_config(env).exists()


def test_it_never_replaces_a_file_it_did_not_make(tmp_path: Path) -> None:
    env = _home(tmp_path)
    home = Path(env["HOME"])
    bindir = home / "bin"
    bindir.mkdir()
    mine = bindir / "credhelper"
    mine.write_text("#!/bin/sh\necho mine\n")
    env.update(
        CREDHELPER_BINDIR=str(bindir),
        CREDHELPER_PREFIX=str(home / "venv"),
        PATH=f"{bindir}:/usr/bin:/bin",
    )
    proc = _run([SCRIPT], env)
    assert proc.returncode == 1
    assert f"{mine} exists and is not a link made by scripts/install" in proc.stderr
    assert mine.read_text() == "#!/bin/sh\necho mine\n"
    # Refused before anything was installed or configured.
    assert not (home / "venv").exists()
    assert not _docker_config(env).exists()


# ------------------------------------------------------------------ the script's own checks
# $PYTHON is a stand-in that makes a fake virtualenv in milliseconds (its `credhelper
# install` only records that it ran): nothing is built, nothing outside tmp_path touched.

FAKE_PYTHON = """#!/bin/sh
# stand-in for python3: `-m venv PREFIX` makes PREFIX/bin with stub executables
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  cp "$0" "$3/bin/python"
  for exe in credhelper docker-credential-credhelper; do
    printf '#!/bin/sh\\necho "$0 $*" >> "%s/ran.log"\\n' "$3" > "$3/bin/$exe"
    chmod 755 "$3/bin/$exe"
  done
fi
exit 0
"""


def _fake_setup(tmp_path: Path) -> tuple[dict[str, str], Path]:
    home = tmp_path / "home"
    home.mkdir()
    py = tmp_path / "fakepython"
    py.write_text(FAKE_PYTHON)
    py.chmod(0o755)
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "PYTHON": str(py),
        "LANG": "C.UTF-8",
        "CREDHELPER_PREFIX": str(tmp_path / "prefix"),
    }
    return env, home


def _fake_run(env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """scripts/install in a private mount namespace with an empty tmpfs over
    /usr/local (as root its default link directory is /usr/local/bin: the machine's
    is never touched)."""
    if os.geteuid() == 0:
        inner = f"mount -t tmpfs tmpfs /usr/local && exec bash {shlex.quote(SCRIPT)}"
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]
    else:
        argv = ["bash", SCRIPT]
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def _ran(tmp_path: Path) -> bool:
    return (tmp_path / "prefix" / "ran.log").exists()


def test_atk_path_without_local_bin_exits_9_and_does_not_switch(tmp_path: Path) -> None:
    """the link directory not on PATH: exit 9, the export line, no install."""
    env, home = _fake_setup(tmp_path)
    env["CREDHELPER_BINDIR"] = str(home / ".local" / "bin")
    proc = _fake_run(env)
    assert proc.returncode == 9, proc.stderr
    assert "export PATH=" in proc.stderr
    assert not _ran(tmp_path)


def test_atk_a_file_it_did_not_make_is_never_replaced(tmp_path: Path) -> None:
    """a regular file at the link target: exit 1 before anything is installed."""
    env, home = _fake_setup(tmp_path)
    bindir = home / ".local" / "bin"
    env["CREDHELPER_BINDIR"] = str(bindir)
    bindir.mkdir(parents=True)
    mine = bindir / "docker-credential-credhelper"
    mine.write_text("#!/bin/sh\necho mine\n")
    env["PATH"] = f"{bindir}:{env['PATH']}"
    proc = _fake_run(env)
    assert proc.returncode == 1, proc.stderr
    assert mine.read_text() == "#!/bin/sh\necho mine\n"
    assert not (tmp_path / "prefix").exists()


@pytest.mark.parametrize("dangling", [False, True])
def test_atk_a_symlink_it_did_not_make_is_never_replaced(tmp_path: Path, dangling: bool) -> None:
    """Found by attack. README: "It never replaces a file it did not make." A symlink at the
    link target that scripts/install did not make (pipx's link to another
    installation, the user's own wrapper) is silently replaced by `ln -sfn`: the
    pre-check refuses only a non-link (`[ -e ] && [ ! -L ]`)."""
    env, home = _fake_setup(tmp_path)
    bindir = home / ".local" / "bin"
    env["CREDHELPER_BINDIR"] = str(bindir)
    bindir.mkdir(parents=True)
    other = tmp_path / "pipx" / "credhelper"
    other.parent.mkdir()
    if not dangling:
        other.write_text("#!/bin/sh\necho pipx\n")
        other.chmod(0o755)
    link = bindir / "credhelper"
    os.symlink(other, link)
    env["PATH"] = f"{bindir}:{env['PATH']}"
    proc = _fake_run(env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert f"rm {link}" in proc.stderr
    assert os.readlink(link) == str(other)
    assert not _ran(tmp_path)


def test_atk_a_world_writable_link_dir_is_refused(tmp_path: Path) -> None:
    """Found by attack. CREDHELPER_BINDIR (or a PATH dir) that anyone may write: scripts/install
    links docker's helper there and switches docker to it, so any local user can
    swap the link and receive every `docker login` password. Nothing checks the
    directory's mode (the store insists on 0700 for far less)."""
    env, _home = _fake_setup(tmp_path)
    shared = tmp_path / "shared-bin"
    shared.mkdir()
    shared.chmod(0o1777)
    env["CREDHELPER_BINDIR"] = str(shared)
    env["PATH"] = f"{shared}:{env['PATH']}"
    proc = _fake_run(env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "writable by other users" in proc.stderr and "chmod go-w" in proc.stderr
    assert not _ran(tmp_path) and not (tmp_path / "prefix").exists()


def test_a_link_dir_reached_through_a_symlink_is_checked_where_it_leads(tmp_path: Path) -> None:
    """~/.local/bin as a link to a directory anyone may write: refused all the same."""
    env, home = _fake_setup(tmp_path)
    shared = tmp_path / "shared" / "bin"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    (home / ".local").mkdir()
    os.symlink(shared, home / ".local" / "bin")
    env["CREDHELPER_BINDIR"] = str(home / ".local" / "bin")
    env["PATH"] = f"{home / '.local' / 'bin'}:{env['PATH']}"
    proc = _fake_run(env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert f"{shared} is writable by other users" in proc.stderr
    assert not _ran(tmp_path)


def test_atk_another_helper_first_on_path_is_not_switched(tmp_path: Path) -> None:
    """another docker-credential-credhelper first on PATH: exit 9, no install."""
    env, home = _fake_setup(tmp_path)
    bindir = home / ".local" / "bin"
    env["CREDHELPER_BINDIR"] = str(bindir)
    first = tmp_path / "first"
    first.mkdir()
    exe = first / "docker-credential-credhelper"
    exe.write_text("#!/bin/sh\nexit 1\n")
    exe.chmod(0o755)
    env["PATH"] = f"{first}:{bindir}:{env['PATH']}"
    proc = _fake_run(env)
    assert proc.returncode == 9, proc.stderr
    assert str(exe) in proc.stderr
    assert not _ran(tmp_path)


def test_atk_relative_path_entry_does_not_count(tmp_path: Path) -> None:
    """the helper reachable only
    through a relative PATH entry ('.local/bin', cwd = HOME). The script's own check
    (bash `command -v`) accepts it and goes on to `credhelper install`, whose Go-rule
    LookPath refuses it: exit 9, Docker's config not created."""
    from tests.conftest import CLI, HELPER

    home = tmp_path / "home"
    bindir = home / ".local" / "bin"
    bindir.mkdir(parents=True)
    os.symlink(HELPER, bindir / "docker-credential-credhelper")
    env = {
        "HOME": str(home),
        "PATH": ".local/bin:/usr/bin:/bin",
        "DOCKER_CONFIG": str(home / ".docker"),
        "CREDHELPER_HOME": str(home / "store"),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.run(
        [CLI, "install"], env=env, capture_output=True, text=True, timeout=120, cwd=home
    )
    assert proc.returncode == 9, (proc.stdout, proc.stderr)
    assert not (home / ".docker" / "config.json").exists()


def test_atk_the_scripts_own_check_skips_a_relative_path_entry(tmp_path: Path) -> None:
    """The link directory reachable only through a relative PATH entry ('.local/bin',
    cwd = HOME): docker (Go's LookPath) ignores it, so the script's own check must too:
    exit 9 with the export line, `credhelper install` never run."""
    env, home = _fake_setup(tmp_path)
    env["CREDHELPER_BINDIR"] = str(home / ".local" / "bin")
    env["PATH"] = f".local/bin:{env['PATH']}"
    proc = _fake_run(env, cwd=home)
    assert proc.returncode == 9, (proc.stdout, proc.stderr)
    assert "export PATH=" in proc.stderr
    assert not _ran(tmp_path)


def test_atk_a_rerun_replaces_its_own_links(tmp_path: Path) -> None:
    """The links scripts/install made itself are replaced on a rerun."""
    env, home = _fake_setup(tmp_path)
    bindir = home / ".local" / "bin"
    env["CREDHELPER_BINDIR"] = str(bindir)
    env["PATH"] = f"{bindir}:{env['PATH']}"
    for _ in range(2):
        proc = _fake_run(env)
        assert proc.returncode == 0, proc.stderr
    assert os.readlink(bindir / "credhelper") == str(tmp_path / "prefix" / "bin" / "credhelper")


def test_atk_a_link_dir_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A link directory another user owns: refused before anything is installed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory to another user")
    env, _home = _fake_setup(tmp_path)
    theirs = tmp_path / "their-bin"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    env["CREDHELPER_BINDIR"] = str(theirs)
    env["PATH"] = f"{theirs}:{env['PATH']}"
    proc = _fake_run(env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "owned by another user" in proc.stderr
    assert not (tmp_path / "prefix").exists()
