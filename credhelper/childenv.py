"""The environment of a helper program credhelper runs for itself (`crontab`,
`systemctl`, a scheduled executable asked for its `--version`): an allow-list.

Such a program needs to find its own files and speak the user's language, nothing
more. credhelper's own environment may hold the store key (CREDHELPER_AESKEY),
registry logins (DOCKER_AUTH_CONFIG), a vault token under any spelling; a
deny-list of "secret-looking" names misses some of them, so only the names below
are passed on. Engines (docker, podman, skopeo) and `exec`'s COMMAND are not
helper programs: they get what they need from push.py and jobs.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Locating programs and the user's files, and the user's locale.
_NAMES = ("PATH", "HOME", "LOGNAME", "USER", "LANG", "LANGUAGE", "TZ")


def minimal(extra: tuple[str, ...] = (), base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) reduced to PATH, HOME, the locale and `extra`."""
    source = os.environ if base is None else base
    keep = (*_NAMES, *extra)
    return {k: v for k, v in source.items() if k in keep or k.startswith("LC_")}
