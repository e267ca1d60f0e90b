"""The JSON object a `--json` report prints, read off the report object's attributes.

Each report class lists its fields once, in output order, as attribute names;
the JSON key is the camelCase of the name (`old_key_id` -> `oldKeyId`) unless
the entry says `jsonKey=attribute`. So the spelling of a key cannot drift from
its field, and a report's `as_dict` is one line instead of a literal per class.
"""

from __future__ import annotations

from typing import Any


def camel(name: str) -> str:
    """`needs_login` -> `needsLogin`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def fields_dict(obj: object, fields: str) -> dict[str, Any]:
    """{key: obj.attribute} for each space-separated `attribute` or `key=attribute`."""
    out: dict[str, Any] = {}
    for field in fields.split():
        key, _, attribute = field.rpartition("=")
        out[key or camel(attribute)] = getattr(obj, attribute)
    return out
