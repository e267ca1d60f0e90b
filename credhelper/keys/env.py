"""The `env` key provider: the key comes from the environment, nothing is written.

CREDHELPER_AESKEY holds the key as standard base64; CREDHELPER_AESKEY_FILE names a
file (a mounted Kubernetes or CI secret) holding the 32 raw bytes or their base64.
The secret system that supplies the key owns it: credhelper never creates,
rotates, stores or removes it, so this provider has no `Rotatable` side.
"""

from __future__ import annotations

import binascii
import os
import stat

from credhelper.crypto import KEY_BYTES
from credhelper.errors import KeyProblem

ENV_KEY = "CREDHELPER_AESKEY"
ENV_KEY_FILE = "CREDHELPER_AESKEY_FILE"
# The previous key, given only to `credhelper rotate --key-from-env --reencrypt`
# so that it can re-seal the store from the old fleet key to the new one.
OLD_ENV_KEY = "CREDHELPER_OLD_AESKEY"
OLD_ENV_KEY_FILE = "CREDHELPER_OLD_AESKEY_FILE"


def _decode(text: bytes, source: str) -> bytes:
    try:
        # base64.b64decode(..., validate=True), without base64 (which imports re)
        key = binascii.a2b_base64(text.strip(), strict_mode=True)
    except (binascii.Error, ValueError):
        raise KeyProblem(
            f"credhelper: {source} is not valid base64; it must hold a 32-byte key, "
            "for example from: head -c 32 /dev/urandom | base64"
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyProblem(
            f"credhelper: {source} decodes to {len(key)} bytes, not the 32 of an AES-256 key"
        )
    return key


class EnvKeyProvider:
    name = "env"

    def describe(self) -> str:
        if os.environ.get(ENV_KEY):
            return f"environment variable {ENV_KEY}"
        return f"key file named by {ENV_KEY_FILE} ({os.environ.get(ENV_KEY_FILE, '')})"

    def load(self) -> bytes | None:
        return load_from(ENV_KEY, ENV_KEY_FILE)

    def load_or_create(self) -> bytes:
        key = self.load()
        if key is not None:
            return key
        raise KeyProblem(
            f"credhelper: the env key provider has no key: set {ENV_KEY} (base64 of 32 "
            f"random bytes) or {ENV_KEY_FILE}; credhelper never creates this key"
        )

    def rotation(self) -> None:
        return None  # the secret system that supplies the key rotates it, not credhelper


def load_from(env_key: str, env_key_file: str) -> bytes | None:
    """The key in $env_key (base64) or in the file named by $env_key_file; None if unset."""
    value = os.environ.get(env_key)
    if value:
        return _decode(value.encode("ascii", "replace"), env_key)
    file_name = os.environ.get(env_key_file)
    if not file_name:
        return None
    # Followed even if it is a symlink: Kubernetes mounts secrets as links
    # into a ..data directory. Its permissions belong to the secret system.
    try:
        # O_NONBLOCK: a FIFO named here must be refused, not block get forever.
        fd = os.open(file_name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise KeyProblem(f"credhelper: {env_key_file} {file_name} is not a regular file")
            data = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
    except OSError as err:
        raise KeyProblem(
            f"credhelper: cannot read {env_key_file} {file_name}: {err.strerror}"
        ) from None
    if len(data) == KEY_BYTES:
        return data
    return _decode(data, f"{env_key_file} {file_name}")
