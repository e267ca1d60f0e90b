"""Checks of what Docker's config.json holds: the file itself (`check_docker_config`)
and each login entry in it (`check_entry`), including legacy openEuler docker entries.
iSulad's logins are in isulad_checks; which helper docker runs is in helper_checks.
"""

from __future__ import annotations

import os
import stat

from credhelper import backups, dockerconfig, legacy, migrate
from credhelper.advice import login_command
from credhelper.dockerconfig import (
    AUTH_BASE64,
    AUTH_BINARY,
    AUTH_EMPTY,
    AUTH_INVALID,
    AUTH_PLAINTEXT,
    DockerConfig,
    EntryCheck,
)
from credhelper.dockernames import TOKEN_USERNAME
from credhelper.doctor.isulad_checks import load_legacy_key
from credhelper.doctor.model import ERROR, FIX_COMMAND, WARNING, Context, Finding, file_mode
from credhelper.doctor.remedies import (
    Chmod,
    ImportLogin,
    SealBackups,
    Step,
    StripEntry,
)


def check_docker_config(ctx: Context) -> list[Finding]:
    """The file, its leftovers, how docker parses it, and every login entry in it."""
    path, cfg = ctx.docker_path, ctx.docker
    if cfg is None:
        return [_unreadable(path, ctx.docker_error or "")]
    out = check_leftovers(path)
    if not cfg.exists:
        out.append(_missing(ctx))
        return out
    out.extend(_file_mode(path))
    parsed, loadable = _parse(cfg, path)
    out.extend(parsed)
    if not loadable:
        return out
    key_path = legacy.openeuler_key_path(os.path.dirname(path) or ".")
    for check in dockerconfig.check_entries(cfg):
        out.extend(check_entry(cfg, check, path, key_path))
    out.extend(_shadowed(cfg, path))
    return out


def _unreadable(path: str, error: str) -> Finding:
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True  # gone or unreadable: nothing stands in the way to move
    # A directory or FIFO in its place: docker cannot use it either; once it is moved,
    # doctor --fix creates the file pointing at credhelper.
    fix = "check the path" if regular else f"mv {path} {path}.old, then: {FIX_COMMAND}"
    return Finding("docker-config.unreadable", ERROR, error, path, fix)


def _shadowed(cfg: DockerConfig, path: str) -> list[Finding]:
    """Credential text docker never uses (a duplicate key, a case variant, a map
    reset by null) is still plaintext in the file for anyone who reads it."""
    servers = sorted({server for server, _f, _v in dockerconfig.shadowed_credentials(cfg.tree)})
    fix = f"{FIX_COMMAND} (rewrites the file as docker reads it, after a sealed backup)"
    remedy = Step.FOLD_DUPLICATES if cfg.writable else None
    says = (
        "the file holds credential text docker does not use (a duplicate or case-variant "
        "key); it is still plaintext (base64 is not encryption)"
    )
    id_, fixable = "docker-config.plaintext-shadowed", cfg.writable
    return [Finding(id_, WARNING, f"{s}: {says}", path, fix, fixable, s, remedy) for s in servers]


def _missing(ctx: Context) -> Finding:
    auto = dockerconfig.auto_store(ctx.search_path)
    where = (
        f"docker picks docker-credential-{auto} by itself"
        if auto
        else "docker will keep logins in it as plaintext base64"
    )
    message = f"Docker's config.json does not exist, so docker does not use credhelper ({where})"
    fix = f'{FIX_COMMAND} or credhelper install (creates it with "credsStore": "credhelper")'
    id_ = "docker-config.creds-store-unset"
    return Finding(id_, WARNING, message, ctx.docker_path, fix, True, remedy=Step.SET_CREDS_STORE)


def _file_mode(path: str) -> list[Finding]:
    try:
        st = os.stat(path)
    except OSError:
        return []  # removed since it was read: nothing left to judge
    if st.st_uid != os.geteuid():
        message = (
            f"owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); "
            "docker cannot save logins here"
        )
        fix = f"sudo chown {os.geteuid()} {path}"
        return [Finding("docker-config.owner", WARNING, message, path, fix)]
    if st.st_mode & 0o077:
        message = f"mode {file_mode(st)} lets other users read it (docker writes it 0600)"
        chmod, fix = Chmod(os.path.realpath(path), 0o600), f"chmod 600 {path}"
        return [Finding("docker-config.mode", WARNING, message, path, fix, True, remedy=chmod)]
    return []


