"""The transit calls the vault key provider makes, over a minimal HTTP/1.1 client.

On the `get` hot path (one `transit/decrypt` per call), so it is built on the
standard library's socket (and ssl only for https) rather than requests/hvac,
and every call has one deadline for connect, TLS handshake, send and receive
(CREDHELPER_VAULT_TIMEOUT). Every failure is one KeyProblem line naming the
cause and the fix; the token is sent in a header and never appears in one.
"""

from __future__ import annotations

import time

from credhelper import fastjson as json  # json.loads/json.dumps without importing json
from credhelper import gob64
from credhelper.errors import KeyProblem
from credhelper.keys.vault import settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy only: `typing` (and `re`) cost milliseconds at start-up
    from typing import Any

_RESPONSE_LIMIT = 1 << 20
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def valid_name(name: object, limit: int = 128) -> bool:
    """A transit key name or one mount path segment: [A-Za-z0-9][A-Za-z0-9_.-]*."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= limit
        and name[0] not in "_.-"
        and set(name) <= _NAME_CHARS
    )


def valid_mount(mount: object) -> bool:
    if not isinstance(mount, str):
        return False
    parts = mount.split("/")
    return 0 < len(parts) <= 8 and all(valid_name(part, 64) for part in parts)


def valid_ciphertext(text: object) -> bool:
    """vault:vN:<standard base64>, N a positive version."""
    if not isinstance(text, str) or len(text) > 8192:
        return False
    parts = text.split(":", 2)
    if len(parts) != 3 or parts[0] != "vault" or not parts[1].startswith("v"):
        return False
    version, body = parts[1][1:], parts[2].rstrip("=")
    return (
        version.isdigit()
        and version.isascii()
        and version[0] != "0"
        and len(version) <= 10
        and len(parts[2]) - len(body) <= 2
        and bool(body)
        and set(body) <= _B64_CHARS
    )


class VaultError(KeyProblem):
    """The server could not be used: unreachable, sealed, token or policy refused."""


class Disallowed(VaultError):
    """The wrapped data key can never be unwrapped again (e.g. min_decryption_version)."""


def _oneline(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).replace("*", " ").split())
    flat = "".join(c if " " <= c <= "~" else "?" for c in flat)
    return flat[:limit]


class Transit:
    """The transit engine at `mount`, key `key`, on the server the environment names."""

    def __init__(self, mount: str, key: str) -> None:
        if not valid_mount(mount):
            raise KeyProblem(
                f"credhelper: {_oneline(repr(mount))} is not a valid transit mount path"
            )
        if not valid_name(key):
            raise KeyProblem(f"credhelper: {_oneline(repr(key))} is not a valid transit key name")
        self.mount = mount
        self.key = key
        self._endpoint: settings.Endpoint | None = None

    @property
    def endpoint(self) -> settings.Endpoint:
        if self._endpoint is None:
            self._endpoint = settings.endpoint()
        return self._endpoint

    def where(self) -> str:
        namespace = settings.namespace()
        inside = f" in namespace {namespace}" if namespace else ""
        return f"transit key {self.mount}/keys/{self.key}{inside}"

    # ------------------------------------------------------------ operations

    def decrypt(self, ciphertext: str) -> bytes:
        check_ciphertext(ciphertext)
        data = self._call(f"{self.mount}/decrypt/{self.key}", {"ciphertext": ciphertext})
        return _b64_field(data, "plaintext", self.where())

    def datakey(self) -> tuple[bytes, str]:
        """A new 256-bit data key: (plaintext, its wrapped form)."""
        data = self._call(f"{self.mount}/datakey/plaintext/{self.key}", {"bits": 256})
        plaintext = _b64_field(data, "plaintext", self.where())
        return plaintext, _ciphertext_field(data, self.where())

    def encrypt(self, plaintext: bytes) -> str:
        body = {"plaintext": gob64.encode(plaintext)}
        data = self._call(f"{self.mount}/encrypt/{self.key}", body)
        return _ciphertext_field(data, self.where())

    def rewrap(self, ciphertext: str) -> str:
        check_ciphertext(ciphertext)
        data = self._call(f"{self.mount}/rewrap/{self.key}", {"ciphertext": ciphertext})
        return _ciphertext_field(data, self.where())

    # ------------------------------------------------------------ plumbing

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = settings.token()
        status, reply = request("POST", path, body, token, self.endpoint)
        if status == 200 and isinstance(reply.get("data"), dict):
            data: dict[str, Any] = reply["data"]
            return data
        raise self._failure(path, status, reply, token)

    def _failure(self, path: str, status: int, reply: dict[str, Any], token: str) -> VaultError:
        url = self.endpoint.url
        errors = reply.get("errors")
        first = _oneline(errors[0]) if isinstance(errors, list) and errors else ""
        if status == 503 and "sealed" in first:
            return VaultError(
                f"credhelper: Vault/OpenBao at {url} is sealed; unseal it "
                "(bao operator unseal / vault operator unseal), then retry"
            )
        if status == 403:
            return self._refused(path, token)
        if status == 404:
            return VaultError(
                f"credhelper: no transit engine is mounted at {self.mount}/ on {url}; "
                f"enable it (bao secrets enable -path={self.mount} transit) or run: "
                "credhelper doctor"
            )
        if status == 400 and "disallowed by policy" in first:
            return Disallowed(
                f"credhelper: the store's data key was wrapped by a version of the "
                f"{self.where()} that {url} no longer accepts (min_decryption_version "
                f"was raised): {first}"
            )
        if status == 400 and "key not found" in first:
            return VaultError(
                f"credhelper: the {self.where()} does not exist on {url}; create it "
                f"(bao write -f {self.mount}/keys/{self.key}) or run: credhelper doctor"
            )
        return VaultError(
            f"credhelper: {url} refused {path} (HTTP {status}"
            + (f": {first}" if first else "")
            + "); run: credhelper doctor"
        )

    def _refused(self, path: str, token: str) -> VaultError:
        # 403 means a bad token or a missing policy; lookup-self (allowed by the
        # default policy) tells the two apart at the cost of a second call.
        status, _reply = request("GET", "auth/token/lookup-self", None, token, self.endpoint)
        source = settings.token_source()
        if status == 403:
            return VaultError(
                f"credhelper: the Vault/OpenBao token from {source} was refused (expired, "
                f"revoked or wrong); renew it: {settings.LOGIN_ADVICE}"
            )
        return VaultError(
            f"credhelper: the token from {source} may not use {path} on {self.endpoint.url} "
            f"(permission denied); grant it update on {path} (the README's runner policy "
            "covers decrypt and datakey), or run: credhelper doctor"
        )


def check_ciphertext(ciphertext: str) -> None:
    if not valid_ciphertext(ciphertext):
        raise KeyProblem(
            "credhelper: the store's wrapped data key is not a vault:vN: ciphertext; "
            "run: credhelper doctor"
        )


def _b64_field(data: dict[str, Any], name: str, where: str) -> bytes:
    value = data.get(name)
    try:
        return gob64.decode(value) if isinstance(value, str) else b""
    except ValueError:
        raise KeyProblem(f"credhelper: the {where} returned a malformed {name}") from None


def _ciphertext_field(data: dict[str, Any], where: str) -> str:
    value = data.get("ciphertext")
    if not isinstance(value, str) or not valid_ciphertext(value):
        raise KeyProblem(f"credhelper: the {where} returned a malformed ciphertext")
    return value


# ---------------------------------------------------------------- HTTP/1.1


def request(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    token: str,
    endpoint: settings.Endpoint,
) -> tuple[int, dict[str, Any]]:
    """One HTTP exchange with the server within the deadline: (status, JSON object)."""
    deadline = time.monotonic() + settings.timeout()
    payload = json.dumps(body).encode() if body is not None else b""
    host = endpoint.host if ":" not in endpoint.host else f"[{endpoint.host}]"
    lines = [
        f"{method} /v1/{path} HTTP/1.1",
        f"Host: {host}:{endpoint.port}",
        "User-Agent: credhelper",
        "Accept: application/json",
        "Connection: close",
        "X-Vault-Request: true",
        f"X-Vault-Token: {token}",
        f"Content-Length: {len(payload)}",
    ]
    if body is not None:
        lines.append("Content-Type: application/json")
    namespace = settings.namespace()
    if namespace:
        lines.append(f"X-Vault-Namespace: {namespace}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + payload
    status, reply = _parse(_exchange(endpoint, raw, deadline), endpoint)
    return status, reply


def _late(endpoint: settings.Endpoint) -> VaultError:
    return VaultError(
        f"credhelper: Vault/OpenBao at {endpoint.url} did not answer within "
        f"{settings.timeout():g}s ({settings.TIMEOUT_ENV}); check that it is up and reachable, "
        "or run: credhelper doctor"
    )


def _remaining(deadline: float, endpoint: settings.Endpoint) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _late(endpoint)
    return left


def _connect(endpoint: settings.Endpoint, timeout: float) -> Any:
    """A connected TCP socket; plain http uses the C module `_socket` directly, which
    spares the hot path `socket.py` and the `enum` classes it builds."""
    if endpoint.tls:
        import socket

        return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    import _socket

    last: OSError | None = None
    # bytes: a str host would import the idna codec (and unicodedata) to encode it.
    host = endpoint.host.encode("ascii")
    for family, kind, proto, _name, address in _socket.getaddrinfo(
        host, endpoint.port, 0, _socket.SOCK_STREAM
    ):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as err:
            sock.close()
            if isinstance(err, TimeoutError):
                raise
            last = err
    raise last or OSError("no address")


def _exchange(endpoint: settings.Endpoint, raw: bytes, deadline: float) -> bytes:
    try:
        sock = _connect(endpoint, _remaining(deadline, endpoint))
    except TimeoutError:
        raise _late(endpoint) from None
    except OSError as err:
        raise VaultError(
            f"credhelper: Vault/OpenBao at {endpoint.url} is unreachable "
            f"({_oneline(err.strerror or type(err).__name__)}); check VAULT_ADDR and that the "
            "server is running, or run: credhelper doctor"
        ) from None
    try:
        if endpoint.tls:
            from credhelper.keys.vault.tls import wrap

            sock = wrap(sock, endpoint, lambda: _remaining(deadline, endpoint))
        sock.settimeout(_remaining(deadline, endpoint))
        sock.sendall(raw)
        chunks: list[bytes] = []
        total = 0
        while total <= _RESPONSE_LIMIT:
            sock.settimeout(_remaining(deadline, endpoint))
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            total += len(data)
        return b"".join(chunks)
    except TimeoutError:
        raise _late(endpoint) from None
    except OSError as err:
        raise VaultError(
            f"credhelper: the connection to Vault/OpenBao at {endpoint.url} failed "
            f"({_oneline(err.strerror or str(err) or type(err).__name__)}); run: credhelper doctor"
        ) from None
    finally:
        sock.close()


def _parse(response: bytes, endpoint: settings.Endpoint) -> tuple[int, dict[str, Any]]:
    def bad(why: str) -> VaultError:
        return VaultError(
            f"credhelper: {endpoint.url} did not answer like Vault/OpenBao ({why}); "
            "check VAULT_ADDR, or run: credhelper doctor"
        )

    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep or len(response) > _RESPONSE_LIMIT:
        raise bad("no complete HTTP response" if not sep else "response too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise bad("not HTTP")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif headers.get("content-length", "").isdigit():
        body = body[: int(headers["content-length"])]
    if not body.strip():
        return int(parts[1]), {}
    try:
        reply = json.loads(body)
    except ValueError:
        raise bad(f"HTTP {parts[1]} with a body that is not JSON") from None
    return int(parts[1]), reply if isinstance(reply, dict) else {}


def _dechunk(body: bytes) -> bytes:
    out: list[bytes] = []
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            break
        if not sep or size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)
