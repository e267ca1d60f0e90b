"""What `get` says when Vault/OpenBao cannot be used: one line, exit 1, within the deadline.

Unreachable, stopped mid-use, paused (accepts but never answers), sealed, a wrong,
revoked or expired token, a token without the runner policy, TLS with and without
VAULT_CACERT. In every case the token never appears in the output. The deadline
is checked by the subprocess bound (CREDHELPER_VAULT_TIMEOUT is 1 second, the
bound 30): a hang fails the test, no timing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credhelper.errors import KeyProblem
from credhelper.keys.vault.settings import Endpoint
from tests.conftest import HELPER, require_tool
from tests.openbao_server import Host, OpenBao, make_host, openbao, private_openbao  # noqa: F401

NOT_FOUND = b"credentials not found in native keychain\n"
BOUND = 30


def get(host: Host, server: str = "reg.example", **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [HELPER, "get"],
        input=server.encode(),
        capture_output=True,
        env={**host.ch.env, "CREDHELPER_VAULT_TIMEOUT": "1", **env},
        timeout=BOUND,
        check=False,
    )


def assert_one_line_failure(
    proc: subprocess.CompletedProcess[bytes], *phrases: str, token: str = ""
) -> str:
    assert proc.returncode == 1, proc
    text = proc.stdout.decode()
    assert text.startswith("credhelper: ") and text.count("\n") == 1, text
    for phrase in phrases:
        assert phrase in text, text
    if token:
        assert token not in text and token not in proc.stderr.decode()
    return text


@pytest.fixture
def host(tmp_path: Path, openbao: OpenBao) -> Host:  # noqa: F811
    h = make_host(tmp_path / "host", openbao, openbao.new_key())
    h.ch.store_creds("reg.example", "alice", "pw")
    return h


def test_unreachable_server(host: Host) -> None:
    proc = get(host, VAULT_ADDR="http://127.0.0.1:9")
    assert_one_line_failure(proc, "unreachable", "VAULT_ADDR", token=host.token)


def test_server_stopped_mid_use(tmp_path: Path, private_openbao: OpenBao) -> None:  # noqa: F811
    h = make_host(tmp_path / "host", private_openbao, private_openbao.new_key())
    h.ch.store_creds("reg.example", "alice", "pw")
    assert get(h).returncode == 0
    private_openbao.stop()
    assert_one_line_failure(get(h), "unreachable", token=h.token)
    # Nothing was changed by the failed calls: the store still holds the login.
    assert "reg.example" in json.loads(h.ch.store.read_text())["auths"]


def test_paused_server_hits_the_deadline(tmp_path: Path, private_openbao: OpenBao) -> None:  # noqa: F811
    h = make_host(tmp_path / "host", private_openbao, private_openbao.new_key())
    h.ch.store_creds("reg.example", "alice", "pw")
    os.kill(private_openbao.proc.pid, signal.SIGSTOP)  # the kernel still accepts connections
    try:
        proc = get(h)
        assert_one_line_failure(
            proc, "did not answer within 1s", "CREDHELPER_VAULT_TIMEOUT", token=h.token
        )
        listed = subprocess.run(
            [HELPER, "list"],
            capture_output=True,
            env={**h.ch.env, "CREDHELPER_VAULT_TIMEOUT": "1"},
            timeout=BOUND,
            check=False,
        )
        assert listed.returncode == 1 and b"did not answer" in listed.stdout
    finally:
        os.kill(private_openbao.proc.pid, signal.SIGCONT)
    assert get(h).returncode == 0


def test_sealed_server(tmp_path: Path, private_openbao: OpenBao) -> None:  # noqa: F811
    h = make_host(tmp_path / "host", private_openbao, private_openbao.new_key())
    h.ch.store_creds("reg.example", "alice", "pw")
    private_openbao.api("PUT", "sys/seal")
    assert_one_line_failure(get(h), "is sealed", "unseal", token=h.token)


def test_wrong_token(host: Host) -> None:
    proc = get(host, VAULT_TOKEN="s.wrongwrongwrongwrongwrong")
    assert_one_line_failure(
        proc, "token from VAULT_TOKEN was refused", token="s.wrongwrongwrongwrongwrong"
    )


def test_revoked_token(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    openbao.api("POST", "auth/token/revoke", {"token": host.token})
    assert_one_line_failure(get(host), "was refused (expired, revoked or wrong)", token=host.token)


def test_expired_token(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    short = openbao.runner_token(host.key, ttl="2s")
    deadline = time.monotonic() + 30
    while openbao.status("auth/token/lookup-self", short) != 403:  # wait for it to expire
        assert time.monotonic() < deadline, "the 2s token never expired"
        time.sleep(0.2)
    assert_one_line_failure(get(host, VAULT_TOKEN=short), "was refused", token=short)


def test_token_without_the_runner_policy(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    other = openbao.new_key()
    token = openbao.runner_token(other)  # the policy of another key
    text = assert_one_line_failure(
        get(host, VAULT_TOKEN=token),
        "permission denied",
        f"transit/decrypt/{host.key}",
        token=token,
    )
    assert "README" in text


def test_token_with_newline_is_refused_without_echo(host: Host) -> None:
    proc = get(host, VAULT_TOKEN="s.abc\r\nX-Injected: 1")
    assert_one_line_failure(proc, "characters a token cannot have", token="X-Injected")


def test_bad_timeout_setting(host: Host) -> None:
    for value in ("0", "-1", "nan", "inf", "soon"):
        proc = get(host, CREDHELPER_VAULT_TIMEOUT=value)
        assert_one_line_failure(proc, "CREDHELPER_VAULT_TIMEOUT")


def test_bad_address(host: Host) -> None:
    for addr in (
        "ftp://vault",
        "http://",
        "http://h:99999",
        "http://user@h:1",
        "vault:8200",
        "http://h\x0bX-Injected:1",
        "http://bücher.example:8200",
    ):
        assert_one_line_failure(get(host, VAULT_ADDR=addr), "VAULT_ADDR")


def test_a_password_in_vault_addr_is_never_shown(host: Host) -> None:
    for addr in ("http://admin:hunter2@127.0.0.1:1", "http://admin:hunter2@h\x0b:1"):
        proc = get(host, VAULT_ADDR=addr)
        assert proc.returncode == 1 and b"hunter2" not in proc.stdout + proc.stderr
    doctor = host.ch.cli("doctor", "--json", env={**host.ch.env, "VAULT_ADDR": addr})
    assert "hunter2" not in doctor.stdout + doctor.stderr


def test_tls_with_vault_cacert(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    ok = get(host, VAULT_ADDR=openbao.tls_addr, VAULT_CACERT=str(openbao.ca_file))
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["Secret"] == "pw"
    # As for bao: every PEM file of VAULT_CAPATH is a CA, c_rehash links or not.
    capath = get(host, VAULT_ADDR=openbao.tls_addr, VAULT_CAPATH=str(openbao.ca_file.parent))
    assert capath.returncode == 0, capath.stdout
    empty = host.ch.root / "no-ca"
    empty.mkdir()
    (empty / "README").write_text("no certificate here\n")
    assert_one_line_failure(
        get(host, VAULT_ADDR=openbao.tls_addr, VAULT_CAPATH=str(empty)), "no PEM certificate"
    )
    hashed = host.ch.root / "ca-dir"
    hashed.mkdir()
    shutil.copy(openbao.ca_file, hashed / "ca.pem")
    subprocess.run([require_tool("openssl"), "rehash", str(hashed)], check=True, timeout=BOUND)
    assert get(host, VAULT_ADDR=openbao.tls_addr, VAULT_CAPATH=str(hashed)).returncode == 0
    untrusted = get(host, VAULT_ADDR=openbao.tls_addr)
    assert_one_line_failure(untrusted, "not trusted", "VAULT_CACERT", token=host.token)
    plain = get(host, VAULT_ADDR=openbao.tls_addr.replace("https", "http"))
    assert plain.returncode == 1 and plain.stdout.startswith(b"credhelper: ")
    missing = get(host, VAULT_ADDR=openbao.tls_addr, VAULT_CACERT=str(host.ch.root / "nope.pem"))
    assert_one_line_failure(missing, "VAULT_CACERT")


def test_mutual_tls_with_vault_client_cert(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    tls = {"VAULT_ADDR": openbao.mtls_addr, "VAULT_CACERT": str(openbao.ca_file)}
    assert_one_line_failure(get(host, **tls), "Vault/OpenBao", token=host.token)  # no client cert
    both = {
        "VAULT_CLIENT_CERT": str(openbao.client_cert),
        "VAULT_CLIENT_KEY": str(openbao.client_key),
    }
    ok = get(host, **tls, **both)
    assert ok.returncode == 0, ok.stdout
    proc = get(host, **tls, VAULT_CLIENT_CERT=str(host.ch.root / "missing.crt"))
    assert_one_line_failure(proc, "VAULT_CLIENT_CERT")


def test_a_host_name_is_looked_up_within_the_deadline(host: Host, openbao: OpenBao) -> None:  # noqa: F811
    by_name = openbao.addr.replace("127.0.0.1", "localhost")
    assert get(host, VAULT_ADDR=by_name).returncode == 0
    unknown = get(host, VAULT_ADDR="http://no-such-host.invalid:8200")
    assert_one_line_failure(unknown, "unreachable", token=host.token)


def test_a_miss_needs_no_server(host: Host) -> None:
    proc = get(host, "unknown.example", VAULT_ADDR="http://127.0.0.1:9")
    assert proc.returncode == 1 and proc.stdout == NOT_FOUND


@given(st.text(max_size=60))
def test_any_vault_addr_parses_safely_or_is_one_line(text: str) -> None:
    """Whatever VAULT_ADDR holds, nothing unsafe reaches the request's Host header."""
    for url in (text, "http://" + text, "https://" + text):
        try:
            endpoint = Endpoint(url)
        except KeyProblem as err:
            assert err.message.startswith("credhelper: ") and "\n" not in err.message
            continue
        assert endpoint.host and all(c.isalnum() or c in ".-_:%" for c in endpoint.host)
        assert endpoint.host.isascii() and 0 < endpoint.port < 65536


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("https://vault.example.com", "vault.example.com", 443, True),
        ("http://127.0.0.1:8200/", "127.0.0.1", 8200, False),
        ("https://[::1]:8201", "::1", 8201, True),
    ],
)
def test_vault_addr_forms(url: str, host: str, port: int, tls: bool) -> None:
    endpoint = Endpoint(url)
    assert (endpoint.host, endpoint.port, endpoint.tls) == (host, port, tls)