def _parse(cfg: DockerConfig, path: str) -> tuple[list[Finding], bool]:
    """The file as docker's loader reads it; False when docker cannot load it."""
    if cfg.parse_error is not None:
        # Quote docker only where Go's wording is known; never make it up.
        says = cfg.docker_syntax_error()
        prints = (
            f" (it prints: WARNING: Error parsing config file ({path}): {says})" if says else ""
        )
        message = (
            f"not valid JSON: {cfg.parse_error}; docker ignores the whole file{prints} "
            "and the next docker login overwrites it"
        )
        fix = (
            "edit the file at that position by hand; credhelper never rewrites a file "
            "it cannot parse"
        )
        return [Finding("docker-config.json", ERROR, message, path, fix)], False
    out: list[Finding] = []
    if cfg.trailing_data:
        message = (
            "there is data after the JSON object; docker ignores it, the next docker "
            "login deletes it"
        )
        fix = "remove what follows the closing } by hand"
        out.append(Finding("docker-config.trailing-data", WARNING, message, path, fix))
    if cfg.unrewritable is not None:
        message = (
            f"docker loads it, but credhelper will not rewrite it: {cfg.unrewritable}; "
            "install, migrate and doctor --fix refuse to change it"
        )
        fix = "rewrite the file by hand (or let docker login rewrite it), then run this again"
        out.append(Finding("docker-config.not-rewritable", WARNING, message, path, fix))
    foldable = cfg.writable and not cfg.type_errors
    for what in cfg.duplicate_keys:
        message = (
            f"{what}: docker reads only the last (maps merge), which is easy to misread "
            "and its next rewrite keeps one"
        )
        fix = f"{FIX_COMMAND} (folds them into one key, as docker reads them)"
        fold = Step.FOLD_DUPLICATES if foldable else None
        id_ = "docker-config.duplicate-key"
        out.append(Finding(id_, WARNING, message, path, fix, foldable, remedy=fold))
    fix = "correct that value's type by hand (credhelper never rewrites a file docker cannot load)"
    for error in cfg.type_errors:
        message = f"docker cannot load it: {error}"
        out.append(Finding("docker-config.type", ERROR, message, path, fix))
    return out, not cfg.type_errors


def _import_remedy(
    cfg: DockerConfig, check: EntryCheck, username: str, secret: str
) -> ImportLogin | None:
    server = dockerconfig.lookup_key(cfg, check.server)  # a legacy URL key: its host
    if migrate.served_elsewhere(cfg, server) is not None:
        return None  # docker uses another helper's login: this stale copy is not swapped in
    uses = migrate.docker_reads(cfg, server)
    report = migrate.MigrationReport("docker")
    made = migrate.candidate(server, username, secret, report, check, docker_uses=uses)
    return ImportLogin(made) if made is not None else None


def check_leftovers(path: str) -> list[Finding]:
    """Temp files of a killed credhelper write, and backups that hold plaintext."""
    target = os.path.realpath(path)
    out: list[Finding] = []
    temps = backups.stale_temps(target)
    if temps:
        message = (
            f"{len(temps)} temp file(s) left by an interrupted credhelper write next to it "
            f"(they may hold plaintext logins): {', '.join(os.path.basename(t) for t in temps)}"
        )
        fix, clean = f"{FIX_COMMAND} (removes them)", Step.REMOVE_DOCKER_TEMPS
        out.append(
            Finding("docker-config.stale-temp", WARNING, message, path, fix, True, remedy=clean)
        )
    plain = backups.plaintext_backups(target, dockerconfig.raw_holds_credentials)
    if plain:
        message = (
            f"{len(plain)} backup(s) of it hold logins in plaintext (base64 is not "
            f"encryption): {', '.join(os.path.basename(b) for b in plain)}"
        )
        fix = f"{FIX_COMMAND} (seals them with the store key; open with credhelper's key only)"
        seal, id_ = SealBackups(tuple(plain)), "docker-config.plaintext-backup"
        out.append(Finding(id_, WARNING, message, path, fix, True, remedy=seal))
    return out


