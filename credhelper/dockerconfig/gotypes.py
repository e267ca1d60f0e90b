"""docker/cli's ConfigFile as Go's encoding/json decodes it: field names, Go types,
the `json: cannot unmarshal ...` errors, and which key of an object a field takes.

Go matches a struct field case-insensitively (with Unicode simple folding) and lets
each matching key in document order overwrite the last, so of `"credsStore"` and a
later `"CredsStore"` docker uses the later one. A map field (`auths`, `credHelpers`)
is filled by every matching key in turn, so `"auths"` and `"Auths"` merge.
"""

from __future__ import annotations

from collections.abc import Callable

from credhelper.dockerconfig.jsontext import ARRAY, NULL, OBJECT, STRING, Node
from credhelper.gojson import go_fold_equal

_STRING = "string"
_MAP_STRING = "map[string]string"
CONFIG_FIELDS: dict[str, str] = {
    "auths": "map[string]types.AuthConfig",
    "HttpHeaders": _MAP_STRING,
    "psFormat": _STRING,
    "imagesFormat": _STRING,
    "networksFormat": _STRING,
    "pluginsFormat": _STRING,
    "volumesFormat": _STRING,
    "statsFormat": _STRING,
    "detachKeys": _STRING,
    "credsStore": _STRING,
    "credHelpers": _MAP_STRING,
    "serviceInspectFormat": _STRING,
    "servicesFormat": _STRING,
    "tasksFormat": _STRING,
    "secretFormat": _STRING,
    "configFormat": _STRING,
    "nodesFormat": _STRING,
    "pruneFilters": "[]string",
    "proxies": "map[string]configfile.ProxyConfig",
    "currentContext": _STRING,
    "cliPluginsExtraDirs": "[]string",
    "plugins": "map[string]map[string]string",
    "aliases": _MAP_STRING,
    "features": _MAP_STRING,
    "experimental": _STRING,
}
AUTH_FIELDS = (
    "username",
    "password",
    "auth",
    "email",
    "serveraddress",
    "identitytoken",
    "registrytoken",
)
# The AuthConfig fields that hold a secret (or a login's name) in the clear: docker
# sends every one of them (registrytoken as the bearer token, even with a helper).
CREDENTIAL_FIELDS = ("auth", "username", "password", "identitytoken", "registrytoken")
PROXY_FIELDS = ("httpProxy", "httpsProxy", "noProxy", "ftpProxy", "allProxy")
# The top-level fields credhelper edits; every other key is copied verbatim.
OWNED_FIELDS = ("auths", "credHelpers", "credsStore")


def field_for(key: str, names: tuple[str, ...] | list[str]) -> str | None:
    """The struct field Go's decoder assigns object key `key` to (exact name first)."""
    if key in names:
        return key
    return next((name for name in names if go_fold_equal(key, name)), None)


def go_kind(node: Node) -> str:
    """The name Go's UnmarshalTypeError gives a JSON value's type."""
    return node.kind


class _TypeCheck:
    """Walks a document in order, collecting the errors Go's decoder reports."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def bad(self, node: Node, struct: str, path: str, gotype: str) -> None:
        self.errors.append(
            f"json: cannot unmarshal {go_kind(node)} into Go struct field "
            f"{struct}.{path} of type {gotype}"
        )

    def string(self, node: Node, struct: str, path: str) -> None:
        if node.kind not in (STRING, NULL):
            self.bad(node, struct, path, _STRING)

    def _object(self, node: Node, path: str, gotype: str) -> bool:
        """True if `node` is an object to look into; null is fine, anything else an error."""
        if node.kind == OBJECT:
            return True
        if node.kind != NULL:
            self.bad(node, "ConfigFile", path, gotype)
        return False

    def map(self, node: Node, path: str, gotype: str, item: Callable[[Node], None]) -> None:
        if self._object(node, path, gotype):
            for _key, _text, sub in node.pairs():
                item(sub)

    def struct(
        self, node: Node, struct: str, path: str, gotype: str, names: tuple[str, ...]
    ) -> None:
        if not self._object(node, path, gotype):
            return
        for key, _text, sub in node.pairs():
            name = field_for(key, names)
            if name is not None:
                self.string(sub, struct, f"{path}.{name}")

    def field(self, name: str, node: Node) -> None:
        gotype = CONFIG_FIELDS[name]
        if gotype == _STRING:
            self.string(node, "ConfigFile", name)
        elif gotype == _MAP_STRING:
            self.map(node, name, gotype, lambda v: self.string(v, "ConfigFile", name))
        elif gotype == "[]string":
            if node.kind == ARRAY:
                for item in node.value:
                    self.string(item, "ConfigFile", name)
            elif node.kind != NULL:
                self.bad(node, "ConfigFile", name, gotype)
        elif name == "auths":
            self.map(
                node,
                name,
                gotype,
                lambda v: self.struct(v, "AuthConfig", "auths", "types.AuthConfig", AUTH_FIELDS),
            )
        elif name == "proxies":
            self.map(
                node,
                name,
                gotype,
                lambda v: self.struct(
                    v, "ProxyConfig", "proxies", "configfile.ProxyConfig", PROXY_FIELDS
                ),
            )
        elif name == "plugins":
            self.map(
                node,
                name,
                gotype,
                lambda v: self.map(
                    v, "plugins", _MAP_STRING, lambda s: self.string(s, "ConfigFile", "plugins")
                ),
            )


_FIELD_NAMES = list(CONFIG_FIELDS)


def type_errors(root: Node) -> list[str]:
    """The `json: cannot unmarshal …` errors Go's decoder reports, in document order."""
    if root.kind == NULL:
        return []
    if root.kind != OBJECT:
        return [
            f"json: cannot unmarshal {go_kind(root)} into Go value of type configfile.ConfigFile"
        ]
    check = _TypeCheck()
    for key, _text, node in root.pairs():
        name = field_for(key, _FIELD_NAMES)
        if name is not None:
            check.field(name, node)
    return check.errors


def case_variants(obj: Node, names: tuple[str, ...] | list[str]) -> list[tuple[str, list[str]]]:
    """Struct fields that more than one key of `obj` sets: (field, keys as written)."""
    seen: dict[str, list[str]] = {}
    for key, _text, _node in obj.pairs():
        name = field_for(key, names)
        if name is not None:
            seen.setdefault(name, []).append(key)
    return [(name, keys) for name, keys in seen.items() if len(keys) > 1]
