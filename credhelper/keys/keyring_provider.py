"""The `keyring` key provider: the AES key lives in the OS keyring via the `keyring` package.

On the `get` hot path the backend class recorded in the store by
`credhelper install --key-provider keyring` is imported and instantiated directly:
keyring's backend detection (which imports every backend and probes each, seconds
on some desktops) runs only in `keys.setup`, never here. Nothing ever falls back
to a plaintext key: a locked or missing keyring is one clear error.
"""

from __future__ import annotations

import binascii
import os

from credhelper.crypto import KEY_BYTES, new_key
from credhelper.errors import KeyProblem

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing` costs milliseconds on the hot path
    from typing import Any

SERVICE = "credhelper"
ENV_BACKEND = "CREDHELPER_KEYRING_BACKEND"
# The only backend classes credhelper will import: keyring's own OS keyrings.
# The class path comes from a file (the store's keyProvider record) or the
# environment, so anything else is refused before it is imported: a path naming
# any other module would run that module's code inside `get`.
ALLOWED_BACKENDS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.kwallet.DBusKeyringKWallet4",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
    }
)
# Backends that would store the key in the clear, or not at all (for the message).
_REFUSED = (
    "keyring.backends.fail.",
    "keyring.backends.null.",
    "keyring.backends.chainer.",
    "keyrings.alt.",
)
_FIX = (
    "unlock or start your keyring (a desktop login does it; headless: "
    "gnome-keyring-daemon --unlock inside a D-Bus session), or switch providers with: "
    "credhelper install --key-provider file"
)


def check_backend_path(path: str) -> str:
    """`path` if it names one of ALLOWED_BACKENDS, else a KeyProblem (one line)."""
    if path in ALLOWED_BACKENDS:
        return path
    shown = path if isinstance(path, str) and path.isprintable() and len(path) < 120 else "?"
    if any(shown.startswith(prefix) for prefix in _REFUSED):
        raise KeyProblem(
            f"credhelper: refusing keyring backend {shown}: it would keep the key in plaintext "
            "or not at all; use a real OS keyring or: credhelper install --key-provider file"
        )
    raise KeyProblem(
        f"credhelper: refusing keyring backend {shown!r}: not one of keyring's OS keyrings "
        f"({', '.join(sorted(ALLOWED_BACKENDS))}); nothing was imported; "
        "run: credhelper install --key-provider keyring"
    )


def class_path(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def detect_backend_path() -> str:
    """Run keyring's backend detection once (slow; never on the hot path)."""
    try:
        import keyring
        import keyring.backends.chainer

        backend = keyring.get_keyring()
        if isinstance(backend, keyring.backends.chainer.ChainerBackend):
            # Record the one backend that would actually hold the key.
            if not backend.backends:
                raise KeyProblem(f"credhelper: no usable OS keyring was found; {_FIX}")
            backend = backend.backends[0]
    except KeyProblem:
        raise
    except Exception as err:
        raise KeyProblem(
            f"credhelper: cannot find the OS keyring ({_cause(err)}); {_FIX}"
        ) from None
    path = class_path(backend)
    if path.startswith(("keyring.backends.fail.", "keyring.backends.null.")):
        raise KeyProblem(f"credhelper: no usable OS keyring was found (no Secret Service?); {_FIX}")
    return check_backend_path(path)


def _cause(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    name = type(err).__name__
    return f"{name}: {text[:160]}" if text else name


class KeyringKeyProvider:
    name = "keyring"

    def __init__(self, store_dir: str, backend_path: str | None) -> None:
        # One keyring item per store directory: several DOCKER_CONFIGs (and the
        # tests) must not share or overwrite each other's keys.
        self.store_dir = os.path.abspath(store_dir)
        self.account = f"aeskey:{self.store_dir}"
        self.pending_account = f"aeskey.pending:{self.store_dir}"
        self.backend_path = backend_path
        self._backend: Any = None

    def describe(self) -> str:
        where = self.backend_path or "the detected OS keyring"
        return f"keyring item {SERVICE}/{self.account} ({where})"

    def backend(self) -> Any:
        if self._backend is None:
            path = self.backend_path or os.environ.get(ENV_BACKEND) or detect_backend_path()
            path = check_backend_path(path)
            module_name, _, cls_name = path.rpartition(".")
            try:
                # __import__ (not importlib.import_module) so that -X importtime,
                # which the hot-path test reads, sees this import too.
                cls = getattr(__import__(module_name, fromlist=[cls_name]), cls_name)
                self._backend = cls()
            except Exception as err:
                raise KeyProblem(
                    f"credhelper: cannot load keyring backend {path} ({_cause(err)}); "
                    "run: credhelper install --key-provider keyring"
                ) from None
            self.backend_path = path
        return self._backend

    def _call(self, what: str, func: Any, *args: str) -> Any:
        try:
            return func(*args)
        except KeyProblem:
            raise
        except Exception as err:
            if type(err).__name__ == "KeyringLocked":
                raise KeyProblem(
                    f"credhelper: the OS keyring ({self.backend_path}) is locked, so the key "
                    f"cannot be {what}; {_FIX}"
                ) from None
            if type(err).__name__ == "PasswordDeleteError":
                return None
            raise KeyProblem(
                f"credhelper: the OS keyring ({self.backend_path}) is unavailable, so the key "
                f"cannot be {what} ({_cause(err)}); {_FIX}"
            ) from None

    def _get(self, account: str) -> bytes | None:
        value = self._read(account)
        if value is None:
            return None
        try:
            # base64.b64decode(..., validate=True), without base64 (which imports re)
            key = binascii.a2b_base64(str(value).encode("ascii", "replace"), strict_mode=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyProblem(
                f"credhelper: keyring item {SERVICE}/{account} does not hold a 32-byte key; "
                "run: credhelper doctor"
            )
        return key

    def _read(self, account: str) -> Any:
        """The item's value: straight from the Secret Service when that is the plain case."""
        from credhelper.keys import secretservice

        path = self.backend_path or os.environ.get(ENV_BACKEND)
        if self._backend is None and secretservice.usable(path):
            try:
                return secretservice.get_password(SERVICE, account)
            except secretservice.Unanswered:
                raise KeyProblem(
                    "credhelper: the Secret Service on the D-Bus session bus did not answer "
                    f"within {secretservice.TIMEOUT:g} s; {_FIX}"
                ) from None
            except secretservice.Unsupported:
                pass  # keyring itself: its own unlock prompts, errors and messages
        return self._call("read", self.backend().get_password, SERVICE, account)

    def _set(self, account: str, key: bytes) -> None:
        backend = self.backend()
        value = binascii.b2a_base64(key, newline=False).decode()  # base64.b64encode(key)
        self._call("stored", backend.set_password, SERVICE, account, value)

    def _delete(self, account: str) -> None:
        backend = self.backend()
        self._call("removed", backend.delete_password, SERVICE, account)

    def load(self) -> bytes | None:
        return self._get(self.account)

    def load_or_create(self) -> bytes:
        # Only writers call this, under the store lock, so check-then-set is safe.
        key = self.load()
        if key is not None:
            return key
        self._set(self.account, new_key())
        kept = self.load()
        if kept is None:
            raise KeyProblem(
                f"credhelper: the OS keyring ({self.backend_path}) did not keep the new key; {_FIX}"
            )
        return kept

    def rotation(self) -> KeyringKeyProvider:
        return self  # the keyring item is credhelper's own: it rotates it in place

    def load_pending(self) -> bytes | None:
        return self._get(self.pending_account)

    def write_pending(self, key: bytes) -> None:
        self._set(self.pending_account, key)

    def promote_pending(self) -> None:
        # Not one atomic step as with a file, but safe either way: between the two
        # calls both items hold the new key, and readers accept either name.
        key = self.load_pending()
        if key is None:
            raise KeyProblem(
                f"credhelper: the pending key vanished from the OS keyring ({self.backend_path})"
            )
        self._set(self.account, key)
        self._delete(self.pending_account)

    def discard_pending(self) -> None:
        self._delete(self.pending_account)

    def remove_key(self) -> None:
        self._delete(self.pending_account)
        self._delete(self.account)
