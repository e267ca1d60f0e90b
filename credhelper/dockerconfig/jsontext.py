"""JSON text with its spans: each value of Docker's config keeps its exact source text.

Python's json module gives values, not text: a number beyond the double range
(`1e400`) comes back as inf and cannot be written back. This parser keeps every
value's bytes, every object's pairs in order with duplicates (Go's view), so a
rewrite can copy untouched values verbatim. It runs only on text that Python's
json decoder (with Go's NaN rejection) has already accepted.
"""

from __future__ import annotations

import json.decoder
import re
from typing import Any

OBJECT = "object"
ARRAY = "array"
STRING = "string"
NUMBER = "number"
BOOL = "bool"
NULL = "null"

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]
_LITERALS = {"t": ("true", True), "f": ("false", False), "n": ("null", None)}


class Node:
    """One JSON value: its kind, its decoded form and its exact source text.

    `value` is, by kind: a list of (key, key_text, Node) for an object, a list of
    Node for an array, the decoded str, the number's text, or True/False/None.
    Two nodes are equal when their text is: that is what a rewrite would copy.
    """

    __slots__ = ("kind", "raw", "value")

    def __init__(self, kind: str, value: Any, raw: str) -> None:
        self.kind = kind
        self.value = value
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and (self.kind, self.raw) == (other.kind, other.raw)

    def __hash__(self) -> int:
        return hash((self.kind, self.raw))

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.raw[:40]!r})"

    def pairs(self) -> list[tuple[str, str, Node]]:
        return self.value if self.kind == OBJECT else []


def _skip(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def _value(text: str, pos: int) -> tuple[Node, int]:
    char = text[pos]
    if char == "{":
        return _object(text, pos)
    if char == "[":
        return _array(text, pos)
    if char == '"':
        decoded, end = _scanstring(text, pos + 1, True)
        return Node(STRING, decoded, text[pos:end]), end
    literal = _LITERALS.get(char)
    if literal is not None:
        word, value = literal
        end = pos + len(word)
        return Node(BOOL if value is not None else NULL, value, word), end
    match = _NUMBER.match(text, pos)
    if match is None:
        raise ValueError(f"not JSON at character {pos}")
    return Node(NUMBER, match.group(), match.group()), match.end()


def _object(text: str, start: int) -> tuple[Node, int]:
    pairs: list[tuple[str, str, Node]] = []
    pos = _skip(text, start + 1)
    if text[pos] == "}":
        return Node(OBJECT, pairs, text[start : pos + 1]), pos + 1
    while True:
        key, key_end = _scanstring(text, pos + 1, True)
        key_text = text[pos:key_end]
        pos = _skip(text, _skip(text, key_end) + 1)  # past the colon
        node, pos = _value(text, pos)
        pairs.append((key, key_text, node))
        pos = _skip(text, pos)
        if text[pos] == "}":
            return Node(OBJECT, pairs, text[start : pos + 1]), pos + 1
        pos = _skip(text, pos + 1)  # past the comma


def _array(text: str, start: int) -> tuple[Node, int]:
    items: list[Node] = []
    pos = _skip(text, start + 1)
    if text[pos] == "]":
        return Node(ARRAY, items, text[start : pos + 1]), pos + 1
    while True:
        node, pos = _value(text, pos)
        items.append(node)
        pos = _skip(text, pos)
        if text[pos] == "]":
            return Node(ARRAY, items, text[start : pos + 1]), pos + 1
        pos = _skip(text, pos + 1)


def parse_value(text: str, start: int) -> tuple[Node, int]:
    """The value at `start` (after any whitespace) and the offset just past it."""
    return _value(text, _skip(text, start))
