"""What a scheduled job needs from the key provider's world, beyond the store's paths.

- keyring, under cron: the session bus of the session scheduling it (cron starts
  jobs outside any desktop session; a systemd user manager has its own bus).
- vault: the server's non-secret settings (address, namespace, CA and client
  certificate paths, token file, timeout). The token itself is never written into
  a crontab or unit: a token only in VAULT_TOKEN/BAO_TOKEN is refused, the job
  must read it from a file (Vault/OpenBao Agent's sink, or ~/.vault-token).

The refusal of providers that cannot rotate their own key at all (env) is the
provider's own: its `rotation()` is None, checked in credhelper.schedule.
"""

from __future__ import annotations

import os

from credhelper.errors import CredhelperError
from credhelper.schedule.job import JOB_ENV, check_text

_VAULT_NAMES = ("ADDR", "NAMESPACE", "CACERT", "CAPATH", "CLIENT_CERT", "CLIENT_KEY")
_VAULT_SETTINGS = (
    *(f"{prefix}_{name}" for name in _VAULT_NAMES for prefix in ("VAULT", "BAO")),
    "VAULT_TLS_SERVER_NAME",
    "BAO_TLS_SERVER_NAME",
    "CREDHELPER_VAULT_TOKEN_FILE",
    "CREDHELPER_VAULT_TIMEOUT",
)
_PATH_SETTINGS = ("CACERT", "CAPATH", "CLIENT_CERT", "CLIENT_KEY", "TOKEN_FILE")
_BUS = "DBUS_SESSION_BUS_ADDRESS"
# Every name a job's environment may hold: JOB_ENV and the providers' settings.
# An entry read back with any other name (LD_PRELOAD=...) was edited by someone
# else; it is never copied into a job credhelper writes.
ALLOWED_ENV = frozenset((*JOB_ENV, *_VAULT_SETTINGS, _BUS))


def allowed_only(env: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """`env` without the names a job never has."""
    return tuple((name, value) for name, value in env if name in ALLOWED_ENV)


def foreign_names(env: tuple[tuple[str, str], ...]) -> list[str]:
    return sorted({name for name, _ in env if name not in ALLOWED_ENV})


class ProviderRefused(CredhelperError):
    """The provider's key cannot be reached from a scheduled job as configured."""


def _vault_env() -> list[tuple[str, str]]:
    for name in ("VAULT_TOKEN", "BAO_TOKEN"):
        if os.environ.get(name):
            raise ProviderRefused(
                f"credhelper: cannot schedule rotation: the vault token comes from {name}, "
                "which is never written into a crontab or unit; give the job a token file "
                "(CREDHELPER_VAULT_TOKEN_FILE, e.g. the Vault/OpenBao Agent sink, or "
                f"~/.vault-token), unset {name} and schedule again"
            )
    found = []
    for name in _VAULT_SETTINGS:
        value = os.environ.get(name)
        if value:
            if name.endswith(_PATH_SETTINGS):
                value = os.path.abspath(value)
            found.append((name, check_text(name, value)))
    return found


def job_environment(provider: str, scheduler: str) -> list[tuple[str, str]]:
    """The provider's variables to write into the job (never a secret)."""
    if provider == "vault":
        return _vault_env()
    bus = os.environ.get(_BUS)
    if provider == "keyring" and scheduler == "cron" and bus:
        return [(_BUS, check_text(_BUS, bus))]
    return []
