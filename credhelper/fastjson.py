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
    return scan(s, idx)  # type: ignore[no-any-return]


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


def _flat(value: Any, quote: Any, colon: str, comma: str) -> str | None:
    """A dict of str -> str the way json.dumps writes it on one line, else None."""
    if type(value) is not dict:
        return None
    parts = []
    for key, item in value.items():
        if type(key) is not str or type(item) is not str:
            return None
        parts.append(quote(key) + colon + quote(item))
    return "{" + comma.join(parts) + "}"


def _indented(value: Any, quote: Any, indent: str, depth: int) -> str | None:
    """json.dumps(value, indent=...) for plain JSON types, else None."""
    kind = type(value)
    if kind is str:
        return quote(value)  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if (kind is not dict and kind is not list) or depth >= _MAX_DEPTH:
        return None
    if not value:
        return "{}" if kind is dict else "[]"
    inner = "\n" + indent * (depth + 1)
    parts = []
    if kind is dict:
        for key, item in value.items():
            text = _indented(item, quote, indent, depth + 1) if type(key) is str else None
            if text is None:
                return None
            parts.append(quote(key) + ": " + text)
        return "{" + inner + ("," + inner).join(parts) + "\n" + indent * depth + "}"
    for item in value:
        text = _indented(item, quote, indent, depth + 1)
        if text is None:
            return None
        parts.append(text)
    return "[" + inner + ("," + inner).join(parts) + "\n" + indent * depth + "]"


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps(obj, ...): the same text; unusual arguments or types go to json."""
    if _quote is not None:
        text = _fast_dumps(obj, dict(kwargs))
        if text is not None:
            return text
    return _stdlib().dumps(obj, **kwargs)  # type: ignore[no-any-return]


def _fast_dumps(obj: Any, kwargs: dict[str, Any]) -> str | None:
    ensure_ascii = kwargs.pop("ensure_ascii", True)
    quote = _quote_ascii if ensure_ascii else _quote
    if "indent" in kwargs:
        indent = kwargs.pop("indent")
        if kwargs or type(indent) is not int or indent < 0:
            return None
        return _indented(obj, quote, " " * indent, 0)
    separators = kwargs.pop("separators", (", ", ": "))
    if kwargs or type(separators) is not tuple or len(separators) != 2:
        return None
    comma, colon = separators
    if type(comma) is not str or type(colon) is not str:
        return None
    return _flat(obj, quote, colon, comma)
