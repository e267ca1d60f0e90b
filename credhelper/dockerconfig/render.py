"""Write Docker's config back like Go's json.MarshalIndent(c, "", "\\t"), no trailing newline.

A rewrite re-renders the fields credhelper owns from the edited view only when
they changed (or were split over case-variant keys, which it folds into one, as
docker reads them). Every other value is laid out again in docker's format from
its parsed text: numbers keep their exact text (`1e400` stays `1e400`), strings
get Go's escaping (equal in Go's meaning), duplicate keys stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credhelper.dockerconfig.gotypes import OWNED_FIELDS, field_for
from credhelper.dockerconfig.jsontext import ARRAY, OBJECT, STRING, Node
from credhelper.gojson import go_quote

_INDENT = "\t"


def _container(items: list[str], depth: int, open_: str, close: str) -> str:
    if not items:
        return open_ + close
    inner = _INDENT * (depth + 1)
    body = ",\n".join(inner + item for item in items)
    return f"{open_}\n{body}\n{_INDENT * depth}{close}"


def render_value(value: Any, depth: int = 0) -> str:
    """A Python value (dicts, lists, str, bool, None, int) or a Node (as its text)."""
    if isinstance(value, Node):
        return canonical(value, depth)
    if isinstance(value, Mapping):
        items = [f"{go_quote(k)}: {render_value(v, depth + 1)}" for k, v in value.items()]
        return _container(items, depth, "{", "}")
    if isinstance(value, list):
        return _container([render_value(v, depth + 1) for v in value], depth, "[", "]")
    if isinstance(value, str):
        return go_quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"cannot render {type(value).__name__}")


def canonical(node: Node, depth: int = 0) -> str:
    """`node` re-rendered in docker's layout (numbers as written): to tell docker's own files."""
    if node.kind == OBJECT:
        items = [f"{go_quote(k)}: {canonical(v, depth + 1)}" for k, _t, v in node.pairs()]
        return _container(items, depth, "{", "}")
    if node.kind == ARRAY:
        return _container([canonical(v, depth + 1) for v in node.value], depth, "[", "]")
    if node.kind == STRING:
        return go_quote(node.value)
    return node.raw  # numbers keep their text: `1e400` stays `1e400`, never Infinity


def _shadows(name: str, node: Node) -> bool:
    if name != "auths" or node.kind != OBJECT:
        return False
    from credhelper.dockerconfig.view import node_credentials, view_credentials

    seen = view_credentials(owned_view_of_auths(node))
    return any(cred not in seen for cred in node_credentials(node))


def owned_view_of_auths(node: Node) -> Any:
    from credhelper.dockerconfig.view import owned_view

    return owned_view(Node(OBJECT, [("auths", '"auths"', node)], "")).get("auths")


def splice(root: Node | None, before: dict[str, Any], after: dict[str, Any]) -> bytes:
    """The new file: `root`'s pairs with the owned fields replaced by `after`'s values."""
    counts: dict[str, int] = {}
    for key, _text, _node in root.pairs() if root is not None else []:
        name = field_for(key, OWNED_FIELDS)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    items: list[str] = []
    done: set[str] = set()
    for key, _key_text, node in root.pairs() if root is not None else []:
        name = field_for(key, OWNED_FIELDS)
        if name is None:
            items.append(f"{go_quote(key)}: {canonical(node, 1)}")
            continue
        if name not in after or name in done:
            continue
        # Credential text docker never sees (a shadowed case variant) is dropped
        # by re-rendering, as docker's own rewrite drops it.
        if counts[name] == 1 and before.get(name) == after[name] and not _shadows(name, node):
            items.append(f"{go_quote(key)}: {canonical(node, 1)}")
        else:
            items.append(f"{go_quote(name)}: {render_value(after[name], 1)}")
        done.add(name)
    for name, value in after.items():
        if name not in counts:
            items.append(f"{go_quote(name)}: {render_value(value, 1)}")
    return _container(items, 0, "{", "}").encode("utf-8")
