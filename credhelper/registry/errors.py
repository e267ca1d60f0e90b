"""What a registry login check can establish or fail with, and the constants it sends.

Each way a login can fail is its own CredhelperError subclass (its exit code
documented in the README); no message ever contains the secret.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from credhelper.errors import CredhelperError, ExitCode
from credhelper.jsonfields import fields_dict

CLIENT_ID = "credhelper"
USER_AGENT = "credhelper (registry login check)"


class RegistryError(CredhelperError):
    """A login check that could not be completed or was refused."""

    exit_code = ExitCode.UNREACHABLE


class AuthRejected(RegistryError):
    """The registry (or its token server) refused these credentials."""

    exit_code = ExitCode.AUTH_REJECTED


class RegistryUnreachable(RegistryError):
    """No HTTP answer: DNS, connection refused, timeout."""


class TLSFailure(RegistryError):
    """The TLS handshake failed (untrusted CA, wrong name, client certificate...)."""

    def __init__(self, message: str, ca_file: str, untrusted: bool = False) -> None:
        super().__init__(message)
        self.ca_file = ca_file
        self.untrusted = untrusted  # the server speaks TLS; the handshake itself failed


class NotARegistry(RegistryError):
    """Something answered, but not a registry v2 API."""


class TokenServerError(RegistryError):
    """The registry sends clients to a token server that failed (not a refusal)."""


class InsecureRefused(RegistryError):
    """Plain HTTP to a registry that is not on loopback, without --insecure."""

    exit_code = ExitCode.USAGE


@dataclasses.dataclass(frozen=True)
class LoginResult:
    """What a successful handshake established, and what to store for it."""

    server: str  # the store key
    endpoint: str  # e.g. https://127.0.0.1:5000
    scheme: str  # "basic", "bearer" or "none" (the registry asks for no login)
    username: str  # what to store as Username (TOKEN_USERNAME for identity tokens)
    secret: str = dataclasses.field(repr=False)  # what to store as Secret
    identity_token: bool = False
    # Seconds the stored secret stays valid, when the token server says so (the
    # `refresh_expires_in` of a refresh token that is stored); None: not stated.
    expires_in: int | None = None

    def as_dict(self) -> dict[str, Any]:
        # Never the secret: this is what `login --json` prints.
        return fields_dict(self, "server endpoint auth=scheme username identity_token")
