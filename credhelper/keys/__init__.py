"""Chooses the active key provider; each provider lives in its own module.

Only the chosen provider's module is imported, so `get` with the file provider
never imports keyring. The choice, in order: $CREDHELPER_KEY_PROVIDER; `env` when
CREDHELPER_AESKEY or CREDHELPER_AESKEY_FILE is set (a CI runner's deliberate
choice); the provider recorded in the store by `credhelper install`; `file`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from credhelper import paths
from credhelper.errors import KeyProblem
from credhelper.keys.base import KeyProvider

PROVIDERS = ("file", "keyring", "env")


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


def select(recorded: Mapping[str, Any] | None = None) -> KeyProvider:
    """The provider in force, given the `keyProvider` record of the store (if any)."""
    name = provider_name(recorded)
    if name == "file":
        from credhelper.keys.file import FileKeyProvider

        return FileKeyProvider(paths.key_file())
    if name == "env":
        from credhelper.keys.env import EnvKeyProvider

        return EnvKeyProvider()
    raise KeyProblem(
        f"credhelper: unknown key provider {name!r} (choose one of: {', '.join(PROVIDERS)})"
    )
