"""The fields credhelper owns (credsStore, credHelpers, auths) as docker really sees them.

`owned_view` folds every key Go would assign to those fields into one plain value
(the last string wins, maps merge, null resets a map): the dict that edits work on.
Anything else inside them (unknown entry fields, mistyped values) stays a `Node`
and is written back as its own text.
"""

from __future__ import annotations

from typing import Any

from credhelper.dockerconfig.gotypes import (
    AUTH_FIELDS,
    CREDENTIAL_FIELDS,
    OWNED_FIELDS,
    field_for,
)
from credhelper.dockerconfig.jsontext import NULL, OBJECT, STRING, Node


def _entry(node: Node) -> dict[str, Any] | Node:
    """One auths entry: a fresh types.AuthConfig per map key, its fields folded."""
    if node.kind != OBJECT:
        return node
    entry: dict[str, Any] = {}
    for key, _text, sub in node.pairs():
        name = field_for(key, AUTH_FIELDS)
        if name is None:
            entry[key] = sub  # Go ignores it; kept as written
        elif sub.kind == STRING:
            entry[name] = sub.value
        elif sub.kind != NULL:  # a type error: the file is not rewritten anyway
            entry[name] = sub
        # null leaves a Go string as it was
    return entry


def _fold_map(matches: list[Node], item: Any) -> dict[str, Any] | Node | None:
    """Go decoding several keys into one map field: merge, null resets to nil."""
    result: dict[str, Any] | None = None
    for node in matches:
        if node.kind == NULL:
            result = None
        elif node.kind != OBJECT:
            return node
        else:
            result = {} if result is None else result
            for key, _text, sub in node.pairs():
                result[key] = item(sub)
    return result


def _helper(node: Node) -> str | Node:
    if node.kind == STRING:
        return str(node.value)
    return "" if node.kind == NULL else node


def owned_view(root: Node | None) -> dict[str, Any]:
    """{"credsStore": str|None, "credHelpers": {...}, "auths": {...}}, each only if present."""
    matches: dict[str, list[Node]] = {}
    for key, _text, node in root.pairs() if root is not None else []:
        name = field_for(key, OWNED_FIELDS)
        if name is not None:
            matches.setdefault(name, []).append(node)
    view: dict[str, Any] = {}
    if "auths" in matches:
        view["auths"] = _fold_map(matches["auths"], _entry)
    if "credHelpers" in matches:
        view["credHelpers"] = _fold_map(matches["credHelpers"], _helper)
    if "credsStore" in matches:
        strings = [n for n in matches["credsStore"] if n.kind != NULL]
        last = strings[-1] if strings else None
        view["credsStore"] = (last.value if last.kind == STRING else last) if last else None
    return view


def duplicates(root: Node | None) -> list[str]:
    """Owned fields set by more than one key, in words: docker uses what `owned_view` shows."""
    found: list[str] = []
    if root is None:
        return found
    spellings: dict[str, list[str]] = {}
    for key, _text, node in root.pairs():
        name = field_for(key, OWNED_FIELDS)
        if name is None:
            continue
        spellings.setdefault(name, []).append(key)
        if name in ("auths", "credHelpers"):
            found.extend(_inner_duplicates(name, node))
    for name, keys in spellings.items():
        if len(keys) > 1:
            shown = ", ".join(f'"{k}"' for k in keys)
            found.append(f"{name} is set by {len(keys)} keys ({shown})")
    return found


def _inner_duplicates(name: str, node: Node) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for key, _text, sub in node.pairs():
        if key in seen:
            found.append(f'{name}["{key}"] appears twice')
        seen.add(key)
        if name == "auths" and sub.kind == OBJECT:
            fields: dict[str, list[str]] = {}
            for fkey, _t, _n in sub.pairs():
                fname = field_for(fkey, AUTH_FIELDS)
                if fname is not None:
                    fields.setdefault(fname, []).append(fkey)
            for fname, keys in fields.items():
                if len(keys) > 1:
                    found.append(f'auths["{key}"].{fname} is set by {len(keys)} keys')
    return found


Credential = tuple[str, str, str]  # (server, field, value as decoded)


def node_credentials(auths: Node) -> list[Credential]:
    """Every credential value in one raw `auths` object: each duplicate server key and
    each case-variant field key, including those docker's view shadows."""
    found: list[Credential] = []
    for server, _text, entry in auths.pairs():
        for key, _ktext, sub in entry.pairs():
            name = field_for(key, AUTH_FIELDS)
            if name in CREDENTIAL_FIELDS and sub.kind == STRING and sub.value:
                found.append((server, name, sub.value))
    return found


def raw_credentials(root: Node | None) -> list[Credential]:
    """Every credential value in the file's text, under every key Go folds into `auths`."""
    found: list[Credential] = []
    for key, _text, node in root.pairs() if root is not None else []:
        if field_for(key, OWNED_FIELDS) == "auths":
            found.extend(node_credentials(node))
    return found


def view_credentials(auths: Any) -> set[Credential]:
    """The credential values docker's view of `auths` keeps (what docker sees)."""
    found: set[Credential] = set()
    for server, entry in auths.items() if isinstance(auths, dict) else []:
        if isinstance(entry, dict):
            for name in CREDENTIAL_FIELDS:
                value = entry.get(name)
                if isinstance(value, str) and value:
                    found.add((server, name, value))
    return found


def shadowed_credentials(root: Node | None) -> list[Credential]:
    """Credential values in the text that docker never sees (a later duplicate key or
    case variant replaced them, or a null reset the map): plaintext nobody uses."""
    seen = view_credentials(owned_view(root).get("auths"))
    return [cred for cred in raw_credentials(root) if cred not in seen]
