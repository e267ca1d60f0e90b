"""A known secret goes through every command and failure path; it must surface only in
`get`'s stdout.

Scanned: stdout and stderr of every run (also with CREDHELPER_DEBUG=1 tracebacks),
every file under the test's HOME/DOCKER_CONFIG/store/TMPDIR (the store itself
must hold only ciphertext), and the argv and environment of every child process
credhelper starts (docker, podman and skopeo are PATH shims that record them).
Failure messages name the step, never the secret.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, HELPER, Env
from tests.registry_server import RegistryServer, start_registry

pytest_plugins = ["tests.registry_server"]

USER = "leaky"
SECRET = "LeakCanary-q7Zr2x-9f8e7d6c5b4a3"
MIGRATED_SECRET = "MigratedCanary-v4Kp1-0a9b8c7d"

SHIM = """#!/bin/sh
# Records how credhelper ran this tool (argv, environment), then acts as told.
log="$SHIM_LOG/$(basename "$0").$$"
printf '%s\\n' "$0" "$@" > "$log.argv"
env > "$log.env"
prev=""
for a in "$@"; do
  if [ "$prev" = "--authfile" ]; then
    stat -c '%a' "$a" > "$log.authfile-mode"
    stat -c '%a' "$(dirname "$a")" > "$log.authdir-mode"
  fi
  prev="$a"
