"""The registry v2 login handshake over HTTPS (requests): proves credentials before storing.

Used by `login`, `push` (to diagnose a refused push) and `doctor --online` through
`verify_login`; never imported on the helper's hot path. The parts: `errors`
(the result and each way a login fails), `client` (TLS and HTTP as docker does
them), `token` (challenges and the token server); this module is the handshake
and re-exports the names callers use.
"""

from __future__ import annotations

import requests

from credhelper import netloc, redact, reference
from credhelper.dockernames import TOKEN_USERNAME
from credhelper.errors import CredhelperError
from credhelper.registry.client import (
    Client,
    basic_auth,
    certs_d_root,
    error_text,
    registry_certs_dir,
    tls_context,
)
from credhelper.registry.errors import (
    AuthRejected,
    InsecureRefused,
    LoginResult,
    NotARegistry,
    RegistryError,
    RegistryUnreachable,
    TLSFailure,
    TokenServerError,
)
from credhelper.registry.token import fetch_token, parse_challenges

__all__ = [
    "TOKEN_USERNAME",
    "AuthRejected",
    "InsecureRefused",
    "LoginResult",
    "NotARegistry",
    "RegistryError",
    "RegistryUnreachable",
    "TLSFailure",
    "TokenServerError",
    "certs_d_root",
    "error_text",
    "parse_challenges",
    "registry_certs_dir",
    "serves_plain_http",
    "tls_context",
    "verify_login",
]


def _looks_like_registry(resp: requests.Response) -> bool:
    if resp.headers.get("Docker-Distribution-API-Version", "").startswith("registry/2"):
        return True
    if resp.status_code == 401 and resp.headers.get("WWW-Authenticate"):
        return True
    return resp.status_code == 200 and "json" in resp.headers.get("Content-Type", "")


def _https_only_answer(resp: requests.Response) -> bool:
    """Go's and nginx's reply to plain HTTP on a TLS port."""
    text = resp.text[:300].lower() if resp.status_code == 400 else ""
    return "http request to an https server" in text or "plain http request was sent" in text


def _ping(client: Client, host: str, insecure: bool) -> tuple[str, requests.Response]:
    """GET /v2/ over HTTPS; over plain HTTP only where docker would allow it."""
    parsed = netloc.parse_server(host)  # the host every request below goes to
    https = f"https://{parsed.url_netloc}"
    allow_http = insecure or parsed.is_loopback
    try:
        resp = client.get(https + "/v2/", "registry")
    except (TLSFailure, RegistryUnreachable) as first:
        if not allow_http:
            raise
        # docker falls back to HTTP for insecure registries (loopback by default).
        try:
            plain = client.get(f"http://{parsed.url_netloc}/v2/", "registry")
        except RegistryError:
            raise first from None
        speaks_tls = isinstance(first, TLSFailure) and (
            first.untrusted or _https_only_answer(plain)
        )
        if not _looks_like_registry(plain) and speaks_tls:
            raise first from None  # a TLS server answering 400 to plain HTTP
        return f"http://{parsed.url_netloc}", plain
    return https, resp


# OpenSSL's reasons when the peer's first bytes are not TLS at all (an HTTP reply).
_NOT_TLS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL")


def _speaks_tls(parsed: netloc.Authority, timeout: float) -> bool:
    """Whether the port answers a TLS handshake at all, whatever its certificate.

    Only a reply that is plainly not TLS counts as "no"; an alert, a close or a
    timeout count as "yes", so a doubt never turns TLS off.
    """
    import socket
    import ssl

    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # any certificate at all means the port speaks TLS
        sock = socket.create_connection((parsed.host, parsed.port or 443), timeout)
        with sock, context.wrap_socket(sock, server_hostname=None):
            return True
    except ssl.SSLError as err:
        return not any(reason in str(err.reason or err).upper() for reason in _NOT_TLS)
    except OSError:
        return True


def serves_plain_http(host: str, timeout: float = 5.0) -> bool:
    """True if loopback `host` is a registry that answers plain HTTP only (for push).

    The same probe as a login check (HTTPS first), and then a bare TLS handshake:
    a port that also speaks TLS (a multiplexer such as sslh, a registry with a
    certificate we do not trust) is never called plain HTTP, as push would then
    turn certificate checks off. Never True for a host that is not loopback, or
    anything that does not answer as a registry.
    """
    if not reference.is_loopback(host):
        return False
    try:
        endpoint, resp = _ping(Client(host, None, timeout), host, insecure=False)
    except CredhelperError:
        return False
    if not (endpoint.startswith("http://") and _looks_like_registry(resp)):
        return False
    return not _speaks_tls(netloc.parse_server(host), timeout)


