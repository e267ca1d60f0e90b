"""`json.loads`/`json.dumps` for the hot path, without importing the `json` package.

`import json` costs the `re`, `enum`, `functools` and `collections` imports (about
8 ms of a ~20 ms `get`), all for a regular expression that skips whitespace. The
parsing and string escaping that `json` itself uses live in the C extension
`_json`; this module calls those very functions (tests/test_fastpaths.py proves
they are the objects `json` uses, and that every result equals `json`'s).

The rule that keeps answers identical: the fast path only ever *returns* a
value that `json` would return; anything it does not handle (an error, a type
other than the plain JSON ones, a keyword it does not know, no `_json` at all in
some future Python) goes to the real `json`, imported then. So every error,
message and exception class is `json`'s own. Modules use it as
`from credhelper import fastjson as json` and keep writing `json.loads(...)`.
"""

from __future__ import annotations

import gc  # built in: nothing to load

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy only: `typing` itself costs milliseconds at start-up
    from typing import Any


def _private() -> tuple[Any, Any, Any]:
    """CPython's C functions behind json (a private module: guarded, json is the fallback)."""
    try:
        import _json

        return _json.encode_basestring, _json.encode_basestring_ascii, _json.make_scanner
    except (ImportError, AttributeError):  # tests/test_fastpaths.py runs this path
        return None, None, None


_quote, _quote_ascii, _make_scanner = _private()
_SPACE = " \t\n\r"  # json's WHITESPACE
_BIG = 1 << 16  # documents this long (a store of a few hundred entries) pause the GC
_MAX_DEPTH = 64  # deeper documents (or cycles) take the slow path, which reports them
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """The attributes `_json.make_scanner` reads from a JSONDecoder (its defaults)."""

    __slots__ = (
        "memo",
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(self, object_pairs_hook: Any = None, parse_constant: Any = None) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = object_pairs_hook
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = parse_constant or _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


_scan = _make_scanner(_Context()) if _make_scanner is not None else None


def _stdlib() -> Any:
    import json  # the slow path: errors, unusual arguments, no _json

    return json


def __getattr__(name: str) -> Any:
    """Everything else (`JSONDecodeError`, `JSONDecoder`, ...) is json's own object."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_stdlib(), name)


def _text(s: Any) -> str | None:
    """`s` as json.loads would decode it, or None to let json.loads handle it."""
    if type(s) is str:
        return None if s.startswith("\ufeff") else s
    if type(s) is bytes and s[:1] == b"{" and s[1:2] != b"\x00":
        # json.detect_encoding gives UTF-8 for a document that starts with "{"
        # followed by a non-NUL byte (no BOM can start that way).
        try:
            return s.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
    return None


def _decode(s: str, scan: Any, idx: int) -> tuple[Any, int]:
    if s[idx : idx + 1] in ("", " ", "\t", "\n", "\r"):
        idx = len(s) - len(s[idx:].lstrip(_SPACE))
    # Building a big store's thousands of dicts would trigger cyclic garbage
    # collections that find nothing (parsed JSON has no cycles): ~10% of a
    # 10,000-entry `get`. Collection resumes as before once the scan is done.
    if len(s) < _BIG or not gc.isenabled():
        return scan(s, idx)  # type: ignore[no-any-return]
    gc.disable()
    try:
        return scan(s, idx)  # type: ignore[no-any-return]
    finally:
        gc.enable()


def loads(s: Any, **kwargs: Any) -> Any:
    """json.loads(s): the same value, or json's own exception."""
    text = _text(s) if _scan is not None and not kwargs else None
    if text is not None:
        try:
            value, end = _decode(text, _scan, 0)
            if end == len(text) or not text[end:].strip(_SPACE):
                return value
        except Exception:  # noqa: S110 - json below raises the real error
            pass
    return _stdlib().loads(s, **kwargs)


def raw_decode(body: str, object_pairs_hook: Any, parse_constant: Any) -> tuple[Any, int]:
    """json.JSONDecoder(object_pairs_hook=..., parse_constant=...).raw_decode(body)."""
    if _make_scanner is not None and type(body) is str:
        try:
            return _make_scanner(_Context(object_pairs_hook, parse_constant))(body, 0)  # type: ignore[no-any-return]
        except Exception:  # noqa: S110 - json below raises the real error
            pass
    decoder = _stdlib().JSONDecoder(
        object_pairs_hook=object_pairs_hook, parse_constant=parse_constant
    )
    return decoder.raw_decode(body)  # type: ignore[no-any-return]


class _Encoder:
    """json.dumps for plain JSON types (exact str/int/bool/None/list/dict, str keys)."""

    __slots__ = ("colon", "comma", "indent", "quote", "sort")

    def __init__(self, quote: Any, indent: str | None, comma: str, colon: str, sort: bool) -> None:
        self.quote, self.indent, self.comma, self.colon, self.sort = (
            quote,
            indent,
            comma,
            colon,
            sort,
        )

    def encode(self, value: Any, depth: int) -> str | None:
        """The text json.dumps would write, or None for anything it does not handle."""
        kind = type(value)
        if kind is str:
            return self.quote(value)  # type: ignore[no-any-return]
        if value is None:
            return "null"
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return int.__repr__(value)
        if (kind is not dict and kind is not list) or depth >= _MAX_DEPTH:
            return None  # floats, tuples, subclasses, cycles: json decides
        if not value:
            return "{}" if kind is dict else "[]"
        parts = []
        if kind is dict:
            items = sorted(value.items()) if self.sort else value.items()
            quote, colon = self.quote, self.colon
            for key, item in items:
                if type(key) is not str:
                    return None
                # Strings and ints inline: a store's entries are flat objects of
                # them, and a call per value was most of rendering 1,000 entries.
                vtype = type(item)
                if vtype is str:
                    text = quote(item)
                elif vtype is int:
                    text = int.__repr__(item)
                else:
                    text = self.encode(item, depth + 1)
                    if text is None:
                        return None
                parts.append(quote(key) + colon + text)
        else:
            for item in value:
                text = self.encode(item, depth + 1)
                if text is None:
                    return None
                parts.append(text)
        opening, closing = ("{", "}") if kind is dict else ("[", "]")
        if self.indent is None:
            return opening + self.comma.join(parts) + closing
        inner = "\n" + self.indent * (depth + 1)
        return (
            opening
            + inner
            + (self.comma + inner).join(parts)
            + "\n"
            + self.indent * depth
            + closing
        )


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps(obj, ...): the same text; unusual arguments or types go to json."""
    if _quote is not None:
        encoder = _encoder(dict(kwargs))
        text = encoder.encode(obj, 0) if encoder is not None else None
        if text is not None:
            return text
    return _stdlib().dumps(obj, **kwargs)  # type: ignore[no-any-return]


def _encoder(kwargs: dict[str, Any]) -> _Encoder | None:
    """An encoder for json.dumps's keyword arguments, or None if they are not all handled."""
    quote = _quote_ascii if kwargs.pop("ensure_ascii", True) else _quote
    sort = bool(kwargs.pop("sort_keys", False))
    indent = kwargs.pop("indent", None)
    if indent is not None:
        if type(indent) is not int or indent < 0:
            return None
        indent = " " * indent
    default = (",", ": ") if indent is not None else (", ", ": ")
    separators = kwargs.pop("separators", None)
    if separators is None:
        separators = default
    if kwargs or type(separators) is not tuple or len(separators) != 2:
        return None
    comma, colon = separators
    if type(comma) is not str or type(colon) is not str:
        return None
    return _Encoder(quote, indent, comma, colon, sort)
