"""HTTPS to a registry as docker does it: certs.d trust, TLS diagnosis, no proxy to loopback.

`Client` turns every transport failure into one RegistryError line that says
what to fix (a CA file, a client certificate, plain HTTP on a TLS port);
`error_text` is the server's own refusal text with every form of the secret
masked.
"""

from __future__ import annotations

import glob
import os
import re
import ssl
from typing import Any

import requests
import requests.adapters

from credhelper import netloc, redact
from credhelper.errors import UsageError
from credhelper.registry.errors import USER_AGENT, RegistryUnreachable, TLSFailure

DEFAULT_CERTS_D = "/etc/docker/certs.d"


def certs_d_root(certs_dir: str | None = None) -> str:
    """Docker's per-registry certificate tree; $CREDHELPER_CERTS_D overrides it."""
    if certs_dir:
        return certs_dir
    return os.environ.get("CREDHELPER_CERTS_D") or DEFAULT_CERTS_D


def registry_certs_dir(host: str, certs_dir: str | None = None) -> str:
    return os.path.join(certs_d_root(certs_dir), host)


def tls_context(host: str, certs_dir: str | None = None) -> ssl.SSLContext:
    """System trust store plus docker's certs.d/<host>: *.crt are CAs, *.cert+*.key client pairs."""
    try:
        ctx = ssl.create_default_context()
    except ssl.SSLError as err:  # OpenSSL itself is unusable (a bad OPENSSL_CONF)
        raise TLSFailure(
            f"credhelper: cannot set up TLS: {_short(err)}; check OPENSSL_CONF and the "
            "OpenSSL installation",
            "",
        ) from None
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


class Client:
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


def basic_auth(username: str, secret: str) -> tuple[bytes, bytes]:
    """Basic credentials as docker sends them: UTF-8 (requests alone would use Latin-1)."""
    return username.encode("utf-8"), secret.encode("utf-8")
