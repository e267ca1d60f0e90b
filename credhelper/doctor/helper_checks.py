"""Checks of the credential helpers docker calls (`check_helpers`): credhelper's own
executable on PATH and running, credsStore/credHelpers naming missing helpers, Docker
Hub's key, and which helper serves each registry.
"""

from __future__ import annotations

import os
import subprocess
import sys

from credhelper import childenv, childrun, dockerconfig
from credhelper.dockerconfig import HELPER_NAME, DockerConfig
from credhelper.doctor.model import (
    ERROR,
    FIX_COMMAND,
    HELPER_EXE,
    HELPER_NOT_ON_PATH,
    INFO,
    WARNING,
    Context,
    Finding,
)
from credhelper.doctor.remedies import HubAlias, Step, SwitchHelper, UseCredhelper
from credhelper.store import Snapshot


def check_helpers(ctx: Context, snapshot: Snapshot | None) -> list[Finding]:
    """Whether docker can run credhelper, and which helper it runs for each registry."""
    # Go's LookPath, not shutil.which: docker never runs a helper found through an
    # empty or relative PATH entry.
    exe = dockerconfig.which_helper(HELPER_NAME, ctx.search_path)
    cfg = ctx.docker if ctx.docker is not None and ctx.docker.doc is not None else None
    out: list[Finding] = []
    if exe is None:
        referenced = cfg is not None and (
            cfg.creds_store() == HELPER_NAME or HELPER_NAME in cfg.cred_helpers().values()
        )
        message = (
            f"{HELPER_EXE} is not on PATH; docker fails with: error getting credentials - "
            f'err: exec: "{HELPER_EXE}": executable file not found in $PATH'
        )
        severity = ERROR if referenced else WARNING
        out.append(Finding(HELPER_NOT_ON_PATH, severity, message, "$PATH", path_fix()))
    else:
        out.extend(check_helper_runs(exe))
    if ctx.environ.get("DOCKER_AUTH_CONFIG"):
        message = "DOCKER_AUTH_CONFIG is set: docker uses the logins in it before any helper"
        fix = "unset DOCKER_AUTH_CONFIG to use the stored logins"
        out.append(Finding("docker.auth-config-env", INFO, message, "DOCKER_AUTH_CONFIG", fix))
    loaded = ctx.loaded_docker()
    if loaded is None:
        return out
    out.extend(_creds_store(ctx, loaded))
    switched = _cred_helpers(ctx, loaded)
    out.extend(switched)
    out.extend(_hub_alias(ctx.docker_path, loaded))
    out.extend(_routes(ctx, loaded, snapshot, {f.server for f in switched}))
    return out


def _missing_helper(ctx: Context, name: str) -> bool:
    return dockerconfig.which_helper(name, ctx.search_path) is None


def _creds_store(ctx: Context, cfg: DockerConfig) -> list[Finding]:
    path, store_now = ctx.docker_path, cfg.creds_store()
    if store_now == HELPER_NAME:
        return []
    if store_now and _missing_helper(ctx, store_now):
        message = (
            f'"credsStore": "{store_now}" names docker-credential-{store_now}, which is not on '
            "PATH: every docker login/pull/push fails with error getting credentials"
        )
        fix = f'{FIX_COMMAND} (sets "credsStore": "credhelper")'
        return [_sets_creds_store("docker-config.helper-missing", ERROR, message, path, fix)]
    if store_now:
        message = (
            f'"credsStore": "{store_now}": docker keeps logins in '
            f"docker-credential-{store_now}, not in credhelper"
        )
        fix = "credhelper install (switches credsStore to credhelper)"
        return [Finding("docker-config.other-creds-store", WARNING, message, path, fix)]
    auto = "" if cfg.contains_auth() else dockerconfig.auto_store(ctx.search_path)
    where = (
        f"docker picks docker-credential-{auto} by itself"
        if auto
        else "docker keeps logins in config.json as plaintext base64"
    )
    fix = f'{FIX_COMMAND} or credhelper install (sets "credsStore": "credhelper")'
    message = f"no credsStore: {where}"
    return [_sets_creds_store("docker-config.creds-store-unset", WARNING, message, path, fix)]


def _sets_creds_store(id_: str, severity: str, message: str, path: str, fix: str) -> Finding:
    return Finding(id_, severity, message, path, fix, True, remedy=Step.SET_CREDS_STORE)


