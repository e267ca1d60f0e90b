"""Checks of the credential helpers docker calls: credhelper's own executable on PATH
and running, credsStore/credHelpers naming missing helpers, and which helper serves
each registry.
"""

from __future__ import annotations

import os
import subprocess
import sys

from credhelper import childenv, dockerconfig
from credhelper.dockerconfig import HELPER_NAME
from credhelper.doctor.base import ERROR, FIX_COMMAND, HELPER_EXE, INFO, WARNING, DoctorBase


class HelperChecks(DoctorBase):
    """Which helper docker runs for each registry, and whether it can run it."""

    def check_helpers(self) -> None:
        # Go's LookPath, not shutil.which: docker never runs a helper found through an
        # empty or relative PATH entry.
        exe = dockerconfig.which_helper(HELPER_NAME, self.search_path)
        self.helper_found = exe is not None
        cfg = self.cfg if self.cfg is not None and self.cfg.doc is not None else None
        referenced = cfg is not None and (
            cfg.creds_store() == HELPER_NAME or HELPER_NAME in cfg.cred_helpers().values()
        )
        if exe is None:
            self.add(
                "helper.not-on-path",
                ERROR if referenced else WARNING,
                f"{HELPER_EXE} is not on PATH; docker fails with: error getting credentials - "
                f'err: exec: "{HELPER_EXE}": executable file not found in $PATH',
                "$PATH",
                _path_fix(),
            )
        else:
            self._check_helper_runs(exe)
        if os.environ.get("DOCKER_AUTH_CONFIG"):
            self.add(
                "docker.auth-config-env",
                INFO,
                "DOCKER_AUTH_CONFIG is set: docker uses the logins in it before any helper",
                "DOCKER_AUTH_CONFIG",
                "unset DOCKER_AUTH_CONFIG to use the stored logins",
            )
        if cfg is None or self.cfg is None or self.cfg.type_errors:
            return
        self._check_creds_store(cfg)
        self._check_cred_helpers(cfg)
        self._check_hub_alias(cfg)
        self._check_routes(cfg)

    def _check_creds_store(self, cfg: dockerconfig.DockerConfig) -> None:
        path = self.docker_path
        store_now = cfg.creds_store()
        if store_now and store_now != HELPER_NAME:
            if dockerconfig.which_helper(store_now, self.search_path) is None:
                self.add(
                    "docker-config.helper-missing",
                    ERROR,
                    f'"credsStore": "{store_now}" names docker-credential-{store_now}, which is '
                    "not on PATH: every docker login/pull/push fails with error getting "
                    "credentials",
                    path,
                    f'{FIX_COMMAND} (sets "credsStore": "credhelper")',
                    fixable=True,
                )
                self._set_creds_store = True
            else:
                self.add(
                    "docker-config.other-creds-store",
                    WARNING,
                    f'"credsStore": "{store_now}": docker keeps logins in '
                    f"docker-credential-{store_now}, not in credhelper",
                    path,
                    "credhelper install (switches credsStore to credhelper)",
                )
        elif not store_now:
            auto = "" if cfg.contains_auth() else dockerconfig.auto_store(self.search_path)
            where = (
                f"docker picks docker-credential-{auto} by itself"
                if auto
                else "docker keeps logins in config.json as plaintext base64"
            )
            self.add(
                "docker-config.creds-store-unset",
                WARNING,
                f"no credsStore: {where}",
                path,
                f'{FIX_COMMAND} or credhelper install (sets "credsStore": "credhelper")',
                fixable=True,
            )
            self._set_creds_store = True

    def _check_cred_helpers(self, cfg: dockerconfig.DockerConfig) -> None:
        path = self.docker_path
        for key, helper in sorted(cfg.cred_helpers().items()):
            if (
                helper != HELPER_NAME
                and dockerconfig.which_helper(helper, self.search_path) is None
            ):
                self.add(
                    "docker-config.helper-missing",
                    ERROR,
                    f'credHelpers["{key}"] names docker-credential-{helper}, which is not on '
                    f"PATH: docker fails for {key}",
                    path,
                    f"{FIX_COMMAND} (points it at credhelper)",
                    fixable=True,
                    server=key,
                )
                self._helper_switch.append(key)

    def _check_hub_alias(self, cfg: dockerconfig.DockerConfig) -> None:
        path = self.docker_path
        helpers_now = cfg.cred_helpers()
        for alias in ("docker.io", "index.docker.io"):
            if alias in helpers_now and dockerconfig.DOCKER_HUB not in helpers_now:
                self.add(
                    "docker-config.hub-key",
                    WARNING,
                    f'credHelpers["{alias}"] is used by skopeo/podman only: the docker CLI looks '
                    f'up Docker Hub as "{dockerconfig.DOCKER_HUB}"',
                    path,
                    f'{FIX_COMMAND} (adds credHelpers["{dockerconfig.DOCKER_HUB}"] = '
                    f'"{helpers_now[alias]}")',
                    fixable=True,
                )
                self._hub_alias = alias
                break

    def _check_routes(self, cfg: dockerconfig.DockerConfig) -> None:
        """Which helper docker calls for every registry it or credhelper knows."""
        path = self.docker_path
        stored = set(self.snapshot.auths) if self.snapshot is not None else set()
        registries = sorted(stored | set(cfg.auths()) | set(cfg.cred_helpers()))
        for server in registries:
            helper, why = dockerconfig.helper_for(cfg, server, self.search_path)
            shown = f"docker-credential-{helper}" if helper else "config.json itself"
            self.add(
                "helper.route",
                INFO,
                f"{server}: docker uses {shown} ({why})",
                path,
                "",
                server=server,
            )
            if server in stored and helper and helper != HELPER_NAME:
                if server in self._helper_switch:
                    continue
                self.add(
                    "helper.overridden",
                    WARNING,
                    f"{server}: credhelper holds a login, but docker calls "
                    f"docker-credential-{helper} ({why})",
                    path,
                    f"{FIX_COMMAND} (adds credHelpers[{server!r}] = credhelper)",
                    fixable=True,
                    server=server,
                )
                self._use_credhelper.append(server)

    def _check_helper_runs(self, exe: str) -> None:
        try:
            proc = subprocess.run(
                [exe, "version"],
                stdin=subprocess.DEVNULL,
                # `version` needs nothing of ours: not the key nor DOCKER_AUTH_CONFIG.
                env=childenv.minimal(),
                capture_output=True,
                timeout=30,
                check=False,
            )
            ok = proc.returncode == 0 and proc.stdout.startswith(HELPER_EXE.encode())
            detail = proc.stdout.decode("utf-8", "replace").strip()[:200]
        except (OSError, subprocess.TimeoutExpired) as err:
            ok, detail = False, str(err)
        if not ok:
            self.add(
                "helper.broken",
                ERROR,
                f"{exe} does not run ({detail or 'no output'})",
                exe,
                "reinstall credhelper",
            )
            return
        from credhelper import __version__

        theirs = detail.split()[-1] if detail.split() else ""
        if theirs != __version__:
            self.add(
                "helper.version-mismatch",
                WARNING,
                f"docker runs {exe}, version {theirs or 'unknown'}, but this credhelper is "
                f"{__version__}: another installation comes first on PATH",
                exe,
                "remove the other installation or reorder PATH",
            )


def _path_fix() -> str:
    """Name the directory to add: where this credhelper's own helper executable is."""
    here = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0] or sys.executable)), HELPER_EXE)
    if os.path.isfile(here) and os.access(here, os.X_OK):
        directory = os.path.dirname(here)
        return f'add {directory} to PATH (export PATH="{directory}:$PATH"), or run scripts/install'
    return "run scripts/install (links docker-credential-credhelper into a directory on PATH)"