done
if [ -n "$SHIM_STDERR" ]; then echo "$SHIM_STDERR" >&2; fi
exit "${SHIM_EXIT:-0}"
"""


def needles(secret: str, user: str = USER) -> dict[str, bytes]:
    """The forms in which a secret could leak."""
    pair = f"{user}:{secret}".encode()
    return {
        "plain": secret.encode(),
        "base64(user:secret)": base64.b64encode(pair),
        "base64(secret)": base64.b64encode(secret.encode()).rstrip(b"="),
        "hex": secret.encode().hex().encode(),
        "utf-16": secret.encode("utf-16-le"),
    }


def leaked(blob: bytes, secret: str = SECRET) -> list[str]:
    return [name for name, form in needles(secret).items() if form in blob]


class Recorder:
    """Runs commands in one environment and remembers every output for the scan."""

    def __init__(self, ch: Env, shim_log: Path, tmpdir: Path, shims: Path) -> None:
        self.ch = ch
        self.outputs: list[tuple[str, bytes]] = []
        self.env = {
            **ch.env,
            "PATH": f"{shims}{os.pathsep}{ch.env['PATH']}",
            "SHIM_LOG": str(shim_log),
            "TMPDIR": str(tmpdir),
        }

    def run(
        self, label: str, argv: list[str], stdin: bytes = b"", **extra: str
    ) -> subprocess.CompletedProcess[bytes]:
        env = {**self.env, **extra}
        proc = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=120)
        self.outputs.append((f"{label} (stdout)", proc.stdout))
        self.outputs.append((f"{label} (stderr)", proc.stderr))
        # Again with tracebacks on: an exception's text must not carry the secret either.
        debug = subprocess.run(
            argv, input=stdin, capture_output=True, env={**env, "CREDHELPER_DEBUG": "1"},
            timeout=120,
        )  # fmt: skip
        self.outputs.append((f"{label} [debug] (stdout)", debug.stdout))
        self.outputs.append((f"{label} [debug] (stderr)", debug.stderr))
        return proc

    def helper(self, label: str, action: str, stdin: bytes = b"", **extra: str) -> None:
        self.run(f"helper {action}: {label}", [HELPER, action], stdin, **extra)

    def cli(self, label: str, *args: str, stdin: bytes = b"", **extra: str) -> None:
        self.run(f"credhelper {' '.join(args)}: {label}", [CLI, *args], stdin, **extra)


@pytest.fixture
def rec(ch: Env, tmp_path: Path) -> Iterator[Recorder]:
    shims = tmp_path / "shims"
    shims.mkdir()
    for tool in ("docker", "podman", "skopeo"):
        path = shims / tool
        path.write_text(SHIM)
        path.chmod(0o755)
    log = tmp_path / "shim-log"
    log.mkdir()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(mode=0o700)
    yield Recorder(ch, log, tmpdir, shims)


def _store_request(server: str, secret: str = SECRET, user: str = USER) -> bytes:
    return json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()


def _scan_files(root: Path, secret: str, skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or any(s in str(path) for s in skip):
                continue
            hits = leaked(path.read_bytes(), secret)
            if hits:
                found.append(f"{path.relative_to(root)}: {hits}")
    return found


def _protocol_paths(rec: Recorder) -> None:
    ch = rec.ch
    server = "registry.example:5000"
    rec.helper("store", "store", _store_request(server))
    rec.helper("store again", "store", _store_request(server))
    rec.helper("list", "list")
    rec.helper("version", "version")
    rec.helper("missing", "get", b"other.example")
    rec.helper("erase missing", "erase", b"other.example")
    bad_requests = {
        "truncated after secret": _store_request(server)[:-2],
        "control char in secret": _store_request(server).replace(b"Canary", b"Can\x01ary"),
        "bad escape in secret": _store_request(server).replace(b"Canary", b"Can\\qary"),
        "number after secret": _store_request(server).replace(b'"Username"', b'"Username":5,"x"'),
        "no username": json.dumps({"ServerURL": server, "Secret": SECRET}).encode(),
        "no server": json.dumps({"Username": USER, "Secret": SECRET}).encode(),
        "secret as key": json.dumps({SECRET: 1, "ServerURL": 2}).encode(),
        "oversized": _store_request(server) + b" " * (1 << 20),
        "secret then garbage": _store_request(server).replace(b"}", b"x"),
        "array": b'["' + SECRET.encode() + b'"]',
    }
    for label, data in bad_requests.items():
        rec.helper(label, "store", data)
        rec.helper(label, "get", data)
        rec.helper(label, "erase", data)
    # Failure paths of a valid store: a stuck lock, a file-size limit, a corrupt store.
    import fcntl

    with open(ch.home / "config.json.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        rec.helper("stuck lock", "store", _store_request(server), CREDHELPER_LOCK_TIMEOUT="0.2")
    good = ch.store.read_bytes()
    doc = json.loads(good)
    entry = doc["auths"][server]
    sealed = base64.b64decode(entry["sealed"])
    entry["sealed"] = base64.b64encode(sealed[:-1] + bytes([sealed[-1] ^ 1])).decode()
    ch.store.write_bytes(json.dumps(doc).encode())
    rec.helper("tampered entry", "get", server.encode())
    rec.helper("tampered entry", "list")
    rec.cli("tampered entry", "list", "--json")
    ch.store.write_bytes(good[:-5])
    rec.helper("truncated store", "get", server.encode())
    rec.helper("truncated store", "store", _store_request("x.example"))
    ch.store.write_bytes(good)
    key = ch.key.read_bytes()
    ch.key.write_bytes(b"\0" * 32)
    rec.helper("wrong key", "get", server.encode())
    ch.key.write_bytes(key)


def test_secret_surfaces_only_in_get_stdout(rec: Recorder, tmp_path: Path) -> None:
    ch = rec.ch
    _protocol_paths(rec)
    server = "registry.example:5000"

    # The one place it must appear: get's stdout.
    get = subprocess.run(
        [HELPER, "get"], input=server.encode(), capture_output=True, env=rec.env, timeout=60
    )
    assert json.loads(get.stdout)["Secret"] == SECRET, "get does not return the secret"
    assert not leaked(get.stderr), "get's stderr carries the secret"

    # Every CLI command that exists, on a store holding the secret.
    rec.cli("list", "list")
    rec.cli("list json", "list", "--json")
    rec.cli("version", "version")
    rec.cli("doctor", "doctor")
    rec.cli("doctor json", "doctor", "--json")
    rec.cli("install", "install")
    rec.cli("install json", "install", "--json")
    rec.cli("migrate nothing", "migrate")
    rec.cli("doctor fix", "doctor", "--fix")
    rec.cli("login no-verify", "login", "nv.example:5000", "-u", USER, "--password-stdin",
            "--no-verify", stdin=SECRET.encode() + b"\n")  # fmt: skip
    rec.cli("login unreachable", "login", "127.0.0.1:9", "-u", USER, "--password-stdin",
            stdin=SECRET.encode() + b"\n")  # fmt: skip
    rec.cli("login not a registry", "login", "example.invalid", "-u", USER, "--password-stdin",
            stdin=SECRET.encode() + b"\n")  # fmt: skip
    rec.cli("login no tty", "login", "nv.example:5000", "-u", USER)
    # Pushes through PATH shims: an auth failure makes push check the login.
    for engine in ("docker", "podman"):
        rec.cli(f"push {engine} ok", "push", "--engine", engine, f"{server}/team/app:1")
        rec.cli(f"push {engine} denied", "push", "--engine", engine, f"{server}/team/app:1",
                SHIM_EXIT="1", SHIM_STDERR="unauthorized: authentication required")  # fmt: skip
    rec.cli("push skopeo", "push", "--engine", "skopeo", "--from", "oci:/nonexistent",
            f"{server}/team/app:1")  # fmt: skip
    rec.cli("rotate reencrypt", "rotate", "--reencrypt", "--yes")
    rec.cli("rotate reencrypt json", "rotate", "--reencrypt", "--yes", "--json")
    get2 = subprocess.run(
        [HELPER, "get"], input=server.encode(), capture_output=True, env=rec.env, timeout=60
    )
    assert json.loads(get2.stdout)["Secret"] == SECRET, "--reencrypt lost the secret"
    rec.cli("logout", "logout", "nv.example:5000")
    rec.cli("rotate forced", "rotate", "--yes")
    rec.helper("after forced rotation", "get", server.encode())
    rec.helper("after forced rotation", "list")
    rec.cli("after forced rotation", "list")
    rec.cli("doctor after rotation", "doctor")
    rec.cli("uninstall", "uninstall")

    outputs = [f"{label}: {leaked(blob)}" for label, blob in rec.outputs if leaked(blob)]
    assert not outputs, "secret in output of:\n" + "\n".join(outputs)
    files = _scan_files(tmp_path, SECRET)
    assert not files, "secret in files:\n" + "\n".join(files)
    # Children: argv and environment recorded by the shims.
    logs = sorted((tmp_path / "shim-log").glob("*"))
    assert any(p.name.endswith(".argv") for p in logs), "no engine was started"
    assert not ch.env.get("CREDHELPER_AESKEY")
    for path in logs:
        assert not leaked(path.read_bytes()), f"secret in a child's {path.suffix}: {path.name}"
        key_b64 = base64.b64encode(ch.key.read_bytes()) if ch.key.exists() else b"-"
        assert key_b64 not in path.read_bytes(), f"key in a child's {path.suffix}"


def test_docker_hub_push_authfile_is_private_and_removed(rec: Recorder, tmp_path: Path) -> None:
    """For Docker Hub, skopeo/podman get a temporary auth.json; it must be 0600 in a 0700
    directory, never in argv or environment, and gone after the push."""
    hub = "https://index.docker.io/v1/"
    rec.helper("hub", "store", _store_request(hub))
    for engine in ("podman", "skopeo"):
        extra = ["--from", "oci:/nonexistent"] if engine == "skopeo" else []
        rec.cli(f"push {engine} hub", "push", "--engine", engine, *extra, "library/app:1")
    modes = sorted((tmp_path / "shim-log").glob("*.authfile-mode"))
    assert modes, "no engine received an --authfile"
    for path in modes:
        assert path.read_text().strip() == "600"
        assert Path(str(path).replace("authfile-mode", "authdir-mode")).read_text().strip() == "700"
    outputs = [label for label, blob in rec.outputs if leaked(blob)]
    assert not outputs, f"secret in output of {outputs}"
    assert not _scan_files(tmp_path, SECRET), "a Docker Hub auth file was left behind"
    for path in sorted((tmp_path / "shim-log").glob("*")):
        assert not leaked(path.read_bytes()), f"secret in a child's {path.name}"


def test_login_against_a_real_registry_leaks_nothing(rec: Recorder, tmp_path: Path) -> None:
    with start_registry(tmp_path / "registry", auth="htpasswd", tls=False,
                        users={USER: SECRET}) as reg:  # fmt: skip
        _login_and_push(rec, reg)
    outputs = [label for label, blob in rec.outputs if leaked(blob)]
    assert not outputs, f"secret in output of {outputs}"
    files = _scan_files(tmp_path, SECRET, skip=("registry",))
    assert not files, "secret in files:\n" + "\n".join(files)
    for path in sorted((tmp_path / "shim-log").glob("*")):
        assert not leaked(path.read_bytes()), f"secret in a child's {path.name}"


def _login_and_push(rec: Recorder, reg: RegistryServer) -> None:
    rec.cli("login ok", "login", reg.host, "-u", USER, "--password-stdin",
            stdin=SECRET.encode() + b"\n")  # fmt: skip
    rec.cli("login wrong password", "login", reg.host, "-u", USER, "--password-stdin",
            stdin=b"wrong-" + SECRET.encode()[::-1] + b"\n")  # fmt: skip
    rec.cli("login json", "login", reg.host, "-u", USER, "--password-stdin", "--json",
            stdin=SECRET.encode() + b"\n")  # fmt: skip
    denied = "denied: requested access to the resource is denied"
    rec.cli("push denied", "push", "--engine", "docker", f"{reg.host}/team/app:1",
            SHIM_EXIT="1", SHIM_STDERR=denied)  # fmt: skip
    rec.cli("doctor online", "doctor", "--online")
    rec.cli("doctor online json", "doctor", "--online", "--json")
    rec.cli("logout", "logout", reg.host)


def test_migrate_removes_plaintext_and_leaks_only_into_backups(
    rec: Recorder, tmp_path: Path
) -> None:
    """A plaintext docker login is imported; afterwards the only plaintext copy left is the
    0600 backup of Docker's config.json made before the change."""
    ch = rec.ch
    auth = base64.b64encode(f"{USER}:{MIGRATED_SECRET}".encode()).decode()
    config = ch.docker_config / "config.json"
    config.write_text(json.dumps({"auths": {"old.example:5000": {"auth": auth}}}))
    config.chmod(0o600)
    rec.cli("install migrates", "install")
    rec.cli("migrate again", "migrate")
    rec.cli("doctor", "doctor", "--json")
    outputs = [label for label, blob in rec.outputs if leaked(blob, MIGRATED_SECRET)]
    assert not outputs, f"migrated secret in output of {outputs}"
    assert not leaked(config.read_bytes(), MIGRATED_SECRET), "config.json still has the login"
    files = _scan_files(tmp_path, MIGRATED_SECRET, skip=(".bak-",))
    assert not files, "migrated secret in files:\n" + "\n".join(files)
    for backup in ch.docker_config.glob("*.bak-*"):
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600, f"backup {backup.name} not 0600"
    got = subprocess.run(
        [HELPER, "get"], input=b"old.example:5000", capture_output=True, env=rec.env, timeout=60
    )
    assert json.loads(got.stdout)["Secret"] == MIGRATED_SECRET, "migrate did not import"


def test_core_dumps_are_disabled_in_both_executables(ch: Env, tmp_path: Path) -> None:
    """RLIMIT_CORE is 0 inside the helper and the CLI even when the parent allows cores.

    Checked by reading /proc/<pid>/limits of a helper blocked on stdin.
    """
    import resource

    def allow_cores() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    for argv in ([HELPER, "store"], [CLI, "login", "x.example", "-u", "u", "--password-stdin"]):
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=ch.env, preexec_fn=allow_cores,
        )  # fmt: skip
        try:
            limits = ""
            for _ in range(2000):  # bounded poll until main() has set its limits
                limits = Path(f"/proc/{proc.pid}/limits").read_text()
                core = next(line for line in limits.splitlines() if "core file" in line)
                if core.split()[4:6] == ["0", "0"]:
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.01)
            core = next(line for line in limits.splitlines() if "core file" in line)
            assert core.split()[4:6] == ["0", "0"], f"{argv[-1]}: {core}"
        finally:
            proc.kill()
            proc.communicate(timeout=30)