def _cred_helpers(ctx: Context, cfg: DockerConfig) -> list[Finding]:
    out: list[Finding] = []
    for key, helper in sorted(cfg.cred_helpers().items()):
        if helper == HELPER_NAME or not _missing_helper(ctx, helper):
            continue
        message = (
            f'credHelpers["{key}"] names docker-credential-{helper}, which is not on PATH: '
            "docker fails for that registry"
        )
        fix = f"{FIX_COMMAND} (points it at credhelper)"
        switch, id_ = SwitchHelper(key), "docker-config.helper-missing"
        out.append(Finding(id_, ERROR, message, ctx.docker_path, fix, True, key, switch))
    return out


def _hub_alias(path: str, cfg: DockerConfig) -> list[Finding]:
    helpers_now = cfg.cred_helpers()
    hub = dockerconfig.DOCKER_HUB
    for alias in ("docker.io", "index.docker.io"):
        if alias in helpers_now and hub not in helpers_now:
            message = (
                f'credHelpers["{alias}"] is used by skopeo/podman only: the docker CLI looks '
                f'up Docker Hub as "{hub}"'
            )
            fix = f'{FIX_COMMAND} (adds credHelpers["{hub}"] = "{helpers_now[alias]}")'
            add = HubAlias(alias)
            return [Finding("docker-config.hub-key", WARNING, message, path, fix, True, remedy=add)]
    return []


def _routes(
    ctx: Context, cfg: DockerConfig, snapshot: Snapshot | None, switched: set[str | None]
) -> list[Finding]:
    """Which helper docker calls for every registry it or credhelper knows; `switched`:
    credHelpers keys already pointed back at credhelper by _cred_helpers."""
    path = ctx.docker_path
    stored = set(snapshot.auths) if snapshot is not None else set()
    out: list[Finding] = []
    for server in sorted(stored | set(cfg.auths()) | set(cfg.cred_helpers())):
        helper, why = dockerconfig.helper_for(cfg, server, ctx.search_path)
        # Said once per line: the line already starts with the server.
        why = "its credHelpers entry" if why == f'credHelpers["{server}"]' else why
        shown = f"docker-credential-{helper}" if helper else "config.json itself"
        message = f"{server}: docker uses {shown} ({why})"
        out.append(Finding("helper.route", INFO, message, path, "", server=server))
        if server in stored and helper and helper != HELPER_NAME and server not in switched:
            message = (
                f"{server}: credhelper holds a login, but docker calls "
                f"docker-credential-{helper} ({why})"
            )
            fix = f"{FIX_COMMAND} (adds credHelpers[{server!r}] = credhelper)"
            use = UseCredhelper(server)
            out.append(Finding("helper.overridden", WARNING, message, path, fix, True, server, use))
    return out


def check_helper_runs(exe: str) -> list[Finding]:
    """`exe version` runs and is this credhelper's version."""
    try:
        proc = childrun.run(
            [exe, "version"],
            stdin=subprocess.DEVNULL,
            # `version` needs nothing of ours: not the key nor DOCKER_AUTH_CONFIG.
            env=childenv.minimal(),
            timeout=30,
        )
        ok = proc.returncode == 0 and proc.stdout.startswith(HELPER_EXE.encode())
        detail = proc.stdout.decode("utf-8", "replace").strip()[:200]
    except (OSError, subprocess.TimeoutExpired) as err:
        ok, detail = False, str(err)
    if not ok:
        message = f"{exe} does not run ({detail or 'no output'})"
        return [Finding("helper.broken", ERROR, message, exe, "reinstall credhelper")]
    from credhelper import __version__

    theirs = detail.split()[-1] if detail.split() else ""
    if theirs == __version__:
        return []
    message = (
        f"docker runs {exe}, version {theirs or 'unknown'}, but this credhelper is "
        f"{__version__}: another installation comes first on PATH"
    )
    fix = "remove the other installation or reorder PATH"
    return [Finding("helper.version-mismatch", WARNING, message, exe, fix)]


def path_fix() -> str:
    """Name the directory to add: where this credhelper's own helper executable is."""
    here = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0] or sys.executable)), HELPER_EXE)
    if os.path.isfile(here) and os.access(here, os.X_OK):
        directory = os.path.dirname(here)
        return f'add {directory} to PATH (export PATH="{directory}:$PATH"), or run scripts/install'
    return "run scripts/install (links docker-credential-credhelper into a directory on PATH)"
