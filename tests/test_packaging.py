"""credhelper installs like any Python CLI: `python -m build` gives a wheel and an sdist
that pass `twine check`, the sdist is complete, and the installed wheel's executables
work and are the fast, isolated launchers of bin/.

Offline: the build runs without an isolated build environment (the test extra
brings setuptools, build and twine), and the fresh venv gets the runtime
dependencies from this test environment through a path file instead of an index.
`pipx install .` and `pip install .` from an index are the same wheel installed the
same way; scripts/install's own test (tests/test_install_script.py) runs `pip install`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache"}
SKIP |= {".pytest_cache", ".hypothesis", "credhelper.egg-info"}


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wheel + sdist built from a copy of the tree (the build writes build/ and *.egg-info)."""
    pytest.importorskip("build", reason="the test extra installs build")
    pytest.importorskip("twine", reason="the test extra installs twine")
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    shutil.copytree(ROOT, src, ignore=lambda _d, names: [n for n in names if n in SKIP])
    out = root / "dist"
    # sdist first, then the wheel from the unpacked sdist (build's default): the
    # sdist alone must be enough to build the package.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)])
    return out


def test_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert sorted(Path(f).suffix for f in files) == [".gz", ".whl"], files
    proc = _run([sys.executable, "-m", "twine", "check", "--strict", *files])
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_sdist_has_what_a_user_and_the_tests_need(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "README.md",
        "LICENSE",
        "SECURITY.md",
        "pyproject.toml",
        "MANIFEST.in",
        "docs/protocol.md",
        "docs/store-format.md",
        "bin/credhelper",
        "bin/docker-credential-credhelper",
        "scripts/install",
        "scripts/test",
        ".ci/run",
        "tests/conftest.py",
        "tests/registry_server.py",
        "credhelper/protocol.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith((".venv/", ".git/"))]


def test_wheel_installs_the_two_launchers(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        scripts = sorted(n for n in zf.namelist() if "/scripts/" in n)
        metadata = zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()
    assert [s.rsplit("/", 1)[1] for s in scripts] == ["credhelper", "docker-credential-credhelper"]
    assert "License-Expression: MIT" in metadata
    assert "Description-Content-Type: text/markdown" in metadata


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A new venv with only the wheel installed; its dependencies come from this
    test environment's site-packages through a .pth line (no index is contacted)."""
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    (Path(site.stdout.strip()) / "zz_test_deps.pth").write_text(
        sysconfig.get_path("purelib") + "\n"
    )
    _run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)])
    # Every dependency the wheel declares is satisfied (pip reads its metadata).
    _run([str(py), "-m", "pip", "check"])
    # The code that runs is the wheel's, not this checkout's.
    where = _run([str(py), "-I", "-c", "import credhelper; print(credhelper.__file__)"])
    assert where.stdout.startswith(str(venv)), where.stdout
    return venv


def test_installed_executables_work(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    bindir = _fresh_venv(tmp_path, wheel) / "bin"
    helper, cli = str(bindir / "docker-credential-credhelper"), str(bindir / "credhelper")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}

    version = _run([helper, "version"], env=env)
    assert version.stdout.startswith("docker-credential-credhelper (credhelper) ")
    creds = {"ServerURL": "reg.example:5000", "Username": "ci", "Secret": "s3cret"}
    _run([helper, "store"], input=json.dumps(creds), env=env)
    got = _run([helper, "get"], input="reg.example:5000", env=env)
    assert json.loads(got.stdout) == creds
    assert (home / ".docker" / "credhelper" / "aeskey").stat().st_mode & 0o777 == 0o600
    assert "Usage: credhelper" in _run([cli, "--help"], env=env).stdout
    listed = _run([cli, "list"], env=env)
    assert "reg.example:5000  ok" in listed.stdout

    # The launchers are bin/'s: isolated from PYTHON* variables even when installed
    # (a planted `credhelper` package on PYTHONPATH is never imported).
    planted = tmp_path / "planted" / "credhelper"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("raise SystemExit('planted code ran')\n")
    hostile = {**env, "PYTHONPATH": str(planted.parent)}
    assert json.loads(_run([helper, "get"], input="reg.example:5000", env=hostile).stdout) == creds
    assert _run([cli, "version"], env=hostile).stdout.startswith("credhelper ")
    first = (bindir / "docker-credential-credhelper").read_text().splitlines()[0]
    assert first == f"#!{bindir / 'python'}" or first.startswith(f"#!{bindir}/python")
    assert os.access(helper, os.X_OK)


def test_the_checkout_root_holds_no_other_modules() -> None:
    """An editable install puts the checkout root on sys.path (pyproject's
    package-dir): of what git tracks there, only `credhelper` and `tests` may be
    importable, so no tracked file can stand in for a module something imports."""
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    modules = {p for p in tracked if "/" not in p and p.endswith((".py", ".so"))}
    # A directory at the root with Python files in it imports as a package, with an
    # __init__.py or without (a namespace package).
    packages = {p.split("/", 1)[0] for p in tracked if "/" in p and p.endswith((".py", ".so"))}
    assert modules == set(), sorted(modules)
    assert packages <= {"credhelper", "tests"}, sorted(packages)
