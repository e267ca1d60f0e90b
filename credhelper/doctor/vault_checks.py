"""Doctor's checks for the vault key provider: server, token, policy, transit key.

`vault_findings(record)` is one independent check: its inputs are the store's
`keyProvider` record and the environment (VAULT_ADDR, the token, TLS files); it
returns findings and changes nothing. In order, each stopping the ones after it
when it fails: the settings parse, the server answers and is unsealed, the
token is valid (and how long it lives), the token's capabilities on the runner
paths (decrypt + datakey), the transit key and the version that wraps this
store's data key. `check_vault(snapshot)` runs it when the store uses the vault
provider.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from credhelper import keys
from credhelper.doctor.model import ERROR, INFO, WARNING, Finding
from credhelper.errors import KeyProblem
from credhelper.keys.vault import DEFAULT_KEY, DEFAULT_MOUNT, settings
from credhelper.keys.vault.policy import runner_paths, runner_policy
from credhelper.store import Snapshot

TOKEN_SOON = 3600  # a token that expires within an hour, and cannot renew, is a warning


def _finding(id_: str, severity: str, message: str, where: str, fix: str) -> Finding:
    return Finding(f"vault.{id_}", severity, message, where, fix)


def vault_findings(record: Mapping[str, Any] | None) -> list[Finding]:
    """What is wrong (or worth knowing) about this store's Vault/OpenBao setup."""
    record = record or {}
    mount = str(record.get("mount") or DEFAULT_MOUNT)
    key = str(record.get("key") or DEFAULT_KEY)
    out: list[Finding] = []
    try:
        from credhelper.keys.vault.admin import Admin

        admin = Admin()
    except KeyProblem as err:
        return [
            _finding(
                "config", ERROR, err.message, settings.shown_addr(), "fix the variable it names"
            )
        ]
    where = admin.endpoint.url
    out.extend(_mixed_families(where))
    if settings.env("VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"):
        out.append(
            _finding(
                "skip-verify",
                WARNING,
                "VAULT_SKIP_VERIFY is set; credhelper ignores it and always verifies TLS",
                where,
                "set VAULT_CACERT to the server's CA file instead",
            )
        )
    loopback = admin.endpoint.host in ("127.0.0.1", "::1", "localhost")
    if not admin.endpoint.tls and not loopback:
        out.append(
            _finding(
                "plain-http",
                WARNING,
                f"{settings.source('ADDR')} is plain http:// to another host: anyone on the "
                "path sees the token and every unwrapped data key",
                where,
                "use the server's https:// address (and VAULT_CACERT)",
            )
        )
    if not _server_ok(admin, where, out) or not _token_ok(admin, where, out):
        return out
    _policy(admin, where, mount, key, out)
    _transit_key(admin, where, mount, key, record.get("wrapped"), out)
    return out


_SETTINGS = ("ADDR", "TOKEN", "NAMESPACE", "CACERT", "CAPATH", "CLIENT_CERT", "CLIENT_KEY")


def _mixed_families(where: str) -> list[Finding]:
    """A warning for each setting given differently by BAO_X and VAULT_X (BAO_X wins)."""
    out = []
    for name in (*_SETTINGS, "TLS_SERVER_NAME"):
        bao, vault = settings.env(f"BAO_{name}"), settings.env(f"VAULT_{name}")
        if bao and vault and bao != vault:
            out.append(
                _finding(
                    "env-mixed",
                    WARNING,
                    f"BAO_{name} and VAULT_{name} are both set and differ; BAO_{name} is used "
                    "(as by bao)",
                    where,
                    f"unset the one you do not mean (unset VAULT_{name} or BAO_{name})",
                )
            )
    return out


def _server_ok(admin: Any, where: str, out: list[Finding]) -> bool:
    from credhelper.keys.vault.admin import AdminError

    try:
        health = admin.health()
    except AdminError as err:
        out.append(_finding("unreachable", ERROR, err.message, where, "check VAULT_ADDR and TLS"))
        return False
    if health.get("sealed"):
        out.append(
            _finding(
                "sealed",
                ERROR,
                "the server is sealed: no host can unwrap its data key until it is unsealed",
                where,
                "bao operator unseal (or vault operator unseal)",
            )
        )
        return False
    return True


