"""The views of a text that `credhelper.redact` searches for a secret, and run decodings.

A view is the text as some web stack may have re-spelled it (HTML-unescaped,
percent-decoded, backslash-unescaped, chains of these, whitespace removed), each
character carrying the span of the original text it came from, so that a match
found in a view masks the right characters of the original.
`b64_decodings`/`hex_decodings` read what an encoded-looking run may say, in
UTF-8, Latin-1 and UTF-16 (LE, BE, either byte alignment).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import json
import re
from collections.abc import Callable, Iterable

Span = tuple[int, int]
View = tuple[str, list[Span]]

# The pattern html.unescape uses, so a view equals html.unescape of the text.
_ENTITY = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_BACKSLASH = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\[nrtbf\"\\/']"
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _identity(text: str) -> View:
    return text, [(i, i + 1) for i in range(len(text))]


def _percent_run(token: str) -> Iterable[tuple[str, int]]:
    """(characters, bytes consumed) for a run of %XX, decoded as urllib.parse.unquote does."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    data = bytes.fromhex(token.replace("%", ""))
    pending = 0
    for index in range(len(data)):
        pending += 1
        out = decoder.decode(data[index : index + 1], final=index == len(data) - 1)
        if out:
            yield out, pending
            pending = 0


def _decode(view: View, pattern: re.Pattern[str], replace: Callable[[str], str]) -> View:
    """`view` with each match of `pattern` replaced; each new character keeps its source."""
    text, spans = view
    out: list[str] = []
    out_spans: list[Span] = []
    pos = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        out.append(text[pos:start])
        out_spans += spans[pos:start]
        if pattern is _PERCENT:
            offset = start
            for chars, used in _percent_run(match.group(0)):
                source = (spans[offset][0], spans[offset + 3 * used - 1][1])
                out.append(chars)
                out_spans += [source] * len(chars)
                offset += 3 * used
        else:
            chars = replace(match.group(0))
            out.append(chars)
            out_spans += [(spans[start][0], spans[end - 1][1])] * len(chars)
        pos = end
    out.append(text[pos:])
    out_spans += spans[pos:]
    return "".join(out), out_spans


def _backslash(token: str) -> str:
    if token.startswith(("\\u", "\\x")):
        try:
            return str(json.loads('"' + token.replace("\\x", "\\u00") + '"'))
        except ValueError:
            return token
    return _ESCAPES.get(token[1], token[1])


def _html(view: View) -> View:
    return _decode(view, _ENTITY, html.unescape)


def _pct(view: View) -> View:
    return _decode(view, _PERCENT, str)


def _plus(view: View) -> View:
    return _pct(_decode(view, re.compile(r"\+"), lambda _: " "))


def _json(view: View) -> View:
    return _decode(view, _BACKSLASH, _backslash)


_CHAINS: tuple[tuple[Callable[[View], View], ...], ...] = (
    (),
    (_html,),
    (_pct,),
    (_plus,),
    (_json,),
    (_html, _pct),
    (_pct, _html),
    (_html, _plus),
    (_pct, _pct),
    (_json, _html),
    (_json, _pct),
)


def _stripped(view: View) -> View:
    """`view` without whitespace (a wrapped echo) and NULs (UTF-16 read byte by byte)."""
    text, spans = view
    keep = [i for i, ch in enumerate(text) if not ch.isspace() and ch != "\x00"]
    return "".join(text[i] for i in keep), [spans[i] for i in keep]


def views(text: str) -> list[View]:
    """Every view of `text`, each character with the span of `text` it came from."""
    out: list[View] = []
    seen: set[str] = set()
    for chain in _CHAINS:
        view = _identity(text)
        for step in chain:
            view = step(view)
        for each in (view, _stripped(view)):
            if each[0] not in seen:  # a chain that changed nothing adds no view
                seen.add(each[0])
                out.append(each)
    return out


# ---------------------------------------------------------------- decodings


def b64_decodings(run: str) -> list[str]:
    """What a base64-looking run may say: both alphabets, any start alignment, any padding."""
    run = run.replace("-", "+").replace("_", "/")
    out = []
    for shift in range(4):
        part = run[shift:]
        # A last group of 2 or 3 characters is 1 or 2 bytes (padding may be left off).
        part = part[:-1] if len(part) % 4 == 1 else part + "=" * (-len(part) % 4)
        if not part:
            continue
        try:
            out += texts(base64.b64decode(part))
        except (binascii.Error, ValueError):
            continue
    return out


def hex_decodings(run: str) -> list[str]:
    """What a hex-looking run may say (either start alignment), as texts() reads bytes."""
    out = []
    for shift in range(2):
        part = run[shift:]
        part = part[: len(part) - len(part) % 2]
        out += texts(bytes.fromhex(part))
    return out


def texts(data: bytes) -> list[str]:
    """`data` read as UTF-8, Latin-1, and UTF-16 LE and BE from its first and second byte."""
    out = [data.decode("utf-8", "replace"), data.decode("latin-1")]
    if len(data) >= 4:  # shorter is under 2 characters of UTF-16: less than any run
        for start in (0, 1):
            part = data[start : len(data) - (len(data) - start) % 2]
            out += [part.decode("utf-16-le", "replace"), part.decode("utf-16-be", "replace")]
    return out
