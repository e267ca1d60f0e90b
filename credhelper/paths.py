"""Where credhelper's store, key and lock live, and where Docker's config is.

Every function reads the environment when called (never at import time), so tests
and users can point credhelper elsewhere with CREDHELPER_HOME / DOCKER_CONFIG.
Paths are plain strings: this module is on the `get` hot path, and pathlib would
pull in urllib and ipaddress for nothing.
"""

from __future__ import annotations

import os

STORE_NAME = "config.json"
KEY_NAME = "aeskey"
LOCK_NAME = "config.json.lock"


def docker_config_dir() -> str:
    """Docker's configuration directory, as the docker CLI finds it."""
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".docker")


def docker_config_file() -> str:
    return os.path.join(docker_config_dir(), "config.json")


def store_dir() -> str:
    """$CREDHELPER_HOME, else $DOCKER_CONFIG/credhelper, else ~/.docker/credhelper."""
    env = os.environ.get("CREDHELPER_HOME")
    if env:
        return env
    return os.path.join(docker_config_dir(), "credhelper")