def _token_ok(admin: Any, where: str, out: list[Finding]) -> bool:
    from credhelper.keys.vault.admin import AdminError

    source = settings.token_source()
    try:
        info = admin.lookup_self()
    except AdminError as err:
        message = (
            f"the token from {source} is not valid (expired, revoked or wrong)"
            if err.kind == "forbidden"
            else err.message
        )
        out.append(_finding("token", ERROR, message, where, settings.LOGIN_ADVICE))
        return False
    ttl = info.get("ttl")
    policies = ", ".join(str(p) for p in info.get("policies") or []) or "none"
    lives = "never expires" if not ttl else f"expires in {int(ttl)}s"
    out.append(
        _finding("token", INFO, f"token from {source}: {lives}; policies: {policies}", where, "")
    )
    if ttl and int(ttl) < TOKEN_SOON and not info.get("renewable"):
        out.append(
            _finding(
                "token-expiring",
                WARNING,
                f"the token from {source} expires in {int(ttl)}s and cannot be renewed",
                where,
                "let Vault/OpenBao Agent keep a fresh token in CREDHELPER_VAULT_TOKEN_FILE",
            )
        )
    return True


def _policy(admin: Any, where: str, mount: str, key: str, out: list[Finding]) -> None:
    from credhelper.keys.vault.admin import AdminError

    decrypt, datakey = runner_paths(mount, key)
    try:
        caps = admin.capabilities([decrypt, datakey])
    except AdminError as err:
        out.append(_finding("policy", WARNING, err.message, where, "check the token's policy"))
        return
    one_line_policy = " ".join(runner_policy(mount, key).split())
    if not _can_update(caps[decrypt]):
        out.append(
            _finding(
                "policy",
                ERROR,
                f"the token may not use {decrypt}: every get needs it",
                where,
                f"grant the runner policy: {one_line_policy}",
            )
        )
    if not _can_update(caps[datakey]):
        out.append(
            _finding(
                "policy-datakey",
                WARNING,
                f"the token may not use {datakey}: a login after a forced rotation or a "
                "raised min_decryption_version needs it to make a new data key",
                where,
                f"grant the runner policy: {one_line_policy}",
            )
        )


def _can_update(caps: list[str]) -> bool:
    return "root" in caps or ("update" in caps and "deny" not in caps)


def _transit_key(
    admin: Any, where: str, mount: str, key: str, wrapped: object, out: list[Finding]
) -> None:
    from credhelper.keys.vault.admin import AdminError

    try:
        info = admin.read_key(mount, key)
    except AdminError as err:
        if err.kind == "forbidden":  # runners need not read it; get's decrypt is the test
            message = f"the token may not read {mount}/keys/{key} (a runner needs not)"
            out.append(_finding("key-unread", INFO, message, where, ""))
        else:
            fix = f"bao secrets enable -path={mount} transit; bao write -f {mount}/keys/{key}"
            out.append(_finding("key-missing", ERROR, err.message, where, fix))
        return
    latest = int(info.get("latest_version") or 1)
    out.extend(_data_key_version(info, where, f"{mount}/keys/{key}", wrapped, latest))
    rotated = info.get("keys", {}).get(str(latest)) if isinstance(info.get("keys"), dict) else None
    if isinstance(rotated, int):
        age_days = int((time.time() - rotated) // 86400)
        message = f"{mount}/keys/{key}: version {latest}, {age_days} day(s) old"
        out.append(_finding("key", INFO, message, where, ""))


def _data_key_version(
    info: Mapping[str, Any], where: str, named: str, wrapped: object, latest: int
) -> list[Finding]:
    """Whether the transit key version that wraps this store's data key is retired or old."""
    from credhelper.keys.vault.admin import wrapped_version

    version = wrapped_version(wrapped) if isinstance(wrapped, str) else 0
    floor = int(info.get("min_decryption_version") or 1)
    if version and version < floor:
        message = (
            f"this store's data key is wrapped by version {version} of {named}, below its "
            f"min_decryption_version {floor}: every login needs a new login"
        )
        fix = "credhelper login <server> for each (credhelper list shows them)"
        return [_finding("data-key-retired", ERROR, message, where, fix)]
    if version and version < latest:
        message = f"the data key is wrapped by version {version} of {named}; the latest is {latest}"
        fix = "credhelper rotate --reencrypt (rewraps it; logins unchanged)"
        return [_finding("data-key-old", INFO, message, where, fix)]
    return []


def check_vault(snapshot: Snapshot | None) -> list[Finding]:
    """vault_findings for a store that uses the vault provider (nothing otherwise)."""
    record = snapshot.provider_record if snapshot is not None else None
    if keys.provider_name(record) != "vault":
        return []
    return vault_findings(record if isinstance(record, Mapping) else None)
