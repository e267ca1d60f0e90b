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
