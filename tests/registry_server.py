"""Real Debian `docker-registry` servers on 127.0.0.1 for tests, with a test CA and token server.

API (stable; other test modules import it with `from tests.registry_server import ...`):

    with start_registry(tmp_path, auth="htpasswd", tls=True,
                        users={"alice": "pw"}) as reg:
        reg.host      # "127.0.0.1:PORT"  (the server key docker/credhelper use)
        reg.url       # "https://127.0.0.1:PORT" (or http://)
        reg.ca_file   # Path of the test CA certificate (None when tls=False)
        reg.certs_d   # Path of a docker certs.d tree: certs_d/<host>/ca.crt
                      # (point CREDHELPER_CERTS_D at it; None when tls=False)
        reg.users     # {"alice": "pw"}
        reg.token     # the TokenServer (auth="token"), else None
        reg.client_env(env)  # env + CREDHELPER_CERTS_D=reg.certs_d (for subprocesses)
        reg.get("/v2/_catalog", user="alice")     # requests.Response, auth handled
        reg.catalog(), reg.tags(repo), reg.manifest_digest(repo, ref)

  auth: "none" | "htpasswd" (bcrypt, made by `htpasswd -iB` reading the password on
  stdin) | "token" (a TokenServer on 127.0.0.1 issuing ES256 JWTs whose signing
  certificate chains to the CA named in the registry's `auth.token.rootcertbundle`,
  so the registry really verifies them). The token server serves docker's two
  flows: GET with Basic auth (returns a refresh_token when `offline_token=true`
  and `reg.token.issue_refresh_tokens` is set) and the OAuth2 POST
  (grant_type=password|refresh_token). Set `reg.token.fail = True` to make it answer
  500, to test a broken token server; users in `reg.token.read_only` get pull only.
  `reg.token.expires_in` (default 300) is the access token's stated lifetime, and
  `reg.token.refresh_expires_in` (default None: not sent) a refresh token's.
  users=None gives DEFAULT_USERS. client_certs=True (with tls) makes the registry
  require a client certificate from the test CA, and puts docker's
  `client.cert`/`client.key` pair next to `ca.crt` in certs_d/<host>/.
  Every server is stopped when the context exits.

Fixtures: `registry_htpasswd_tls`, `registry_token_tls`, `registry_http` (plain
HTTP + htpasswd). A test module gets them with `pytest_plugins = ["tests.registry_server"]`
(and may still import names from here: PYTEST_DONT_REWRITE keeps pytest from warning
that the module was imported before it became a plugin).
`make_oci_layout(path)` builds a tiny OCI image layout for `skopeo copy oci:PATH ...`.
Skips (via require_tool) when docker-registry or htpasswd is missing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import os
import secrets
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import require_tool

DEFAULT_USERS = {"alice": "alice-Pw-7f3c9e", "bob": "bob-Pw-51ad20"}
TOKEN_SERVICE = "credhelper-test-registry"
TOKEN_ISSUER = "credhelper-test-token-issuer"
STARTUP_TIMEOUT = 20.0

# ---------------------------------------------------------------- certificates


@dataclass
class TestPKI:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a JWT signer."""

    __test__ = False  # not a pytest test class

    dir: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    signer_cert_file: Path
    signer_key: ec.EllipticCurvePrivateKey
    signer_cert_der: bytes
    client_cert_file: Path
    client_key_file: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def make_pki(directory: Path) -> TestPKI:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("credhelper test CA"))
        .issuer_name(_name("credhelper test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, server: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.DNSName("localhost"),
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf("127.0.0.1", server=True)
    signer_key, signer_cert = leaf("credhelper test token signer", server=False)
    client_key, client_cert = leaf("credhelper test client", server=False)
    pem = serialization.Encoding.PEM
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file = directory / "server.crt"
    cert_file.write_bytes(server_cert.public_bytes(pem))
    key_file = directory / "server.key"
    _write_private(
        key_file,
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    client_cert_file = directory / "client.cert"
    client_cert_file.write_bytes(client_cert.public_bytes(pem))
    client_key_file = directory / "client.key"
    _write_private(
        client_key_file,
        client_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    signer_cert_file = directory / "token-signer.crt"
    signer_cert_file.write_bytes(signer_cert.public_bytes(pem))
    return TestPKI(
        dir=directory,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        signer_cert_file=signer_cert_file,
        signer_key=signer_key,
        signer_cert_der=signer_cert.public_bytes(serialization.Encoding.DER),
        client_cert_file=client_cert_file,
        client_key_file=client_key_file,
    )


# ---------------------------------------------------------------- token server


class TokenServer:
    """A docker token-auth server (distribution's token spec) on 127.0.0.1.

    Grants every authenticated user the actions it asks for; anonymous requests
    get a token with no access (so the registry answers 401/insufficient_scope).
    """

    def __init__(
        self, users: dict[str, str], pki: TestPKI | None, *, tls: bool, service: str
    ) -> None:
        self.users = users
        self.pki = pki
        self.service = service
        self.fail = False
        self.issue_refresh_tokens = True
        self.expires_in = 300  # the access token's lifetime, as the spec's `expires_in`
        self.refresh_expires_in: int | None = None  # sent with a refresh token when set
        self.read_only: set[str] = set()  # users granted pull only (push is denied)
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.requests: list[dict[str, Any]] = []  # what was asked (never secrets)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; requests are recorded in .requests

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                """The request body, plain or chunked (Go clients send chunked forms)."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                data = b""
                for _chunk in range(10_000):
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()  # the blank line after the last chunk
                        break
                    data += self.rfile.read(size)
                    self.rfile.readline()  # CRLF after each chunk
                return data

            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(parsed.query)
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    try:
                        raw = base64.b64decode(header[6:]).decode()
                        name, _, password = raw.partition(":")
                    except (ValueError, UnicodeDecodeError):
                        name, password = "", ""
                    if server.users.get(name) != password or not name:
                        error = {"code": "UNAUTHORIZED", "message": "invalid username or password"}
                        self._reply(401, {"errors": [error]})
                        return
                    user = name
                offline = query.get("offline_token", ["false"])[0] == "true"
                self._issue(
                    user, query.get("scope", []), query.get("service", [""])[0], offline, "GET"
                )

            def do_POST(self) -> None:
                form = urllib.parse.parse_qs(self._body().decode())
                # containers/image sends service and scope in the query string
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                for name, values in query.items():
                    form.setdefault(name, values)
                grant = form.get("grant_type", [""])[0]
                user = None
                if grant == "password":
                    name = form.get("username", [""])[0]
                    if not name or server.users.get(name) != form.get("password", [""])[0]:
                        self._reply(401, {"error": "invalid_grant"})
                        return
                    user = name
                elif grant == "refresh_token":
                    user = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
                    if user is None:
                        self._reply(401, {"error": "invalid_grant"})
                        return
                else:
                    self._reply(400, {"error": "unsupported_grant_type"})
                    return
                scopes = [s for value in form.get("scope", []) for s in value.split(" ") if s]
                self._issue(user, scopes, form.get("service", [""])[0], True, "POST")

            def _issue(
                self, user: str | None, scopes: list[str], service: str, offline: bool, how: str
            ) -> None:
                with server._lock:
                    server.requests.append(
                        {"method": how, "user": user, "scopes": scopes, "service": service}
                    )
                if server.fail:
                    error = {"code": "UNKNOWN", "message": "token backend down"}
                    self._reply(500, {"errors": [error]})
                    return
                token = server.make_token(user, scopes)
                body: dict[str, Any] = {
                    "token": token,
                    "access_token": token,
                    "expires_in": server.expires_in,
                    "issued_at": datetime.datetime.now(datetime.UTC).isoformat(),
                }
                if user is not None and offline and server.issue_refresh_tokens:
                    refresh = "refresh-" + secrets.token_hex(16)
                    with server._lock:
                        server.refresh_tokens[refresh] = user
                    body["refresh_token"] = refresh
                    if server.refresh_expires_in is not None:
                        body["refresh_expires_in"] = server.refresh_expires_in
                self._reply(200, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            assert pki is not None
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(pki.cert_file, pki.key_file)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        port = self.httpd.server_address[1]
        self.realm = f"{'https' if tls else 'http'}://127.0.0.1:{port}/token"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def make_token(self, user: str | None, scopes: list[str]) -> str:
        import jwt

        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) >= 3 and user is not None:
                access.append(
                    {
                        "type": parts[0],
                        "name": ":".join(parts[1:-1]),
                        "actions": [
                            a
                            for a in parts[-1].split(",")
                            if a and (user not in self.read_only or a == "pull")
                        ],
                    }
                )
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": user or "",
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        assert self.pki is not None
        headers = {"x5c": [base64.b64encode(self.pki.signer_cert_der).decode()]}
        return jwt.encode(claims, self.pki.signer_key, algorithm="ES256", headers=headers)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)


# ---------------------------------------------------------------- registry


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _htpasswd_file(path: Path, users: dict[str, str]) -> None:
    htpasswd = require_tool("htpasswd")
    lines = []
    for name, password in users.items():
        # -i: the password comes from stdin, never from argv.
        proc = subprocess.run(
            [htpasswd, "-niB", "-C", "5", name],
            input=password,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        lines.append(proc.stdout.strip())
    path.write_text("\n".join(lines) + "\n")


@dataclass
class RegistryServer:
    host: str
    url: str
    ca_file: Path | None
    certs_d: Path | None
    users: dict[str, str]
    auth: str
    root: Path
    token: TokenServer | None = None
    client_cert: tuple[str, str] | None = None  # (cert, key) when the registry demands one
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    pki: TestPKI | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def tls(self) -> bool:
        return self.url.startswith("https://")

    @property
    def log_file(self) -> Path:
        return self.root / "registry.log"

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` plus CREDHELPER_CERTS_D pointing at this registry's CA (when TLS)."""
        out = dict(env)
        if self.certs_d is not None:
            out["CREDHELPER_CERTS_D"] = str(self.certs_d)
        return out

    def _verify(self) -> str | bool:
        return str(self.ca_file) if self.ca_file is not None else True

    def _bearer(self, user: str | None, scope: str) -> str:
        assert self.token is not None
        auth = (user, self.users[user]) if user else None
        resp = requests.get(
            self.token.realm,
            params={"service": TOKEN_SERVICE, "scope": scope},
            auth=auth,
            verify=self._verify(),
            timeout=15,
        )
        resp.raise_for_status()
        return str(resp.json()["token"])

    def get(
        self,
        path: str,
        *,
        user: str | None = "default",
        scope: str = "registry:catalog:*",
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """GET `path` on the registry as `user` ("default": the first user; None: anonymous)."""
        if user == "default":
            user = next(iter(self.users), None)
        hdrs = dict(headers or {})
        auth = None
        if user is not None and self.auth == "htpasswd":
            auth = (user, self.users[user])
        elif self.auth == "token":
            hdrs["Authorization"] = "Bearer " + self._bearer(user, scope)
        return requests.get(
            self.url + path,
            auth=auth,
            headers=hdrs,
            verify=self._verify(),
            cert=self.client_cert,
            timeout=15,
        )

    def catalog(self) -> list[str]:
        resp = self.get("/v2/_catalog")
        resp.raise_for_status()
        return list(resp.json().get("repositories") or [])

    def tags(self, repo: str) -> list[str]:
        resp = self.get(f"/v2/{repo}/tags/list", scope=f"repository:{repo}:pull")
        if resp.status_code == 404:
            return []
        resp.raise_for_status()
        return list(resp.json().get("tags") or [])

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        accept = ", ".join(
            [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            ]
        )
        resp = self.get(
            f"/v2/{repo}/manifests/{ref}",
            scope=f"repository:{repo}:pull",
            headers={"Accept": accept},
        )
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(resp.content).hexdigest()
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.token is not None:
            self.token.stop()
            self.token = None


def _config(
    root: Path,
    port: int,
    *,
    auth: str,
    pki: TestPKI | None,
    tls: bool,
    token: TokenServer | None,
    client_certs: bool = False,
) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if tls:
        assert pki is not None
        lines += ["  tls:", f"    certificate: {pki.cert_file}", f"    key: {pki.key_file}"]
        if client_certs:
            # Go then requires and verifies a client certificate from this CA.
            lines += ["    clientcas:", f"      - {pki.ca_file}"]
    if auth == "htpasswd":
        lines += [
            "auth:",
            "  htpasswd:",
            "    realm: credhelper-test",
            f"    path: {root / 'htpasswd'}",
        ]
    elif auth == "token":
        assert token is not None and pki is not None
        lines += [
            "auth:",
            "  token:",
            f"    realm: {token.realm}",
            f"    service: {TOKEN_SERVICE}",
            f"    issuer: {TOKEN_ISSUER}",
            f"    rootcertbundle: {pki.ca_file}",
        ]
    elif auth != "none":
        raise ValueError(f"unknown auth {auth!r}: none, htpasswd or token")
    return "\n".join(lines) + "\n"


def _wait_ready(server: RegistryServer, deadline: float) -> bool:
    """Poll GET /v2/ until the registry answers over HTTP (any status) or exits."""
    assert server.proc is not None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        try:
            requests.get(
                server.url + "/v2/", verify=server._verify(), cert=server.client_cert, timeout=2
            )
            return True
        except requests.RequestException:
            time.sleep(0.05)
    return False


def _start(
    root: Path, *, auth: str, tls: bool, users: dict[str, str], client_certs: bool = False
) -> RegistryServer:
    registry_bin = require_tool("docker-registry")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki = make_pki(root / "pki") if (tls or auth == "token") else None
    token: TokenServer | None = None
    if auth == "htpasswd":
        _htpasswd_file(root / "htpasswd", users)
    elif auth == "token":
        token = TokenServer(users, pki, tls=tls, service=TOKEN_SERVICE)
        token.start()
    last_log = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        host = f"127.0.0.1:{port}"
        certs_d = None
        if tls:
            assert pki is not None
            certs_d = root / "certs.d"
            (certs_d / host).mkdir(parents=True, exist_ok=True)
            (certs_d / host / "ca.crt").write_bytes(pki.ca_file.read_bytes())
            if client_certs:  # docker's names for a client certificate pair
                (certs_d / host / "client.cert").write_bytes(pki.client_cert_file.read_bytes())
                _write_private(certs_d / host / "client.key", pki.client_key_file.read_bytes())
        config = root / "config.yml"
        config.write_text(
            _config(root, port, auth=auth, pki=pki, tls=tls, token=token, client_certs=client_certs)
        )
        server = RegistryServer(
            host=host,
            url=f"{'https' if tls else 'http'}://{host}",
            ca_file=pki.ca_file if (tls and pki is not None) else None,
            certs_d=certs_d,
            users=dict(users),
            auth=auth,
            root=root,
            token=token,
            pki=pki,
        )
        if client_certs and pki is not None:
            server.client_cert = (str(pki.client_cert_file), str(pki.client_key_file))
        log = open(server.log_file, "ab")  # noqa: SIM115 - owned by the child process
        try:
            server.proc = subprocess.Popen(
                [registry_bin, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(root)},
            )
        finally:
            log.close()
        if _wait_ready(server, time.monotonic() + STARTUP_TIMEOUT):
            return server
        token_kept, server.token = server.token, None
        server.stop()
        server.token = token_kept
        last_log = server.log_file.read_text(errors="replace")[-2000:]
    if token is not None:
        token.stop()
    raise RuntimeError(f"docker-registry did not start; its log:\n{last_log}")


@contextlib.contextmanager
def start_registry(
    tmp_path: Path,
    *,
    auth: str = "htpasswd",
    tls: bool = True,
    users: dict[str, str] | None = None,
    client_certs: bool = False,
) -> Iterator[RegistryServer]:
    """Run docker-registry on 127.0.0.1:<free port> until the block exits."""
    root = Path(tmp_path) / f"registry-{secrets.token_hex(3)}"
    server = _start(
        root,
        auth=auth,
        tls=tls,
        users=dict(DEFAULT_USERS if users is None else users),
        client_certs=client_certs,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry_htpasswd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("reg"), auth="htpasswd", tls=True) as server:
        yield server


@pytest.fixture
def registry_token_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("reg"), auth="token", tls=True) as server:
        yield server


@pytest.fixture
def registry_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("reg"), auth="htpasswd", tls=False) as server:
        yield server


# ---------------------------------------------------------------- a tiny OCI image


@dataclass
class OciImage:
    path: Path  # the layout directory: use "oci:<path>" (or "oci:<path>:<tag>")
    tag: str
    manifest_digest: str
    manifest: bytes


def _blob(blobs: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}"


def make_oci_layout(path: Path, *, tag: str = "latest", content: bytes = b"hello\n") -> OciImage:
    """An OCI image layout at `path` with one tiny layer holding /hello.txt."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    raw_layer = tar_bytes.getvalue()
    layer = gzip.compress(raw_layer, mtime=0)
    layer_digest = _blob(blobs, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": [f"sha256:{hashlib.sha256(raw_layer).hexdigest()}"],
            },
            "config": {},
        }
    ).encode()
    config_digest = _blob(blobs, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    manifest_digest = _blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return OciImage(path=path, tag=tag, manifest_digest=manifest_digest, manifest=manifest)