def check_entry(cfg: DockerConfig, check: EntryCheck, path: str, key_path: str) -> list[Finding]:
    """One login entry of Docker's config: what docker does with it, and the repair."""
    server = check.server
    out: list[Finding] = []
    if check.registry_token is not None:
        message = (
            f"{server}: a registry token is stored in plaintext; docker sends it even with a "
            "credential helper, and no helper can hold one"
        )
        fix = f'remove its "registrytoken" by hand, then: {login_command(server)}'
        id_ = "docker-config.registry-token"
        out.append(Finding(id_, WARNING, message, path, fix, server=server))
    if check.state == AUTH_EMPTY:
        crash = '"auth": "" crashes docker-py (ValueError: not enough values to unpack)'
        fix = f"{FIX_COMMAND} (removes the empty value, leaving docker's usual {{}})"
        out.append(
            _strip("docker-config.auth-empty", WARNING, f"{server}: {crash}", path, fix, check)
        )
    elif check.state == AUTH_PLAINTEXT:
        out.append(_plaintext(cfg, check, path))
    elif check.state in (AUTH_BASE64, AUTH_INVALID, AUTH_BINARY):
        kind = legacy.record_kind(check.auth) if check.auth else None
        if kind is not None:
            out.append(_legacy(cfg, check, kind, path, key_path))
        else:
            out.append(_undecodable(check, path))
    return out


def _plaintext(cfg: DockerConfig, check: EntryCheck, path: str) -> Finding:
    server = check.server
    what = "an identity token" if check.username == TOKEN_USERNAME else "a password"
    said = f"{server}: {what} is stored in plaintext (base64 is not encryption)"
    other = migrate.served_elsewhere(cfg, dockerconfig.lookup_key(cfg, server))
    if other is not None:
        message = f"{said}; docker uses docker-credential-{other} for it, so this copy is stale"
        fix = f"remove it by hand, or move the login: credhelper login {server}"
        return Finding("docker-config.plaintext", WARNING, message, path, fix, server=server)
    assert check.username is not None and check.secret is not None
    remedy = _import_remedy(cfg, check, check.username, check.secret)
    fix = f"{FIX_COMMAND} or credhelper install (moves it into the encrypted store)"
    return Finding("docker-config.plaintext", WARNING, said, path, fix, True, server, remedy)


def _undecodable(check: EntryCheck, path: str) -> Finding:
    server = check.server
    if check.state == AUTH_BINARY:
        message = (
            f"{server}: the auth value decodes to binary data, not user:password; docker "
            "sends it as is and the registry refuses it"
        )
    else:
        message = (
            f"{server}: docker cannot decode the auth value: {check.docker_error} "
            f"(docker prints: WARNING: Error parsing config file ({path}): {check.docker_error})"
        )
    fix = f"{FIX_COMMAND} (removes the value after a backup), then: {login_command(server)}"
    return _strip(f"docker-config.auth-{check.state}", ERROR, message, path, fix, check)


def _legacy(cfg: DockerConfig, check: EntryCheck, kind: str, path: str, key_path: str) -> Finding:
    server = check.server
    name = "openEuler docker" if kind == legacy.OPENEULER else "iSulad"
    docker_says = check.docker_error or "garbage credentials"
    key, key_error = load_legacy_key(key_path)
    if key is not None:
        try:
            creds = legacy.decrypt(check.auth or "", key)
        except legacy.LegacyError as err:
            key_error = f"{key_path} does not decrypt it ({err})"
        else:
            message = (
                f"{server}: an {name} AES-CFB entry (user {creds.username}); {key_path} "
                f"decrypts it; stock docker cannot ({docker_says})"
            )
            fix = f"{FIX_COMMAND} or credhelper migrate --from openeuler (imports it)"
            remedy = _import_remedy(cfg, check, creds.username, creds.password)
            id_ = f"docker-config.legacy-{kind}"
            return Finding(id_, WARNING, message, path, fix, True, server, remedy)
    message = (
        f"{server}: an {name} AES-CFB entry that cannot be decrypted: {key_error}; "
        f"stock docker fails on it ({docker_says})"
    )
    fix = f"{FIX_COMMAND} (removes it; the backup keeps it), then: {login_command(server)}"
    return _strip(f"docker-config.legacy-{kind}-undecryptable", ERROR, message, path, fix, check)


def _strip(
    id_: str, severity: str, message: str, path: str, fix: str, check: EntryCheck
) -> Finding:
    """A finding whose repair removes the entry's credential value (after a backup)."""
    return Finding(id_, severity, message, path, fix, True, check.server, StripEntry(check))
