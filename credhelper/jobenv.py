"""What COMMAND of `credhelper exec` inherits: no route to a login outside the job.

Registry clients find logins in more places than DOCKER_CONFIG and
REGISTRY_AUTH_FILE. containers/image (skopeo, podman, buildah) reads, besides
its primary file (REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json):
$XDG_CONFIG_HOME/containers/auth.json (default ~/.config/...), $DOCKER_CONFIG/
config.json (else ~/.docker/config.json) and ~/.dockercfg, and merges them all.
The docker CLI (28.3+) takes DOCKER_AUTH_CONFIG before any helper; helm reads
HELM_REGISTRY_CONFIG.

So COMMAND gets:

- no DOCKER_AUTH_CONFIG and no other key source of credhelper (`DROPPED`);
- a HOME that is a view of the real one: a 0700 directory in the job holding a
  symlink to every entry of the real HOME except ~/.dockercfg, with ~/.config,
  ~/.config/containers and ~/.docker as views of their own that leave out
  containers/auth.json and .docker/config.json. git, ssh (which takes the home
  directory from the password database anyway), caches and tool configs keep
  working through the symlinks; a new file COMMAND creates directly in HOME or in
  one of those views lands in the job and goes with it.
- XDG_CONFIG_HOME: the same kind of view of the caller's XDG_CONFIG_HOME (or of
  ~/.config), and XDG_DATA_HOME, XDG_CACHE_HOME and XDG_STATE_HOME pinned to the
  real locations, so podman's storage, caches and state keep their usual paths.

XDG_RUNTIME_DIR is left alone: the auth.json there is only containers/image's
primary file, which REGISTRY_AUTH_FILE (set to the job's config) replaces, and
the directory also holds podman's run root and the user's agent sockets.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping

# Credential sources of the caller that must not reach COMMAND. The job sets
# its own CREDHELPER_HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE, HELM_REGISTRY_CONFIG
# and key; another key source would override or confuse the job's own key.
DROPPED = (
    "CREDHELPER_AESKEY_FILE",
    "CREDHELPER_OLD_AESKEY",
    "CREDHELPER_OLD_AESKEY_FILE",
    "CREDHELPER_KEYRING_BACKEND",
    "REGISTRY_AUTH_FILE",
    "DOCKER_AUTH_CONFIG",
    "HELM_REGISTRY_CONFIG",
)

# name -> what to leave out inside it (None: leave the entry out altogether).
_Hide = dict[str, "_Hide | None"]
_CONTAINERS: _Hide = {"containers": {"auth.json": None}}
_HOME_HIDE: _Hide = {".dockercfg": None, ".config": _CONTAINERS, ".docker": {"config.json": None}}


def scrubbed(base: Mapping[str, str]) -> dict[str, str]:
    """`base` without the variables in DROPPED."""
    return {k: v for k, v in base.items() if k not in DROPPED}


def _real_home(base: Mapping[str, str]) -> str | None:
    home = base.get("HOME") or ""
    if not home:
        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            return None
    return home if os.path.isabs(home) else None


def _mirror(source: str | None, target: str, hide: _Hide) -> None:
    """Make `target` a 0700 directory of symlinks to `source`'s entries, minus `hide`."""
    os.mkdir(target, 0o700)
    os.chmod(target, 0o700)
    try:
        names = sorted(os.listdir(source)) if source else []
    except OSError:
        names = []  # no such directory, or not readable: an empty view
    for name, inner in hide.items():
        if inner is not None:
            below = os.path.join(source, name) if source else None
            _mirror(
                below if below and os.path.isdir(below) else None, os.path.join(target, name), inner
            )
    for name in names:
        if name not in hide:
            os.symlink(os.path.join(source or "", name), os.path.join(target, name))


def make_views(job_path: str, base: Mapping[str, str]) -> dict[str, str]:
    """Make the job's HOME and XDG_CONFIG_HOME views; returns the variables for COMMAND."""
    real = _real_home(base)
    home = os.path.join(job_path, "home")
    _mirror(real if real and os.path.isdir(real) else None, home, _HOME_HIDE)
    xdg = base.get("XDG_CONFIG_HOME") or ""
    views = {"HOME": home}
    if os.path.isabs(xdg):
        config = os.path.join(job_path, "config")
        _mirror(xdg if os.path.isdir(xdg) else None, config, _CONTAINERS)
        views["XDG_CONFIG_HOME"] = config
    else:
        views["XDG_CONFIG_HOME"] = os.path.join(home, ".config")
    if real:
        for name, default in (
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_CACHE_HOME", ".cache"),
            ("XDG_STATE_HOME", ".local/state"),
        ):
            value = base.get(name) or ""
            views[name] = value if os.path.isabs(value) else os.path.join(real, default)
    return views
