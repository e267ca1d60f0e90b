"""Which modules the real `get`/`list`/`store` processes import (the hot path).

The installed executable runs under `python -I -X importtime` (-I as the script
would re-exec itself anyway when PYTHON* variables are set); every module imported
after `site` has finished is the helper's own doing (site's imports, such as a
.pth hook of another package, happen before any credhelper code runs and are the
same for the floor `python -c "from ...aead import AESGCM"`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HELPER, Env

ROOT = Path(__file__).resolve().parents[1]

# Never on the read path: the CLI framework, other key backends, networking,
# logging, locking, and the heavy stdlib modules those would drag in.
FORBIDDEN_ON_READ = {
    "click",
    "keyring",
    "requests",
    "urllib3",
    "http",
    "http.client",
    "urllib",
    "urllib.request",
    "email",
    "ssl",
    "socket",
    "logging",
    "filelock",
    "pathlib",
    "dataclasses",
    "hashlib",
    "_hashlib",
    "subprocess",
    "threading",
    "asyncio",
    "inspect",
    "importlib.metadata",
    "credhelper.cli",
}
# A writer takes the lock (fcntl.flock) but still needs no CLI, keyring or network.
FORBIDDEN_ON_WRITE = {"click", "keyring", "requests", "urllib3", "http", "credhelper.cli"}


def imports_of(
    ch: Env, action: str, stdin: bytes, extra_env: dict[str, str] | None = None
) -> set[str]:
    """Modules the helper process imports after interpreter start-up, by name."""
    env = {**ch.env, **(extra_env or {})}
    proc = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", HELPER, action],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    lines = [line for line in proc.stderr.decode().splitlines() if line.startswith("import time:")]
    names = [line.rsplit("|", 1)[1].strip() for line in lines]
    assert "site" in names, proc.stderr[-2000:]
    after_site = set(names[names.index("site") + 1 :])
    assert "credhelper.protocol" in after_site, "the helper did not run under importtime"
    assert proc.returncode in (0, 1), proc.stdout
    return after_site


def top(modules: set[str]) -> set[str]:
    """Each module name and every parent package of it."""
    out = set()
    for name in modules:
        parts = name.split(".")
        out.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return out


@pytest.fixture
def stored(ch: Env) -> Env:
    ch.store_creds("reg.example", "alice", "pw")
    ch.store_creds("https://index.docker.io/v1/", "<token>", "tok")
    return ch


@pytest.mark.parametrize(
    ("action", "stdin"),
    [("get", b"reg.example"), ("get", b"missing.example"), ("list", b"")],
)
def test_read_path_imports_only_stdlib_crypto_and_the_file_provider(
    stored: Env, action: str, stdin: bytes
) -> None:
    modules = imports_of(stored, action, stdin)
    assert not (top(modules) & FORBIDDEN_ON_READ), sorted(top(modules) & FORBIDDEN_ON_READ)
    if stdin != b"missing.example":  # a miss needs no key at all
        # AESGCM straight from the compiled binding (tests/test_fastpaths.py
        # proves it is the public class), not through the ciphers package.
        assert "cryptography.hazmat.bindings._rust" in modules
        assert not modules & {"cryptography.hazmat.primitives.ciphers", "cryptography.utils"}
        assert "credhelper.keys.file" in modules
    assert "credhelper.keys.env" not in modules
    third_party = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names)
    assert third_party <= {"credhelper", "cryptography", "_cffi_backend"}, third_party


def test_read_path_with_env_provider_does_not_import_the_file_provider(stored: Env) -> None:
    import base64
    import os

    key = base64.b64encode(os.urandom(32)).decode()
    modules = imports_of(stored, "get", b"reg.example", {"CREDHELPER_AESKEY": key})
    assert "credhelper.keys.env" in modules and "credhelper.keys.file" not in modules
    assert not (top(modules) & FORBIDDEN_ON_READ)


def test_version_imports_no_crypto(ch: Env) -> None:
    modules = imports_of(ch, "version", b"")
    assert not any(m.startswith("cryptography") for m in modules)


def test_store_may_lock_but_needs_no_cli_keyring_or_network(ch: Env) -> None:
    body = json.dumps({"ServerURL": "s", "Username": "u", "Secret": "p"}).encode()
    modules = imports_of(ch, "store", body)
    assert "fcntl" in modules  # writes take the flock
    assert not (top(modules) & FORBIDDEN_ON_WRITE), sorted(top(modules) & FORBIDDEN_ON_WRITE)


def test_get_still_works_under_importtime(stored: Env) -> None:
    """The import check above must have watched a real, successful get."""
    proc = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", HELPER, "get"],
        input=b"reg.example",
        capture_output=True,
        env=stored.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout == b'{"ServerURL":"reg.example","Username":"alice","Secret":"pw"}\n'


# What a start-up costs most: these standard modules (and cryptography's pure-
# Python layers) take ~15 ms to import and the read path needs none of them
# (credhelper.fastjson, credhelper.lazycontext, crypto._load_aesgcm; see
# tests/test_fastpaths.py for the guards).
HEAVY_ON_READ = {
    "json",
    "re",
    "enum",
    "typing",
    "contextlib",
    "collections",
    "functools",
    "warnings",
    "base64",
    "struct",
    "cryptography.utils",
    "cryptography.exceptions",
    "cryptography.hazmat.primitives",
}


def clean_imports(ch: Env, action: str, stdin: bytes) -> set[str]:
    """Every module the helper imports, run without `site` (which preloads some of them).

    A .pth hook in the venv (setuptools' distutils shim, an editable install's
    finder where the layout needs one) may import re, contextlib and more during
    start-up, which would hide the helper's own imports of them; -S skips site,
    and the path is set by hand to this checkout and to where cryptography is installed.
    """
    from pathlib import Path

    import cryptography

    root = str(Path(__file__).resolve().parent.parent)
    deps = str(Path(cryptography.__file__).parent.parent)
    code = (
        "import sys\n"
        f"sys.path[:0] = [{root!r}, {deps!r}]\n"
        f"sys.argv = [{HELPER!r}, {action!r}]\n"
        f"exec(compile(open({HELPER!r}).read(), {HELPER!r}, 'exec'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
        input=stdin,
        capture_output=True,
        env=ch.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    if action == "get" and stdin == b"reg.example":
        assert proc.stdout == b'{"ServerURL":"reg.example","Username":"alice","Secret":"pw"}\n'
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    assert "credhelper.protocol" in names and "site" not in names
    return names


@pytest.mark.parametrize(
    ("action", "stdin"),
    [("get", b"reg.example"), ("get", b"missing.example"), ("list", b"")],
)
def test_read_path_imports_no_heavy_stdlib(stored: Env, action: str, stdin: bytes) -> None:
    modules = clean_imports(stored, action, stdin)
    assert "credhelper.keys.file" in modules or stdin == b"missing.example"
    assert not (modules & HEAVY_ON_READ), sorted(modules & HEAVY_ON_READ)
    if stdin == b"reg.example":
        assert "cryptography.hazmat.bindings._rust" in modules  # it really decrypted


def test_env_provider_read_path_imports_no_heavy_stdlib(ch: Env) -> None:
    import base64
    import os

    ch.env = {**ch.env, "CREDHELPER_AESKEY": base64.b64encode(os.urandom(32)).decode()}
    ch.store_creds("reg.example", "alice", "pw")
    modules = clean_imports(ch, "get", b"reg.example")
    assert "credhelper.keys.env" in modules
    assert not (modules & HEAVY_ON_READ), sorted(modules & HEAVY_ON_READ)


# ---------------------------------------------------------------- isolation via a symlink


@pytest.mark.parametrize(
    ("script", "argv"),
    [("docker-credential-credhelper", ["version"]), ("credhelper", ["--version"])],
)
def test_a_symlinked_script_does_not_import_from_its_real_directory(
    tmp_path: Path, script: str, argv: list[str]
) -> None:
    """Reached through a symlink (pipx's layout), a script must not import from its real dir.

    `python -I`, which the scripts reproduce, puts no script directory on sys.path;
    Python puts the symlink-resolved one there, not the link's.
    """
    real = tmp_path / "venv-bin"  # e.g. ~/.local/share/pipx/venvs/credhelper/bin
    link_dir = tmp_path / "local-bin"  # e.g. ~/.local/bin
    real.mkdir()
    link_dir.mkdir()
    installed = real / script
    shutil.copy(ROOT / "bin" / script, installed)
    # A module named like the package, in the script's real directory only: were
    # that directory searched, it would shadow the installed credhelper.
    (real / "credhelper.py").write_text("print('IMPORTED FROM THE SCRIPT DIRECTORY')\n")
    (link_dir / script).symlink_to(installed)
    work = tmp_path / "home"
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work),
        "DOCKER_CONFIG": str(work / "docker"),
        "CREDHELPER_HOME": str(work / "ch"),
    }
    for started_as in (installed, link_dir / script):
        proc = subprocess.run(
            [sys.executable, str(started_as), *argv],
            env=env, cwd=work, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert b"IMPORTED FROM THE SCRIPT DIRECTORY" not in proc.stdout, (
            f"started as {started_as}, {script} imported credhelper from its real directory"
        )
        assert proc.returncode == 0, proc.stderr.decode()


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["list"], b""),
        (["login", "reg.example", "-u", "ci", "--password-stdin", "--no-verify"], b"pw\n"),
        (["logout", "reg.example"], b""),
    ],
)
def test_cli_commands_that_need_no_network_do_not_load_it(
    ch: Env, argv: list[str], stdin: bytes
) -> None:
    """`credhelper list`, a --no-verify login (CI's scripted login) and logout start
    without the registry client (requests, urllib3: ~60 ms) or other commands' code."""
    from tests.conftest import CLI

    proc = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", CLI, *argv],
        input=stdin,
        capture_output=True,
        env=ch.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.decode().splitlines() if line.startswith("import time:")]
    modules = {line.rsplit("|", 1)[1].strip() for line in lines}
    assert "credhelper.cli" in modules, "the command did not run under importtime"
    network = top(modules) & {"requests", "urllib3", "http.client", "credhelper.registry"}
    assert not network, sorted(network)
    # What each command module brings itself (importlib.import_module, which loads
    # them, is not timed): no doctor, push or migrate machinery for these commands.
    others = top(modules) & {"credhelper.doctor", "credhelper.push", "credhelper.migrate"}
    assert not others, sorted(others)


def test_docker_names_have_one_definition() -> None:
    """Docker Hub's key and the identity-token username are spelled once, in
    credhelper/dockernames.py; every other module imports them."""
    literals = ('"https://index.docker.io/v1/"', '"<token>"')
    found = [
        (str(path.relative_to(ROOT)), literal)
        for path in sorted((ROOT / "credhelper").rglob("*.py"))
        for literal in literals
        if literal in path.read_text()
    ]
    assert found == [("credhelper/dockernames.py", literal) for literal in literals]
