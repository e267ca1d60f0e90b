"""The vault provider's minimal HTTP/1.1 client: one request within one deadline.

On the `get` hot path, so standard library only: the C module `_socket` for
http:// (no `socket.py`, no enum classes), `socket` + ssl (tls.py) for https://.
Connect, TLS handshake, send and receive share the deadline the caller passes
(transit.py gives every request of one command the same one, so a 403 that
needs a second call gets no new time); the response is bounded (1 MiB) and parsed for a
status and a JSON object. The token goes into one header and into nothing else.
"""

from __future__ import annotations

import time

from credhelper import fastjson as json  # json.loads/json.dumps without importing json
from credhelper.errors import KeyProblem
from credhelper.keys.vault import settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy only: `typing` costs milliseconds at start-up
    from typing import Any

_RESPONSE_LIMIT = 1 << 20


def deadline() -> float:
    """A new deadline: CREDHELPER_VAULT_TIMEOUT from now (time.monotonic)."""
    return time.monotonic() + settings.timeout()


class VaultError(KeyProblem):
    """The server could not be used: unreachable, sealed, token or policy refused."""


def oneline(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).replace("*", " ").split())
    flat = "".join(c if " " <= c <= "~" else "?" for c in flat)
    return flat[:limit]


def request(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    token: str,
    endpoint: settings.Endpoint,
    until: float,
) -> tuple[int, dict[str, Any]]:
    """One HTTP exchange with the server, done by `until` (monotonic): (status, JSON)."""
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
    status, reply = _parse(_exchange(endpoint, raw, until), endpoint)
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


def _resolve(host: str, port: int, timeout: float) -> list[Any]:
    """getaddrinfo within `timeout` (a name lookup is not bound by socket timeouts).

    IP literals need no lookup; a name is looked up on a bare `_thread` (no
    threading.py) that is left behind if the resolver hangs past the deadline.
    """
    import _socket

    # bytes: a str host would import the idna codec (and unicodedata) to encode it.
    name = host.encode("ascii")
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
        except OSError:
            continue
        return list(_socket.getaddrinfo(name, port, family, _socket.SOCK_STREAM))
    import _thread

    done = _thread.allocate_lock()
    done.acquire()
    box: list[Any] = []

    def lookup() -> None:
        try:
            box.append(_socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM))
        except OSError as err:
            box.append(err)
        finally:
            done.release()

    _thread.start_new_thread(lookup, ())
    if not done.acquire(timeout=timeout):
        raise TimeoutError
    if isinstance(box[0], OSError):
        raise box[0]
    return list(box[0])


def _connect(endpoint: settings.Endpoint, deadline: float) -> Any:
    """A connected TCP socket; plain http uses the C module `_socket` directly, which
    spares the hot path `socket.py` and the `enum` classes it builds (ssl needs it)."""
    if endpoint.tls:
        import socket as module
    else:
        import _socket as module  # type: ignore[no-redef]
    last: OSError | None = None
    for family, kind, proto, _name, address in _resolve(
        endpoint.host, endpoint.port, _remaining(deadline, endpoint)
    ):
        sock = module.socket(family, kind, proto)
        try:
            sock.settimeout(_remaining(deadline, endpoint))
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
        sock = _connect(endpoint, deadline)
    except TimeoutError:
        raise _late(endpoint) from None
    except OSError as err:
        raise VaultError(
            f"credhelper: Vault/OpenBao at {endpoint.url} is unreachable "
            f"({oneline(err.strerror or type(err).__name__)}); check VAULT_ADDR and that the "
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
            f"({oneline(err.strerror or str(err) or type(err).__name__)}); run: credhelper doctor"
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
