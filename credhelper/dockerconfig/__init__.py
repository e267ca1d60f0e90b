"""Docker's own config.json: read it exactly as docker's Go loader does, merge-write it.

credhelper never keeps secrets here. It writes this file only for install, migrate,
login, logout and doctor --fix, re-rendering only the fields it owns (credsStore,
credHelpers, auths) and copying every other value as written, after a 0600 backup
(sealed with the store key whenever there is one; a file whose bytes hold any
credential value, even one docker does not see, is never backed up in plaintext:
without a key the change is refused; see credhelper.backups).

Modules: jsontext (values with their source text), gotypes (docker's Go types and
field matching), view (the owned fields as docker sees them), model (DockerConfig,
parse, load), render (docker's layout, splicing), write (the locked
read-modify-write), auths (what each login entry is), edit (edits of the view),
routing (which helper docker calls).
"""

from __future__ import annotations

from credhelper.dockerconfig.auths import (
    AUTH_BASE64,
    AUTH_BINARY,
    AUTH_EMPTY,
    AUTH_INVALID,
    AUTH_NONE,
    AUTH_PLAINTEXT,
    AUTH_REGISTRY_TOKEN,
    INVALID_AUTH_MESSAGE,
    EntryCheck,
    check_entries,
    decode_auth,
    holds_credentials,
    lookup_key,
    raw_holds_credentials,
)
from credhelper.dockerconfig.edit import (
    auths_map,
    forget_logins,
    helpers_map,
    set_creds_store_key,
    strip_credentials,
    use_credhelper,
)
from credhelper.dockerconfig.gotypes import AUTH_FIELDS, CREDENTIAL_FIELDS
from credhelper.dockerconfig.model import (
    HELPER_NAME,
    ConfigRefused,
    DockerConfig,
    DockerConfigError,
    default_path,
    go_field,
    go_str,
    load,
    parse,
)
from credhelper.dockerconfig.render import render_value
from credhelper.dockerconfig.routing import auto_store, helper_for, which_helper
from credhelper.dockerconfig.view import shadowed_credentials
from credhelper.dockerconfig.write import (
    LOCK_NAME,
    WriteResult,
    clean_stale_temps,
    ensure_uses_credhelper,
    modify,
    store_sealer,
)
from credhelper.dockernames import DOCKER_HUB, TOKEN_USERNAME

__all__ = [
    "AUTH_BASE64",
    "AUTH_BINARY",
    "AUTH_EMPTY",
    "AUTH_FIELDS",
    "AUTH_INVALID",
    "AUTH_NONE",
    "AUTH_PLAINTEXT",
    "AUTH_REGISTRY_TOKEN",
    "CREDENTIAL_FIELDS",
    "DOCKER_HUB",
    "HELPER_NAME",
    "INVALID_AUTH_MESSAGE",
    "LOCK_NAME",
    "TOKEN_USERNAME",
    "ConfigRefused",
    "DockerConfig",
    "DockerConfigError",
    "EntryCheck",
    "WriteResult",
    "auths_map",
    "auto_store",
    "check_entries",
    "clean_stale_temps",
    "decode_auth",
    "default_path",
    "ensure_uses_credhelper",
    "forget_logins",
    "go_field",
    "go_str",
    "helper_for",
    "helpers_map",
    "holds_credentials",
    "load",
    "lookup_key",
    "modify",
    "parse",
    "raw_holds_credentials",
    "render_value",
    "set_creds_store_key",
    "shadowed_credentials",
    "store_sealer",
    "strip_credentials",
    "use_credhelper",
    "which_helper",
]
