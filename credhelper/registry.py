"""The registry v2 login handshake over HTTPS (requests): proves credentials before storing.

Used by `login`, `push` (to diagnose a refused push) and `doctor --online` through
`verify_login`; never imported on the helper's hot path. Each way a login can fail
is its own CredhelperError subclass with a message that says what to do; no message
ever contains the secret.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import ssl
from typing import Any

import requests
import requests.adapters

from credhelper import netloc, redact, reference
from credhelper.errors import CredhelperError, ExitCode, UsageError

DEFAULT_CERTS_D = "/etc/docker/certs.d"
TOKEN_USERNAME = "<token>"  # noqa: S105 - docker's username for an identity (refresh) token
CLIENT_ID = "credhelper"
USER_AGENT = "credhelper (registry login check)"


class RegistryError(CredhelperError):
    """A login check that could not be completed or was refused."""

    exit_code = ExitCode.UNREACHABLE


class AuthRejected(RegistryError):
    """The registry (or its token server) refused these credentials."""

    exit_code = ExitCode.AUTH_REJECTED


class RegistryUnreachable(RegistryError):
    """No HTTP answer: DNS, connection refused, timeout."""


class TLSFailure(RegistryError):
    """The TLS handshake failed (untrusted CA, wrong name, client certificate...)."""

    def __init__(self, message: str, ca_file: str, untrusted: bool = False) -> None:
        super().__init__(message)
        self.ca_file = ca_file
        self.untrusted = untrusted  # the server speaks TLS; the handshake itself failed


class NotARegistry(RegistryError):
    """Something answered, but not a registry v2 API."""


class TokenServerError(RegistryError):
    """The registry sends clients to a token server that failed (not a refusal)."""


class InsecureRefused(RegistryError):
    """Plain HTTP to a registry that is not on loopback, without --insecure."""

    exit_code = ExitCode.USAGE


@dataclasses.dataclass(frozen=True)
class LoginResult:
    """What a successful handshake established, and what to store for it."""

    server: str  # the store key
    endpoint: str  # e.g. https://127.0.0.1:5000
    scheme: str  # "basic", "bearer" or "none" (the registry asks for no login)
    username: str  # what to store as Username (TOKEN_USERNAME for identity tokens)
    secret: str = dataclasses.field(repr=False)  # what to store as Secret
    identity_token: bool = False
    # Seconds the stored secret stays valid, when the token server says so (the
    # `refresh_expires_in` of a refresh token that is stored); None: not stated.
    expires_in: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "endpoint": self.endpoint,
            "auth": self.scheme,
            "username": self.username,
            "identityToken": self.identity_token,
        }


# ---------------------------------------------------------------- TLS


def certs_d_root(certs_dir: str | None = None) -> str:
    """Docker's per-registry certificate tree; $CREDHELPER_CERTS_D overrides it."""
    if certs_dir:
        return certs_dir
    return os.environ.get("CREDHELPER_CERTS_D") or DEFAULT_CERTS_D


def registry_certs_dir(host: str, certs_dir: str | None = None) -> str:
    return os.path.join(certs_d_root(certs_dir), host)


def tls_context(host: str, certs_dir: str | None = None) -> ssl.SSLContext:
    """System trust store plus docker's certs.d/<host>: *.crt are CAs, *.cert+*.key client pairs."""
    ctx = ssl.create_default_context()
    directory = registry_certs_dir(host, certs_dir)
    for ca in sorted(glob.glob(os.path.join(glob.escape(directory), "*.crt"))):
        try:
            ctx.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as err:
            raise TLSFailure(
                f"credhelper: cannot load CA certificate {ca}: {_short(err)}", ca
            ) from None
    for cert in sorted(glob.glob(os.path.join(glob.escape(directory), "*.cert"))):
        key = cert[: -len(".cert")] + ".key"
        if not os.path.exists(key):
            # docker refuses this too ("missing key ... for client certificate").
            raise TLSFailure(f"credhelper: client certificate {cert} has no key file {key}", cert)
        try:
            ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as err:
            raise TLSFailure(
                f"credhelper: cannot load client certificate {cert} / {key}: {_short(err)}", cert
            ) from None
    return ctx


