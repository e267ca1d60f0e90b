"""Chooses the active key provider; each provider lives in its own module.

Only the chosen provider's module is imported, so `get` with the file provider
never imports keyring. The choice, in order: $CREDHELPER_KEY_PROVIDER; `env` when
CREDHELPER_AESKEY or CREDHELPER_AESKEY_FILE is set (a CI runner's deliberate
choice); the provider recorded in the store by `credhelper install`; `file`.
For `keyring`, the backend class recorded with it is used directly (no detection).
"""

from __future__ import annotations

import os

from credhelper import paths
from credhelper.errors import KeyProblem

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: `typing`, `collections` and the Protocol class cost start-up time
    from collections.abc import Mapping
    from typing import Any

    from credhelper.keys.base import KeyProvider

PROVIDERS = ("file", "keyring", "env", "vault")


# The variables that put a provider in force over the store's own, as a message names them.
OVERRIDE_HINT = "CREDHELPER_KEY_PROVIDER, CREDHELPER_AESKEY and CREDHELPER_AESKEY_FILE"


def overridden() -> bool:
    """True when the environment, not the store's record, picks the provider."""
    return bool(
        os.environ.get("CREDHELPER_KEY_PROVIDER")
        or os.environ.get("CREDHELPER_AESKEY")
        or os.environ.get("CREDHELPER_AESKEY_FILE")
    )


def provider_name(recorded: Mapping[str, Any] | None) -> str:
    explicit = os.environ.get("CREDHELPER_KEY_PROVIDER")
    if explicit:
        return explicit
    if os.environ.get("CREDHELPER_AESKEY") or os.environ.get("CREDHELPER_AESKEY_FILE"):
        return "env"
    if recorded:
        name = recorded.get("name")
        if isinstance(name, str) and name:
            return name
    return "file"


def select(recorded: Mapping[str, Any] | None = None, directory: str | None = None) -> KeyProvider:
    """The provider in force, given the `keyProvider` record of the store (if any)."""
    return by_name(provider_name(recorded), recorded, directory)


def by_name(
    name: str, recorded: Mapping[str, Any] | None = None, directory: str | None = None
) -> KeyProvider:
    """Provider `name` for the store in `directory` (default: paths.store_dir()).

    For `keyring` the backend class comes from the record (written by
    keys.setup.configure_provider) or $CREDHELPER_KEYRING_BACKEND; only without
    both does keyring's slow backend detection run.
    """
    directory = directory if directory is not None else paths.store_dir()
    if name == "file":
        from credhelper.keys.file import FileKeyProvider

        return FileKeyProvider(os.path.join(directory, paths.KEY_NAME))
    if name == "keyring":
        from credhelper.keys.keyring_provider import ENV_BACKEND, KeyringKeyProvider

        backend = os.environ.get(ENV_BACKEND) or None
        if backend is None and recorded and recorded.get("name") == "keyring":
            value = recorded.get("backend")
            backend = value if isinstance(value, str) and value else None
        return KeyringKeyProvider(directory, backend)
    if name == "env":
        from credhelper.keys.env import EnvKeyProvider

        return EnvKeyProvider()
    if name == "vault":
        from credhelper.keys.vault import VaultKeyProvider

        # The store's own record dict: a new wrapped data key is written with it.
        own = recorded if isinstance(recorded, dict) and recorded.get("name") == "vault" else None
        return VaultKeyProvider(own, directory)
    raise KeyProblem(
        f"credhelper: unknown key provider {name!r} (choose one of: {', '.join(PROVIDERS)})"
    )
