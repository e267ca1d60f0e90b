"""Which credential helper docker calls for a registry, and whether it is on PATH."""

from __future__ import annotations

import os

from credhelper.dockerconfig.model import DockerConfig


def look_path(name: str, search_path: str | None = None) -> str | None:
    """Go's exec.LookPath as docker runs it: the first executable `name` on PATH, or None.

    An empty, `.` or other relative PATH entry that holds it makes Go return
    exec.ErrDot (Go >= 1.19): docker does not run it, so neither is it "found" here.
    """
    path = search_path if search_path is not None else os.environ.get("PATH", "")
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        return candidate if os.path.isabs(candidate) else None
    return None


def which_helper(name: str, search_path: str | None = None) -> str | None:
    return look_path(f"docker-credential-{name}", search_path)


def auto_store(search_path: str | None = None) -> str:
    """docker/cli DetectDefaultStore on Linux: pass if `pass` is on PATH, else secretservice,
    and only if docker-credential-<that> is on PATH too; "" means the plaintext file store."""
    choice = "pass" if look_path("pass", search_path) else "secretservice"
    return choice if which_helper(choice, search_path) else ""


def helper_for(cfg: DockerConfig, key: str, search_path: str | None = None) -> tuple[str, str]:
    """(helper suffix or "" for docker's plaintext file store, why) for registry `key`."""
    helpers = cfg.cred_helpers()
    if key in helpers:
        return helpers[key], f'credHelpers["{key}"]'
    store = cfg.creds_store()
    if store:
        return store, "credsStore"
    if not cfg.contains_auth():
        auto = auto_store(search_path)
        if auto:
            return auto, "docker's automatic choice (no credsStore, credHelpers or auths)"
    return "", "no credsStore or credHelpers entry"
