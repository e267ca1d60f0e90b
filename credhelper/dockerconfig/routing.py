"""Which credential helper docker calls for a registry, and whether it is on PATH."""

from __future__ import annotations

import shutil

from credhelper.dockerconfig.model import DockerConfig


def which_helper(name: str, search_path: str | None = None) -> str | None:
    return shutil.which(f"docker-credential-{name}", path=search_path)


def auto_store(search_path: str | None = None) -> str:
    """docker/cli DetectDefaultStore on Linux: pass if `pass` is on PATH, else secretservice,
    and only if docker-credential-<that> is on PATH too; "" means the plaintext file store."""
    choice = "pass" if shutil.which("pass", path=search_path) else "secretservice"
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
