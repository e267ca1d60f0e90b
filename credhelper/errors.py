"""One exception tree for credhelper, and the exact protocol strings.

Core code raises these; only `protocol.main` and the CLI turn them into output and
exit codes. No message built here ever contains a secret: callers pass server
names, paths and causes, never credentials or key material.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: importing `typing` costs milliseconds on the hot path
    TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy: importing `typing` costs milliseconds on the hot path
    from typing import Final

# The exact strings of docker-credential-helpers' credentials/error.go. Clients
# (docker CLI, docker-py, containers/image) compare against them after trimming.
NOT_FOUND_MESSAGE = "credentials not found in native keychain"
MISSING_URL_MESSAGE = "no credentials server URL"
MISSING_USERNAME_MESSAGE = "no credentials username"


class ExitCode:
    """Exit codes of the `credhelper` CLI (the protocol executable uses only 0 and 1).

    Plain int constants rather than an IntEnum: this module is on the `get` hot
    path, and building an enum class costs about half a millisecond per call.
    """

    OK: Final = 0
    ERROR: Final = 1  # anything not listed below
    USAGE: Final = 2  # bad command line (click's own code)
    NEEDS_LOGIN: Final = 3  # no usable credentials: missing, or invalidated by a rotation
    STORE: Final = 4  # store or key unreadable, corrupt or insecure
    AUTH_REJECTED: Final = 5  # the registry refused the credentials
    UNREACHABLE: Final = 6  # registry unreachable, TLS failure, not a registry
    LOCK_TIMEOUT: Final = 7  # another process held the store lock too long
    ENGINE: Final = 8  # the push engine is missing or its daemon is unreachable
    HELPER_MISSING: Final = 9  # a credential helper program needed is not on PATH
    FINDINGS: Final = 10  # doctor found problems


class CredhelperError(Exception):
    """Base of every error credhelper reports to a user as one line."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(CredhelperError):
    """Bad input on stdin or the command line."""

    exit_code = ExitCode.USAGE


class NotFound(CredhelperError):
    """No credentials stored for a server."""

    exit_code = ExitCode.NEEDS_LOGIN

    def __init__(self, server: str = "") -> None:
        super().__init__(NOT_FOUND_MESSAGE)
        self.server = server


class Invalidated(NotFound):
    """An entry exists but can no longer be used: a rotation or a lost key.

    On the wire this is "not found" (so clients prompt or go anonymous); `hint`
    is the one line the helper writes to stderr for the human.
    """

    def __init__(self, server: str, hint: str) -> None:
        super().__init__(server)
        self.hint = hint


class Expired(Invalidated):
    """A login stored with an expiry that has passed: "not found" on the wire, like
    Invalidated, with the one stderr line naming the server and the expiry time."""

    def __init__(self, server: str, expires: str, hint: str) -> None:
        super().__init__(server, hint)
        self.expires = expires


class MissingServerURL(UsageError):
    def __init__(self) -> None:
        super().__init__(MISSING_URL_MESSAGE)


class MissingUsername(UsageError):
    def __init__(self) -> None:
        super().__init__(MISSING_USERNAME_MESSAGE)


class InputTooLarge(UsageError):
    """Input beyond the helper's limit; refused before anything is parsed."""


class CorruptEntry(CredhelperError):
    """An entry sealed by the current key that fails to decode or authenticate."""

    exit_code = ExitCode.STORE

    def __init__(self, server: str, cause: str) -> None:
        super().__init__(
            f"credhelper: stored credentials for {server} are corrupt ({cause}); "
            "run: credhelper doctor"
        )
        self.server = server
        self.cause = cause


class StoreError(CredhelperError):
    """The store file or directory cannot be read, parsed or written safely."""

    exit_code = ExitCode.STORE


class KeyProblem(StoreError):
    """The key is missing, unreadable, insecure or unavailable."""


class LockTimeout(CredhelperError):
    exit_code = ExitCode.LOCK_TIMEOUT