def wait_for_socket(pid: int) -> None:
    """Until process `pid` holds a socket (it is talking to the server), bounded."""
    deadline = time.monotonic() + BOUND
    while True:
        fds = Path(f"/proc/{pid}/fd")
        try:
            if any(os.readlink(fd).startswith("socket:") for fd in fds.iterdir()):
                return
        except OSError:
            pass  # an fd closed while we looked: look again
        assert time.monotonic() < deadline, "the helper never connected"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL])
def test_signal_while_waiting_for_the_server_changes_nothing(
    tmp_path: Path,
    private_openbao: OpenBao,  # noqa: F811
    sig: signal.Signals,
) -> None:
    h = make_host(tmp_path / "host", private_openbao, private_openbao.new_key())
    h.ch.store_creds("reg.example", "alice", "pw")
    before = h.ch.store.read_bytes()
    env = {**h.ch.env, "CREDHELPER_VAULT_TIMEOUT": "60"}
    os.kill(private_openbao.proc.pid, signal.SIGSTOP)
    try:
        body = b'{"ServerURL":"other.example","Username":"u","Secret":"p"}'
        procs = [
            subprocess.Popen(
                [HELPER, action],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for action in ("get", "store")
        ]
        for proc, stdin in zip(procs, (b"reg.example", body), strict=True):
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
            proc.stdin = None  # communicate() below must not touch it again
        for proc in procs:  # both are waiting on the paused server
            wait_for_socket(proc.pid)
        for proc in procs:
            proc.send_signal(sig)
        for proc in procs:
            out, err = proc.communicate(timeout=BOUND)
            assert proc.returncode != 0
            assert b"Traceback" not in err and b"pw" not in out
    finally:
        os.kill(private_openbao.proc.pid, signal.SIGCONT)
    assert h.ch.store.read_bytes() == before
    assert [p.name for p in h.ch.home.iterdir() if ".tmp" in p.name] == []
    assert get(h).returncode == 0
