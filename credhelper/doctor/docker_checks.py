"""Checks of what Docker's config.json holds (the file, each login entry, legacy
openEuler docker entries); iSulad's logins are in isulad_checks.
"""

from __future__ import annotations

import os

from credhelper import backups, dockerconfig, legacy, migrate
from credhelper.advice import login_command
from credhelper.dockerconfig import (
    AUTH_BASE64,
    AUTH_BINARY,
    AUTH_EMPTY,
    AUTH_INVALID,
    AUTH_PLAINTEXT,
    EntryCheck,
)
from credhelper.doctor.base import ERROR, FIX_COMMAND, WARNING, _mode
from credhelper.doctor.isulad_checks import IsuladChecks
from credhelper.errors import CredhelperError


class DockerConfigChecks(IsuladChecks):
    """config.json and iSulad's auths.json: what docker (or isula) will find in them."""

    def check_docker_config(self) -> None:
        path = self.docker_path
        try:
            cfg = dockerconfig.load(path)
        except CredhelperError as err:
            self.add("docker-config.unreadable", ERROR, err.message, path, "check the path")
            return
        self.cfg = cfg
        self._check_leftovers(path)
        if not cfg.exists:
            self._check_missing(path)
            return
        self._check_file_mode(path)
        if not self._check_parse(cfg, path):
            return
        self.entries = dockerconfig.check_entries(cfg)
        openeuler_key_path = legacy.openeuler_key_path(os.path.dirname(path) or ".")
        for check in self.entries:
            self._check_entry(check, path, openeuler_key_path)
        self._check_shadowed(cfg, path)

    def _check_shadowed(self, cfg: dockerconfig.DockerConfig, path: str) -> None:
        """Credential text docker never uses (a duplicate key, a case variant, a map
        reset by null) is still plaintext in the file for anyone who reads it."""
        servers = sorted({server for server, _f, _v in dockerconfig.shadowed_credentials(cfg.tree)})
        for server in servers:
            self.add(
                "docker-config.plaintext-shadowed",
                WARNING,
                f"{server}: the file holds credential text docker does not use (a duplicate "
                "or case-variant key); it is still plaintext (base64 is not encryption)",
                path,
                f"{FIX_COMMAND} (rewrites the file as docker reads it, after a sealed backup)",
                fixable=cfg.writable,
                server=server,
            )
        if servers and cfg.writable:
            self._fold_duplicates = True

    def _check_missing(self, path: str) -> None:
        auto = dockerconfig.auto_store(self.search_path)
        where = (
            f"docker picks docker-credential-{auto} by itself"
            if auto
            else "docker will keep logins in it as plaintext base64"
        )
        self.add(
            "docker-config.creds-store-unset",
            WARNING,
            f"Docker's config.json does not exist, so docker does not use credhelper ({where})",
            path,
            f'{FIX_COMMAND} or credhelper install (creates it with "credsStore": "credhelper")',
            fixable=True,
        )
        self._set_creds_store = True

    def _check_file_mode(self, path: str) -> None:
        st = os.stat(path)
        if st.st_uid != os.geteuid():
            self.add(
                "docker-config.owner",
                WARNING,
                f"owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); "
                "docker cannot save logins here",
                path,
                f"sudo chown {os.geteuid()} {path}",
            )
        elif st.st_mode & 0o077:
            self.add(
                "docker-config.mode",
                WARNING,
                f"mode {_mode(st)} lets other users read it (docker writes it 0600)",
                path,
                f"chmod 600 {path}",
                fixable=True,
            )
            self._chmods.append((os.path.realpath(path), 0o600))

    def _check_parse(self, cfg: dockerconfig.DockerConfig, path: str) -> bool:
        """The file as docker's loader reads it; False when docker cannot load it."""
        if cfg.parse_error is not None:
            # Quote docker only where Go's wording is known; never make it up.
            says = cfg.docker_syntax_error()
            prints = (
                f" (it prints: WARNING: Error parsing config file ({path}): {says})" if says else ""
            )
            self.add(
                "docker-config.json",
                ERROR,
                f"not valid JSON: {cfg.parse_error}; docker ignores the whole file{prints} "
                "and the next docker login overwrites it",
                path,
                "edit the file at that position by hand; credhelper never rewrites a file "
                "it cannot parse",
            )
            return False
        if cfg.trailing_data:
            self.add(
                "docker-config.trailing-data",
                WARNING,
                "there is data after the JSON object; docker ignores it, the next docker "
                "login deletes it",
                path,
                "remove what follows the closing } by hand",
            )
        if cfg.unrewritable is not None:
            self.add(
                "docker-config.not-rewritable",
                WARNING,
                f"docker loads it, but credhelper will not rewrite it: {cfg.unrewritable}; "
                "install, migrate and doctor --fix refuse to change it",
                path,
                "rewrite the file by hand (or let docker login rewrite it), then run this again",
            )
        for what in cfg.duplicate_keys:
            self.add(
                "docker-config.duplicate-key",
                WARNING,
                f"{what}: docker reads only the last (maps merge), which is easy to misread "
                "and its next rewrite keeps one",
                path,
                f"{FIX_COMMAND} (folds them into one key, as docker reads them)",
                fixable=not cfg.type_errors and cfg.writable,
            )
            self._fold_duplicates = cfg.writable and not cfg.type_errors
        for message in cfg.type_errors:
            self.add(
                "docker-config.type",
                ERROR,
                f"docker cannot load it: {message}",
                path,
                "correct that value's type by hand (credhelper never rewrites a file "
                "docker cannot load)",
            )
        return not cfg.type_errors

    def _plan_import(self, check: EntryCheck, username: str, secret: str) -> None:
        assert self.cfg is not None
        server = dockerconfig.lookup_key(self.cfg, check.server)  # a legacy URL key: its host
        if migrate.served_elsewhere(self.cfg, server) is not None:
            return  # docker uses another helper's login: this stale copy is not swapped in
        uses = migrate.docker_reads(self.cfg, server)
        report = migrate.MigrationReport("docker")
        made = migrate.candidate(server, username, secret, report, check, docker_uses=uses)
        if made is not None:
            self._imports.append(made)

    def _check_leftovers(self, path: str) -> None:
        """Temp files of a killed credhelper write, and backups that hold plaintext."""
        target = os.path.realpath(path)
        self._docker_temps = backups.stale_temps(target)
        if self._docker_temps:
            self.add(
                "docker-config.stale-temp",
                WARNING,
                f"{len(self._docker_temps)} temp file(s) left by an interrupted credhelper "
                f"write next to it (they may hold plaintext logins): "
                f"{', '.join(os.path.basename(t) for t in self._docker_temps)}",
                path,
                f"{FIX_COMMAND} (removes them)",
                fixable=True,
            )
        self._plain_backups = backups.plaintext_backups(target, _holds_credentials)
        if self._plain_backups:
            self.add(
                "docker-config.plaintext-backup",
                WARNING,
                f"{len(self._plain_backups)} backup(s) of it hold logins in plaintext "
                f"(base64 is not encryption): "
                f"{', '.join(os.path.basename(b) for b in self._plain_backups)}",
                path,
                f"{FIX_COMMAND} (seals them with the store key; open with credhelper's key only)",
                fixable=True,
            )

    def _check_entry(self, check: EntryCheck, path: str, key_path: str) -> None:
        server = check.server
        relogin = login_command(server)
        if check.registry_token is not None:
            self.add(
                "docker-config.registry-token",
                WARNING,
                f"{server}: a registry token is stored in plaintext; docker sends it even "
                "with a credential helper, and no helper can hold one",
                path,
                f'remove its "registrytoken" by hand, then: {relogin}',
                server=server,
            )
        if check.state == AUTH_EMPTY:
            self.add(
                "docker-config.auth-empty",
                WARNING,
                f'{server}: "auth": "" crashes docker-py (ValueError: not enough values to unpack)',
                path,
                f"{FIX_COMMAND} (removes the empty value, leaving docker's usual {{}})",
                fixable=True,
                server=server,
            )
            self._strip.append(check)
            return
        if check.state == AUTH_PLAINTEXT:
            what = "an identity token" if check.username == "<token>" else "a password"
            assert self.cfg is not None
            other = migrate.served_elsewhere(self.cfg, dockerconfig.lookup_key(self.cfg, server))
            if other is not None:
                self.add(
                    "docker-config.plaintext",
                    WARNING,
                    f"{server}: {what} is stored in plaintext (base64 is not encryption); "
                    f"docker uses docker-credential-{other} for it, so this copy is stale",
                    path,
                    f"remove it by hand, or move the login: credhelper login {server}",
                    server=server,
                )
                return
            self.add(
                "docker-config.plaintext",
                WARNING,
                f"{server}: {what} is stored in plaintext (base64 is not encryption)",
                path,
                f"{FIX_COMMAND} or credhelper install (moves it into the encrypted store)",
                fixable=True,
                server=server,
            )
            assert check.username is not None and check.secret is not None
            self._plan_import(check, check.username, check.secret)
            return
        if check.state not in (AUTH_BASE64, AUTH_INVALID, AUTH_BINARY):
            return
        kind = legacy.record_kind(check.auth) if check.auth else None
        if kind is not None:
            self._check_legacy(check, kind, path, key_path)
            return
        if check.state == AUTH_BINARY:
            message = (
                f"{server}: the auth value decodes to binary data, not user:password; docker "
                "sends it as is and the registry refuses it"
            )
        else:
            message = (
                f"{server}: docker cannot decode the auth value: {check.docker_error} "
                f"(docker prints: WARNING: Error parsing config file ({path}): "
                f"{check.docker_error})"
            )
        self.add(
            f"docker-config.auth-{check.state}",
            ERROR,
            message,
            path,
            f"{FIX_COMMAND} (removes the value after a backup), then: {relogin}",
            fixable=True,
            server=server,
        )
        self._strip.append(check)

    def _check_legacy(self, check: EntryCheck, kind: str, path: str, key_path: str) -> None:
        server = check.server
        name = "openEuler docker" if kind == legacy.OPENEULER else "iSulad"
        docker_says = check.docker_error or "garbage credentials"
        try:
            key = legacy.load_key(key_path)
            key_error = None if key is not None else f"its key {key_path} is missing"
        except legacy.LegacyError as err:
            key, key_error = None, str(err)
        if key is not None:
            try:
                creds = legacy.decrypt(check.auth or "", key)
            except legacy.LegacyError as err:
                key_error = f"{key_path} does not decrypt it ({err})"
            else:
                self.add(
                    f"docker-config.legacy-{kind}",
                    WARNING,
                    f"{server}: an {name} AES-CFB entry (user {creds.username}); {key_path} "
                    f"decrypts it; stock docker cannot ({docker_says})",
                    path,
                    f"{FIX_COMMAND} or credhelper migrate --from openeuler (imports it)",
                    fixable=True,
                    server=server,
                )
                self._plan_import(check, creds.username, creds.password)
                return
        self.add(
            f"docker-config.legacy-{kind}-undecryptable",
            ERROR,
            f"{server}: an {name} AES-CFB entry that cannot be decrypted: {key_error}; "
            f"stock docker fails on it ({docker_says})",
            path,
            f"{FIX_COMMAND} (removes it; the backup keeps it), then: {login_command(server)}",
            fixable=True,
            server=server,
        )
        self._strip.append(check)


def _holds_credentials(data: bytes) -> bool:
    # Every raw value counts: a duplicate or case variant docker skips is still plaintext.
    return dockerconfig.raw_holds_credentials(data)
