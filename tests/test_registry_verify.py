"""registry.verify_login against real registries: each failure is its own error class."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from credhelper import registry
from tests.registry_server import RegistryServer, free_port

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e


def _certs(reg: RegistryServer) -> str:
    assert reg.certs_d is not None
    return str(reg.certs_d)


def test_basic_right_wrong_unknown(registry_htpasswd_tls: RegistryServer) -> None:
    reg = registry_htpasswd_tls
    ok = registry.verify_login(reg.host, "alice", reg.users["alice"], certs_dir=_certs(reg))
    assert (ok.scheme, ok.username, ok.endpoint) == ("basic", "alice", reg.url)
    assert ok.secret == reg.users["alice"] and not ok.identity_token
    assert reg.users["alice"] not in repr(ok)
    for user, password in (("alice", "not-her-password"), ("mallory", reg.users["alice"])):
        with pytest.raises(registry.AuthRejected) as info:
            registry.verify_login(reg.host, user, password, certs_dir=_certs(reg))
        # the registry's own text, the user, never the password
        assert "authentication required" in info.value.message
        assert user in info.value.message
        assert password not in info.value.message
        assert info.value.exit_code == 5


def test_tls_needs_the_registry_ca(registry_htpasswd_tls: RegistryServer, tmp_path: Path) -> None:
    reg = registry_htpasswd_tls
    empty = tmp_path / "empty-certs.d"
    empty.mkdir()
    with pytest.raises(registry.TLSFailure) as info:
        registry.verify_login(reg.host, "alice", reg.users["alice"], certs_dir=str(empty))
    expected_ca = str(empty / reg.host / "ca.crt")
    assert info.value.ca_file == expected_ca
    assert expected_ca in info.value.message
    assert "unable to get local issuer certificate" in info.value.message
    # Putting the CA exactly where the message said fixes it.
    (empty / reg.host).mkdir()
    assert reg.ca_file is not None
    (empty / reg.host / "ca.crt").write_bytes(reg.ca_file.read_bytes())
    assert (
        registry.verify_login(reg.host, "alice", reg.users["alice"], certs_dir=str(empty)).scheme
        == "basic"
    )


def test_token_flow_and_identity_token(registry_token_tls: RegistryServer) -> None:
    reg = registry_token_tls
    assert reg.token is not None
    result = registry.verify_login(reg.host, "alice", reg.users["alice"], certs_dir=_certs(reg))
    assert result.scheme == "bearer" and result.identity_token
    assert result.username == "<token>" and result.secret in reg.token.refresh_tokens
    first = reg.token.requests[0]
    assert first["method"] == "GET" and first["user"] == "alice"
    assert first["service"] == "credhelper-test-registry"
    # The stored identity token works on its own (OAuth2 refresh grant).
    again = registry.verify_login(reg.host, "<token>", result.secret, certs_dir=_certs(reg))
    assert again.username == "<token>" and again.secret == result.secret
    assert reg.token.requests[-1]["method"] == "POST"
    with pytest.raises(registry.AuthRejected):
        registry.verify_login(reg.host, "<token>", "refresh-bogus", certs_dir=_certs(reg))
    with pytest.raises(registry.AuthRejected, match="invalid username or password"):
        registry.verify_login(reg.host, "alice", "wrong-password", certs_dir=_certs(reg))
    # Without refresh tokens the password itself is what is stored.
    reg.token.issue_refresh_tokens = False
    plain = registry.verify_login(reg.host, "bob", reg.users["bob"], certs_dir=_certs(reg))
    assert (plain.username, plain.identity_token) == ("bob", False)


def test_token_server_failure_is_not_a_rejection(registry_token_tls: RegistryServer) -> None:
    reg = registry_token_tls
    assert reg.token is not None
    reg.token.fail = True
    with pytest.raises(registry.TokenServerError) as info:
        registry.verify_login(reg.host, "alice", reg.users["alice"], certs_dir=_certs(reg))
    assert "token server" in info.value.message and "token backend down" in info.value.message
    assert not isinstance(info.value, registry.AuthRejected)
    assert reg.users["alice"] not in info.value.message


def test_unreachable() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(registry.RegistryUnreachable, match="Connection refused"):
        registry.verify_login(f"127.0.0.1:{port}", "alice", "pw", timeout=5)


@pytest.fixture
def web_server() -> Iterator[str]:
    """A plain web server on 127.0.0.1 that is not a registry."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<html>not here</html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_not_a_registry(web_server: str) -> None:
    with pytest.raises(registry.NotARegistry, match=r"not a docker registry.*404"):
        registry.verify_login(web_server, "alice", "pw", timeout=5)


def test_plain_http_refused_off_loopback_without_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(registry.InsecureRefused) as info:
        registry.verify_login("http://registry.example.com:5000", "alice", "pw")
    assert "refusing plain HTTP to registry.example.com:5000" in info.value.message
    assert "--insecure" in info.value.message


def test_plain_http_allowed_on_loopback(registry_http: RegistryServer) -> None:
    reg = registry_http
    result = registry.verify_login(reg.host, "alice", reg.users["alice"], timeout=5)
    assert result.endpoint == reg.url and result.scheme == "basic"
    with pytest.raises(registry.AuthRejected):
        registry.verify_login(f"http://{reg.host}", "alice", "wrong", timeout=5)


def test_parse_challenges() -> None:
    parsed = registry.parse_challenges(
        'Bearer realm="https://auth.example/token",service="reg, inc",'
        'scope="repository:a/b:pull,push", Basic realm="x"'
    )
    assert parsed == [
        (
            "bearer",
            {
                "realm": "https://auth.example/token",
                "service": "reg, inc",
                "scope": "repository:a/b:pull,push",
            },
        ),
        ("basic", {"realm": "x"}),
    ]


def test_client_certificate_from_certs_d(tmp_path: Path) -> None:
    from tests.registry_server import start_registry

    with start_registry(tmp_path, auth="htpasswd", tls=True, client_certs=True) as reg:
        assert reg.certs_d is not None and reg.ca_file is not None
        password = reg.users["alice"]
        ok = registry.verify_login(reg.host, "alice", password, certs_dir=str(reg.certs_d))
        assert ok.scheme == "basic"
        # the same CA but no client.cert/client.key: the TLS handshake is refused
        bare = tmp_path / "bare" / reg.host
        bare.mkdir(parents=True)
        (bare / "ca.crt").write_bytes(reg.ca_file.read_bytes())
        with pytest.raises(registry.RegistryError) as info:
            registry.verify_login(reg.host, "alice", password, certs_dir=str(bare.parent))
        assert isinstance(info.value, registry.TLSFailure)
        assert "client certificate" in info.value.message
        assert str(bare) in info.value.message
        # a .cert without its .key is refused the way docker refuses it
        (bare / "client.cert").write_bytes(b"")
        with pytest.raises(registry.TLSFailure, match="has no key file"):
            registry.verify_login(reg.host, "alice", password, certs_dir=str(bare.parent))
