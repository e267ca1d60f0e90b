"""`credhelper install --key-provider vault`: the provider for the store's new record.

Called by keys.setup.configure_provider under the store lock. Re-running install
with the same mount and key keeps the recorded wrapped data key; naming another
transit key moves the data key to it (wrapped by the new key) so that every
stored login stays readable. Not on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credhelper.keys.base import install_key
from credhelper.keys.vault import DEFAULT_KEY, DEFAULT_MOUNT, NAME, VaultKeyProvider

OPTION_MOUNT = "vault_mount"
OPTION_KEY = "vault_key"


def provider_for(
    recorded: Mapping[str, Any] | None, options: Mapping[str, str | None] | None, directory: str
) -> VaultKeyProvider:
    """The vault provider `install` should record, given the store's current record."""
    options = options or {}
    current = dict(recorded) if recorded and recorded.get("name") == NAME else None
    mount = options.get(OPTION_MOUNT) or (current or {}).get("mount") or DEFAULT_MOUNT
    key = options.get(OPTION_KEY) or (current or {}).get("key") or DEFAULT_KEY
    mount = str(mount).strip("/")
    new = VaultKeyProvider.for_key(mount, str(key), directory)
    if current is None:
        return new
    if (current.get("mount"), current.get("key")) == (mount, key):
        # Same transit key: keep the record (and its wrapped data key) as it is.
        return VaultKeyProvider(current, directory)
    old = VaultKeyProvider(current, directory)
    data_key = old.load()
    if data_key is not None:
        install_key(new, data_key)  # wrapped by the new transit key (transit/encrypt)
    return new
