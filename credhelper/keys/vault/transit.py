"""The transit calls the vault key provider makes, over a minimal HTTP/1.1 client.

On the `get` hot path (one `transit/decrypt` per call), so it is built on the
minimal HTTP client of wire.py rather than requests/hvac. One Transit serves one
command, and all its requests share one deadline (CREDHELPER_VAULT_TIMEOUT from
the first): a slow server cannot stretch `get` by answering each call just in
time. Every failure is one KeyProblem line naming the cause and the fix; the
token is sent in a header and never appears in one.
"""

from __future__ import annotations

from credhelper import gob64
from credhelper.errors import KeyProblem
from credhelper.keys.vault import settings
from credhelper.keys.vault.wire import VaultError, deadline, oneline, request

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy only: `typing` costs milliseconds at start-up
    from typing import Any

DATA_KEY_BYTES = 32  # AES-256
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


class Disallowed(VaultError):
    """The wrapped data key can never be unwrapped again (e.g. min_decryption_version)."""


class Transit:
    """The transit engine at `mount`, key `key`, on the server the environment names."""

    def __init__(self, mount: str, key: str) -> None:
        if not valid_mount(mount):
            raise KeyProblem(
                f"credhelper: {oneline(repr(mount))} is not a valid transit mount path"
            )
        if not valid_name(key):
            raise KeyProblem(f"credhelper: {oneline(repr(key))} is not a valid transit key name")
        self.mount = mount
        self.key = key
        self._endpoint: settings.Endpoint | None = None
        self._until: float | None = None  # the deadline, from the first request

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
        """The data key `ciphertext` wraps (always 32 bytes, or a KeyProblem)."""
        check_ciphertext(ciphertext)
        data = self._call(f"{self.mount}/decrypt/{self.key}", {"ciphertext": ciphertext})
        return self._data_key(data, "unwrapped")

    def datakey(self) -> tuple[bytes, str]:
        """A new 256-bit data key: (plaintext, its wrapped form)."""
        data = self._call(f"{self.mount}/datakey/plaintext/{self.key}", {"bits": 256})
        plaintext = self._data_key(data, "made")
        return plaintext, _ciphertext_field(data, self.where())

    def _data_key(self, data: dict[str, Any], verb: str) -> bytes:
        # Every key that comes from the server is checked here: AES-256 needs 32
        # bytes, and a server (or whatever answers at the address) may send any.
        key = _b64_field(data, "plaintext", self.where())
        if len(key) != DATA_KEY_BYTES:
            raise KeyProblem(
                f"credhelper: the {self.where()} on {self.endpoint.url} {verb} a "
                f"{len(key)}-byte data key, not {DATA_KEY_BYTES}; check that the address "
                "is the right Vault/OpenBao server, or run: credhelper doctor"
            )
        return key

    def encrypt(self, plaintext: bytes) -> str:
        body = {"plaintext": gob64.encode(plaintext)}
        data = self._call(f"{self.mount}/encrypt/{self.key}", body)
        return _ciphertext_field(data, self.where())

    def rewrap(self, ciphertext: str, version: int | None = None) -> str:
        """`ciphertext` wrapped again, by key `version` (the latest if None)."""
        check_ciphertext(ciphertext)
        body: dict[str, Any] = {"ciphertext": ciphertext}
        if version is not None:
            body["key_version"] = version
        data = self._call(f"{self.mount}/rewrap/{self.key}", body)
        return _ciphertext_field(data, self.where())

    # ------------------------------------------------------------ plumbing

    def restart_deadline(self) -> None:
        """Give the next requests a new deadline (rotate, after its own admin calls)."""
        self._until = None

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, token: str
    ) -> tuple[int, dict[str, Any]]:
        if self._until is None:
            self._until = deadline()
        return request(method, path, body, token, self.endpoint, self._until)

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = settings.token()
        status, reply = self._request("POST", path, body, token)
        if status == 200 and isinstance(reply.get("data"), dict):
            data: dict[str, Any] = reply["data"]
            return data
        raise self._failure(path, status, reply, token)

    def _failure(self, path: str, status: int, reply: dict[str, Any], token: str) -> VaultError:
        url = self.endpoint.url
        errors = reply.get("errors")
        first = oneline(errors[0]) if isinstance(errors, list) and errors else ""
        if status == 503 and "sealed" in first:
            return VaultError(
                f"credhelper: Vault/OpenBao at {url} is sealed; unseal it "
                "(bao operator unseal / vault operator unseal), then retry"
            )
        if status == 403:
            return self._refused(path, token)
        if 300 <= status < 400:  # never followed: the token would go wherever it points
            return VaultError(
                f"credhelper: {url} answered {path} with a redirect (HTTP {status}), which "
                f"is never followed; set {settings.source('ADDR')} to the server's own address"
            )
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
        status, _reply = self._request("GET", "auth/token/lookup-self", None, token)
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
