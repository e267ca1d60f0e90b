"""The admin side of the vault provider, through the official client (hvac).

Used by `credhelper rotate` and `credhelper doctor` (never by get/store/list):
server health, the token's own lookup and capabilities, reading and rotating
the transit key. Same settings as the hot path (settings.py); every failure is
one KeyProblem line, built here so that no hvac/requests text, which can quote
URLs and bodies, is shown as is, and never the token.

The requests session under hvac is credhelper's own: TLS through tls.context()
(the same CAs, VAULT_CAPATH read as Vault reads it, client certificate and
VAULT_TLS_SERVER_NAME as the hot path), never the system's CA bundle when a CA is
named, and no redirect is ever followed: requests would resend X-Vault-Token to
wherever a 3xx points, plain http:// included (`bao` refuses a downgrade).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from credhelper.errors import KeyProblem
from credhelper.keys.vault import settings
from credhelper.keys.vault.wire import oneline

T = TypeVar("T")


class AdminError(KeyProblem):
    """One admin call failed; `kind` says how (doctor branches on it)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Redirected(Exception):
    """The server answered a request with a redirect, which is never followed."""


def _session(endpoint: settings.Endpoint) -> Any:
    """A requests session that follows no redirect and verifies TLS with tls.context()."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.trust_env = False  # no proxy or netrc from the environment: only VAULT_*/BAO_*
    session.max_redirects = 0

    def refuse_redirect(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.is_redirect or 300 <= response.status_code < 400:
            response.close()
            raise Redirected

    session.hooks["response"].append(refuse_redirect)
    if endpoint.tls:
        from credhelper.keys.vault.tls import context

        ctx = context()
        name = settings.tls_options()["server_name"]

        class Adapter(HTTPAdapter):
            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                kwargs["ssl_context"] = ctx
                if name:
                    kwargs["server_hostname"] = name
                super().init_poolmanager(*args, **kwargs)

            def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
                # ctx holds the CAs and the client certificate; requests would add
                # its own CA bundle (or a capath it cannot read) to it.
                conn.cert_reqs = "CERT_REQUIRED"

        session.mount("https://", Adapter())
    return session


class Admin:
    """An hvac client for the server and token the environment names."""

    def __init__(self) -> None:
        import hvac

        self.endpoint = settings.endpoint()
        self.client = hvac.Client(
            url=self.endpoint.url,
            token=settings.token(),
            verify=True,
            timeout=settings.timeout(),
            namespace=settings.namespace(),
            session=_session(self.endpoint),
            allow_redirects=False,
        )

    def call(self, what: str, func: Callable[[], T]) -> T:
        """Run one hvac call; its failure becomes one line saying `what` failed and why."""
        import hvac.exceptions
        import requests

        try:
            return func()
        except hvac.exceptions.VaultDown:
            kind, cause = "sealed", "the server is sealed; unseal it (bao operator unseal)"
        except hvac.exceptions.Forbidden:
            kind = "forbidden"
            cause = f"permission denied for the token from {settings.token_source()}"
        except hvac.exceptions.InvalidPath:
            kind, cause = "missing", "no such path (is the engine mounted, does the key exist?)"
        except hvac.exceptions.VaultError as err:
            errors = getattr(err, "errors", None) or []
            first = oneline(errors[0]) if errors else type(err).__name__
            kind, cause = "refused", f"refused: {first}"
        except (Redirected, requests.exceptions.TooManyRedirects):
            kind = "redirect"
            cause = (
                "it answered with a redirect, which is never followed (the token would go "
                "with it); set VAULT_ADDR to the address it redirects to, if you trust it"
            )
        except requests.exceptions.SSLError:
            kind = "tls"
            cause = "its TLS certificate is not trusted; set VAULT_CACERT to its CA file"
        except requests.exceptions.Timeout:
            kind = "timeout"
            cause = f"no answer within {settings.timeout():g}s ({settings.TIMEOUT_ENV})"
        except requests.exceptions.ConnectionError:
            kind, cause = "unreachable", "unreachable; check VAULT_ADDR and that it is running"
        raise AdminError(f"credhelper: cannot {what} on {self.endpoint.url}: {cause}", kind)

    def health(self) -> dict[str, Any]:
        """sys/health, which answers even when sealed (never raises for a sealed server)."""
        import hvac.exceptions

        def read() -> dict[str, Any]:
            try:
                reply = self.client.sys.read_health_status(method="GET")
            except hvac.exceptions.VaultDown as err:  # 503 sealed
                return {"sealed": True, "detail": oneline(str(err))}
            return reply if isinstance(reply, dict) else reply.json()

        return self.call("read the server's health", read)

    def lookup_self(self) -> dict[str, Any]:
        reply = self.call("look up the token", self.client.auth.token.lookup_self)
        data: dict[str, Any] = dict(reply.get("data") or {})
        data.pop("id", None)  # the token itself: never kept, never shown
        return data

    def capabilities(self, paths: list[str]) -> dict[str, list[str]]:
        def read() -> Any:
            return self.client.adapter.post("/v1/sys/capabilities-self", json={"paths": paths})

        reply = self.call("read the token's capabilities", read)
        data = reply.get("data", reply) if isinstance(reply, dict) else {}
        return {path: list(data.get(path, [])) for path in paths}

    def read_key(self, mount: str, key: str) -> dict[str, Any]:
        def read() -> Any:
            return self.client.secrets.transit.read_key(name=key, mount_point=mount)

        reply = self.call(f"read the transit key {mount}/keys/{key}", read)
        data: dict[str, Any] = reply.get("data") or {}
        return data

    def rotate_key(self, mount: str, key: str) -> None:
        def rotate() -> Any:
            return self.client.secrets.transit.rotate_key(name=key, mount_point=mount)

        self.call(f"rotate the transit key {mount}/keys/{key}", rotate)


def wrapped_version(ciphertext: str) -> int:
    """N of a `vault:vN:...` ciphertext."""
    try:
        return int(ciphertext.split(":", 2)[1].removeprefix("v"))
    except (IndexError, ValueError):
        return 0
