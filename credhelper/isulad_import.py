"""`credhelper migrate --from isulad`: iSulad's auths.json (AES-CFB under its aeskey)
into the encrypted store, through migrate.py's import steps; the file is left as is.
"""

from __future__ import annotations

import os

from credhelper import dockerconfig, legacy
from credhelper.migrate import (
    Candidate,
    MigrateError,
    MigrationReport,
    candidate,
    import_candidates,
    isulad_server,
    rewrite_docker_config,
)


def migrate_isulad(
    isulad_dir: str | None = None, docker_config: str | None = None
) -> MigrationReport:
    """Import iSulad's auths.json; it is left as it is (isula still reads it)."""
    directory = isulad_dir or legacy.isulad_dir_default()
    auths_path = os.path.join(directory, "auths.json")
    report = MigrationReport("isulad", config_path=auths_path)
    cfg = dockerconfig.load(auths_path)
    if not cfg.exists:
        raise MigrateError(f"credhelper: no iSulad credentials at {auths_path}")
    if cfg.doc is None:
        raise MigrateError(f"credhelper: cannot read {auths_path}: {cfg.parse_error}")
    key_path = os.path.join(directory, "aeskey")
    try:
        key = legacy.load_key(key_path)
        key_error = None if key is not None else f"its AES key {key_path} is missing"
    except legacy.LegacyError as err:
        key, key_error = None, str(err)
    candidates: list[Candidate] = []
    for host, entry in cfg.auths().items():
        value = entry.get("auth") if isinstance(entry, dict) else None
        server = isulad_server(host)
        if not isinstance(value, str) or not value:
            continue
        if key is None:
            report.relogin.append((server, f"iSulad entry: {key_error}"))
            continue
        try:
            creds = legacy.decrypt(value, key)
        except legacy.LegacyError as err:
            report.relogin.append((server, f"iSulad entry: {err}"))
            continue
        made = candidate(server, creds.username, creds.password, report)
        if made is not None:
            candidates.append(made)
    held = import_candidates(candidates, report)
    rewrite_docker_config(docker_config, held, report)
    report.notes.append(f"{auths_path} was left unchanged (isula still reads it)")
    return report