class _ContextAdapter(requests.adapters.HTTPAdapter):
    """Make requests use our SSLContext (system CAs + certs.d) instead of certifi's bundle."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ctx
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # Trust comes from the SSLContext alone; do not add certifi's bundle.
        return None


def _short(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


def _innermost(err: BaseException) -> BaseException:
    """The root cause inside requests' and urllib3's wrappers."""
    seen: set[int] = set()
    current: BaseException = err
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError | ssl.SSLError):
            return current
        nxt: BaseException | None = getattr(current, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = next((a for a in current.args if isinstance(a, BaseException)), None)
        if nxt is None:
            nxt = current.__cause__ or current.__context__
        if nxt is None:
            break
        current = nxt
    return current


def _tls_reason(err: BaseException) -> str:
    inner = _innermost(err)
    if isinstance(inner, ssl.SSLCertVerificationError):
        return inner.verify_message or inner.reason or "certificate verify failed"
    if isinstance(inner, ssl.SSLError):
        return inner.reason or _short(inner)
    return _short(inner)


def _conn_reason(err: BaseException) -> str:
    inner = _innermost(err)
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    text = _short(inner)
    # urllib3 wraps socket errors as "<...>: Failed to establish a new connection: [Errno 111] ..."
    match = re.search(r"\[Errno -?\d+\] ([^')\"]+)", text)
    return match.group(1).strip() if match else text


# ---------------------------------------------------------------- challenges


_CHALLENGE = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """WWW-Authenticate → [(scheme lower-cased, {param: value})]."""
    out: list[tuple[str, dict[str, str]]] = []
    pos = 0
    scheme_re = re.compile(r"\s*,?\s*([A-Za-z][\w-]*)(?:\s+|$)")
    while pos < len(header):
        match = scheme_re.match(header, pos)
        if not match:
            break
        scheme = match.group(1).lower()
        pos = match.end()
        params: dict[str, str] = {}
        while True:
            pm = _CHALLENGE.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            pos = pm.end()
            sep = re.match(r"\s*,\s*", header[pos:])
            if not sep:
                break
            # a comma followed by a new scheme name (no '=') ends this challenge
            nxt = re.match(r"\s*,\s*[A-Za-z][\w-]*\s*=", header[pos:])
            if not nxt:
                break
            pos += sep.end()
        out.append((scheme, params))
    return out


def error_text(resp: requests.Response, secret: str = "", username: str = "") -> str:
    """The server's own error text (distribution's errors[], OAuth's error_description).

    Every form of the secret is masked before the text is shortened (credhelper.redact).
    """
    text = ""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            parts = []
            for item in errors[:3]:
                if isinstance(item, dict):
                    message = item.get("message") or item.get("code")
                    if message:
                        parts.append(str(message))
            text = "; ".join(parts)
        if not text:
            for field in ("error_description", "message", "details", "detail", "error"):
                if isinstance(body.get(field), str) and body[field]:
                    text = body[field]
                    break
    if not text:
        text = resp.text or ""
    # A server that echoes the password back: mask first, then shorten.
    text = redact.server_text(text, secret, username)
    status = f"HTTP {resp.status_code}"
    return f"{text} ({status})" if text else status


# ---------------------------------------------------------------- handshake


class _Client:
    def __init__(self, host: str, certs_dir: str | None, timeout: float) -> None:
        self.host = host
        self.certs_dir = certs_dir
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.mount("https://", _ContextAdapter(tls_context(host, certs_dir)))

    def ca_hint(self) -> str:
        return os.path.join(registry_certs_dir(self.host, self.certs_dir), "ca.crt")

    def tls_failure(self, url: str, err: BaseException, what: str) -> TLSFailure:
        ca = self.ca_hint()
        reason = _tls_reason(err)
        untrusted = isinstance(_innermost(err), ssl.SSLCertVerificationError)
        if reason.isupper():  # OpenSSL's codes: SSLV3_ALERT_BAD_CERTIFICATE
            reason = reason.lower().replace("_", " ")
        # The server's alert when it wants a client certificate (TLS 1.3 / 1.2).
        wants_client_cert = any(
            alert in reason.lower() for alert in ("certificate required", "bad certificate")
        )
        if wants_client_cert:
            directory = os.path.dirname(ca)
            fix = (
                "the registry demands a client certificate: put docker's client.cert and "
                f"client.key (signed by a CA the registry trusts) in {directory}"
            )
        elif not untrusted:
            fix = (
                "the server may not speak TLS on that port (plain HTTP is used only for "
                f"loopback registries or with --insecure); if it does, check {ca}"
            )
        elif os.path.exists(ca):
            fix = (
                f"the CA in {ca} does not vouch for it either; "
                "check that file and the server's certificate"
            )
        else:
            fix = (
                f"if the registry uses a private CA, put that CA certificate in {ca} "
                "(the directory docker uses; set CREDHELPER_CERTS_D to use another tree)"
            )
        return TLSFailure(
            f"credhelper: TLS failure talking to {what} {url}: {reason}; {fix}",
            ca,
            untrusted or wants_client_cert,
        )

    def get(self, url: str, what: str, **kw: Any) -> requests.Response:
        return self._request("GET", url, what, allow_redirects=True, **kw)

    def post(self, url: str, what: str, **kw: Any) -> requests.Response:
        # Token servers must not redirect a POST that carries credentials elsewhere.
        return self._request("POST", url, what, allow_redirects=False, **kw)

    def _request(self, method: str, url: str, what: str, **kw: Any) -> requests.Response:
        try:
            target: netloc.Authority | None = netloc.parse_url(url)[1]
        except UsageError:
            target = None
        if target is not None and target.is_loopback:
            # As Go's ProxyFromEnvironment: never via HTTP(S)_PROXY to loopback, where
            # plain HTTP would hand the Basic credentials to the proxy in clear text.
            kw["proxies"] = {"no_proxy": target.host}
        try:
            return self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.exceptions.SSLError as err:
            raise self.tls_failure(url, err, what) from None
        except requests.exceptions.Timeout:
            raise RegistryUnreachable(
                f"credhelper: {what} {url} did not answer within {self.timeout:g}s"
            ) from None
        except requests.exceptions.ConnectionError as err:
            raise RegistryUnreachable(
                f"credhelper: cannot reach {what} {url}: {_conn_reason(err)}"
            ) from None
        except requests.exceptions.RequestException as err:
            raise RegistryUnreachable(
                f"credhelper: request to {what} {url} failed: {type(err).__name__}"
            ) from None


def _basic(username: str, secret: str) -> tuple[bytes, bytes]:
    """Basic credentials as docker sends them: UTF-8 (requests alone would use Latin-1)."""
    return username.encode("utf-8"), secret.encode("utf-8")


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


def _ping(client: _Client, host: str, insecure: bool) -> tuple[str, requests.Response]:
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


def _token_endpoint_allowed(realm: str, insecure: bool) -> bool:
    """HTTPS, or plain HTTP to a parsed loopback host (or --insecure); never a malformed URL."""
    try:
        scheme, authority = netloc.parse_url(realm)
    except UsageError:
        return False
    if scheme == "https":
        return True
    return scheme == "http" and (insecure or authority.is_loopback)


def _fetch_token(
    client: _Client,
    challenge: dict[str, str],
    username: str,
    secret: str,
    insecure: bool,
) -> tuple[str, str | None, int | None]:
    """(bearer token, refresh token or None, the refresh token's lifetime or None)."""
    realm = challenge.get("realm", "")
    if not realm:
        raise NotARegistry(
            f"credhelper: {client.host} asks for a Bearer token but names no token server (realm)"
        )
    if not _token_endpoint_allowed(realm, insecure):
        raise TokenServerError(
            f"credhelper: {client.host} sends logins to {redact.server_text(realm)}, which is "
            "not an HTTPS URL "
            "credhelper accepts; refusing to send the password there (use --insecure if it "
            "is plain HTTP and you trust the network)"
        )
    service = challenge.get("service", "")
    scope = challenge.get("scope", "")
    what = "token server"
    if username == TOKEN_USERNAME:
        # An identity token is an OAuth2 refresh token (docker's fetchTokenWithOAuth).
        form = {
            "grant_type": "refresh_token",
            "refresh_token": secret,
            "service": service,
            "client_id": CLIENT_ID,
            "access_type": "offline",
        }
        if scope:
            form["scope"] = scope
        resp = client.post(realm, what, data=form)
    else:
        params = {"account": username, "client_id": CLIENT_ID, "offline_token": "true"}
        if service:
            params["service"] = service
        if scope:
            params["scope"] = scope
        resp = client.get(realm, what, params=params, auth=_basic(username, secret))
    if resp.status_code in (400, 401, 403) and (
        resp.status_code != 400 or "invalid_grant" in resp.text
    ):
        who = "the identity token" if username == TOKEN_USERNAME else f"user {username}"
        raise AuthRejected(
            f"credhelper: {client.host} refused the login of {who}: "
            f"{error_text(resp, secret, username)}"
        )
    if resp.status_code != 200:
        raise TokenServerError(
            f"credhelper: the token server of {client.host} ({redact.server_text(realm)}) failed: "
            f"{error_text(resp, secret, username)}"
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    token = None
    if isinstance(body, dict):
        token = body.get("token") or body.get("access_token")
    if not isinstance(token, str) or not token:
        raise TokenServerError(
            f"credhelper: the token server of {client.host} ({redact.server_text(realm)}) "
            "answered without a token"
        )
    refresh = body.get("refresh_token") if isinstance(body, dict) else None
    if not isinstance(refresh, str) or not refresh:
        return token, None, None
    # `expires_in` is the lifetime of the short access token (minutes), never of what
    # is stored; a refresh token's own lifetime comes as `refresh_expires_in`.
    lifetime = body.get("refresh_expires_in") if isinstance(body, dict) else None
    valid = type(lifetime) is int and 0 < lifetime <= 100 * 366 * 86400
    return token, refresh, lifetime if valid else None


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
    client = _Client(host, certs_dir, timeout)
    endpoint, resp = _ping(client, host, insecure)
    base = endpoint + "/v2/"
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
        token, refresh, lifetime = _fetch_token(
            client, schemes["bearer"], username, secret, insecure
        )
        check = client.get(base, "registry", headers={"Authorization": f"Bearer {token}"})
        if check.status_code != 200:
            raise AuthRejected(
                f"credhelper: {host} refused the token issued for {username}: "
                f"{error_text(check, secret, username)}"
            )
        if refresh is not None and username != TOKEN_USERNAME:
            # As docker does: keep the identity token instead of the password.
            return LoginResult(key, endpoint, "bearer", TOKEN_USERNAME, refresh, True, lifetime)
        return LoginResult(key, endpoint, "bearer", username, secret, username == TOKEN_USERNAME)
    if "basic" in schemes:
        if username == TOKEN_USERNAME:
            raise AuthRejected(
                f"credhelper: {host} uses Basic auth and cannot accept an identity token; "
                f"run: credhelper login {key}"
            )
        check = client.get(base, "registry", auth=_basic(username, secret))
        if check.status_code == 200:
            return LoginResult(key, endpoint, "basic", username, secret)
        if check.status_code in (401, 403):
            raise AuthRejected(
                f"credhelper: {host} rejected the credentials of {username}: "
                f"{error_text(check, secret, username)}"
            )
        raise NotARegistry(
            f"credhelper: {endpoint} answered HTTP {check.status_code} to a Basic login"
        )
    offered = resp.headers.get("WWW-Authenticate", "no WWW-Authenticate header")
    raise NotARegistry(
        f"credhelper: {endpoint} asks for a login scheme credhelper does not speak "
        f"({redact.server_text(offered, secret, username, 80)})"
    )