def verify_login(
    server: str,
    username: str,
    secret: str,
    *,
    insecure: bool = False,
    certs_dir: str | None = None,
    timeout: float = 15.0,
) -> LoginResult:
    """Prove `username`/`secret` against SERVER (a store key or host) with the v2 handshake.

    GET /v2/ → 401 + WWW-Authenticate → Basic: retry with the credentials; Bearer:
    get a token from the realm (service, scope, Basic auth; an identity token uses
    the OAuth2 refresh grant) and retry with it. Raises AuthRejected,
    RegistryUnreachable, TLSFailure, NotARegistry, TokenServerError or InsecureRefused.
    """
    key = reference.server_key(server)
    host = reference.api_host(key)
    if server.strip().lower().startswith("http://") and not (
        insecure or reference.is_loopback(host)
    ):
        raise InsecureRefused(
            f"credhelper: refusing plain HTTP to {host}: the password would cross the network "
            "unencrypted; use HTTPS (give the server without http://), or --insecure if you "
            "really mean it"
        )
    client = Client(host, certs_dir, timeout)
    endpoint, resp = _ping(client, host, insecure)
    login = _Login(client, key, endpoint, username, secret)
    if resp.status_code == 200:
        if not _looks_like_registry(resp):
            raise NotARegistry(
                f"credhelper: {endpoint} is not a docker registry (GET /v2/ gave HTTP 200 "
                "without the registry API header)"
            )
        return LoginResult(key, endpoint, "none", username, secret)
    if resp.status_code != 401:
        raise NotARegistry(
            f"credhelper: {endpoint} is not a docker registry (GET /v2/ answered "
            f"HTTP {resp.status_code}; expected 200 or 401)"
        )
    challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
    schemes = {scheme: params for scheme, params in reversed(challenges)}
    if "bearer" in schemes:
        return login.bearer(schemes["bearer"], insecure)
    if "basic" in schemes:
        return login.basic()
    offered = resp.headers.get("WWW-Authenticate", "no WWW-Authenticate header")
    raise NotARegistry(
        f"credhelper: {endpoint} asks for a login scheme credhelper does not speak "
        f"({redact.server_text(offered, secret, username, 80)})"
    )


class _Login:
    """The second leg of the handshake, once the registry named its auth scheme."""

    def __init__(self, client: Client, key: str, endpoint: str, username: str, secret: str) -> None:
        self.client = client
        self.key = key
        self.endpoint = endpoint
        self.base = endpoint + "/v2/"
        self.username = username
        self.secret = secret

    def bearer(self, challenge: dict[str, str], insecure: bool) -> LoginResult:
        username, secret, host = self.username, self.secret, self.client.host
        token, refresh, lifetime = fetch_token(self.client, challenge, username, secret, insecure)
        check = self.client.get(self.base, "registry", headers={"Authorization": f"Bearer {token}"})
        if check.status_code != 200:
            raise AuthRejected(
                f"credhelper: {host} refused the token issued for {username}: "
                f"{error_text(check, secret, username)}"
            )
        if refresh is not None and username != TOKEN_USERNAME:
            # As docker does: keep the identity token instead of the password.
            return LoginResult(
                self.key, self.endpoint, "bearer", TOKEN_USERNAME, refresh, True, lifetime
            )
        identity = username == TOKEN_USERNAME
        return LoginResult(self.key, self.endpoint, "bearer", username, secret, identity)

    def basic(self) -> LoginResult:
        username, secret, host = self.username, self.secret, self.client.host
        if username == TOKEN_USERNAME:
            raise AuthRejected(
                f"credhelper: {host} uses Basic auth and cannot accept an identity token; "
                f"run: credhelper login {self.key}"
            )
        check = self.client.get(self.base, "registry", auth=basic_auth(username, secret))
        if check.status_code == 200:
            return LoginResult(self.key, self.endpoint, "basic", username, secret)
        if check.status_code in (401, 403):
            raise AuthRejected(
                f"credhelper: {host} rejected the credentials of {username}: "
                f"{error_text(check, secret, username)}"
            )
        raise NotARegistry(
            f"credhelper: {self.endpoint} answered HTTP {check.status_code} to a Basic login"
        )
