"""Masking a secret out of text a server sent back, before that text is shortened or shown.

A registry, proxy or token server that echoes the request (the password, the
Authorization header, the form body) must not make credhelper print the secret,
whole or in part, in any spelling. Listing spellings cannot be complete (every web
stack escapes differently), so the text is looked at through *views*: the text as
is, HTML-unescaped, percent-decoded (any hex case, with and without `+` as space),
backslash-unescaped (JSON, C), a few of these chained, and each of those with all
whitespace removed (a line-wrapped echo). In every view, every run of at least
`run_length(secret)` characters that the view shares with the secret is masked in
the original text (each view character remembers where in the text it came
from), and every base64- or hex-looking run (whitespace inside allowed) that
decodes to such a run is masked whole. Masking repeats until no view changes;
the text is then made one line, control characters become `?` (no terminal
escapes), it is cut to length, and checked once more: if any view of what would
be printed still shares such a run with the secret, no server text is printed at
all, only WITHHELD.

One exception keeps ordinary messages readable: a run that is exactly one word
of BOILERPLATE ("password", "username", ...) standing alone is left as it is.
Secrets shorter than MIN_SECRET characters are not masked: masking them would
mangle ordinary words, and such a secret offers no protection anyway.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import json
import re
from collections.abc import Callable, Iterable

MASK = "***"
MIN_SECRET = 3
MAX_TEXT = 200
# The longest piece of a secret that may still be shown (a run this long is masked).
RUN = 8
# Only this much of a body is examined: the message shows MAX_TEXT characters.
MAX_SCAN = 8192
WITHHELD = "(response body withheld: it echoed the credentials)"
# A run of the secret that is exactly one of these words, standing alone in the
# text, is the server's own wording ("invalid username or password" for the
# password "wrong-password"), not an echo: it tells nobody more than the word.
BOILERPLATE = frozenset(
    [
        "password",
        "passwd",
        "passphrase",
        "username",
        "user",
        "login",
        "token",
        "secret",
        "credentials",
        "credential",
        "invalid",
        "incorrect",
        "unauthorized",
        "authentication",
        "authorization",
        "required",
        "denied",
        "access",
        "failed",
        "error",
        "registry",
        "docker",
    ]
)

Span = tuple[int, int]
View = tuple[str, list[Span]]

# The pattern html.unescape uses, so a view equals html.unescape of the text.
_ENTITY = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_BACKSLASH = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\[nrtbf\"\\/']"
)
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]+")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{6,}")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def run_length(secret: str) -> int:
    """How many characters of `secret` in a row are masked: half of it, 3 to RUN.

    Half of the secret without its whitespace, so its whitespace-collapsed spelling
    (how a one-line message shows it) is never shorter than a run.
    """
    return max(MIN_SECRET, min(RUN, (len("".join(secret.split())) + 1) // 2))


def _spellings(secret: str) -> set[str]:
    plain = {secret, " ".join(secret.split()), "".join(secret.split())}
    # UTF-8 bytes read back as Latin-1 (a body without a charset, as requests reads it).
    plain |= {p.encode("utf-8", "surrogatepass").decode("latin-1") for p in list(plain)}
    return plain


def _grams(secret: str) -> tuple[int, frozenset[str]]:
    size = run_length(secret)
    out = {s[i : i + size] for s in _spellings(secret) for i in range(len(s) - size + 1)}
    return size, frozenset(out)


# ---------------------------------------------------------------- views


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
    text, spans = view
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
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


# ---------------------------------------------------------------- matching


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
            out.append(base64.b64decode(part).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            continue
    return out


def hex_decodings(run: str) -> list[str]:
    """What a hex-looking run may say (either start alignment), as UTF-8."""
    out = []
    for shift in range(2):
        part = run[shift:]
        part = part[: len(part) - len(part) % 2]
        out.append(bytes.fromhex(part).decode("utf-8", "replace"))
    return out


def _runs(text: str, size: int, grams: frozenset[str]) -> list[Span]:
    """Spans of `text` made of windows of `size` characters that are in `grams`."""
    found = []
    for i in range(len(text) - size + 1):
        if text[i : i + size] in grams:
            found.append((i, i + size))
    return found


def _shares(text: str, size: int, grams: frozenset[str]) -> bool:
    return any(text[i : i + size] in grams for i in range(len(text) - size + 1))


def _merged(found: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in found:  # in order of start
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _boilerplate(raw: str, a: int, b: int) -> bool:
    """True when raw[a:b] is just one word every login error uses, standing alone."""
    return (
        raw[a:b].lower() in BOILERPLATE
        and (a == 0 or not raw[a - 1].isalnum())
        and (b == len(raw) or not raw[b].isalnum())
    )


def _hits(raw: str, view: View, size: int, grams: frozenset[str]) -> list[Span]:
    """Spans of the original text `raw` to mask, found through one view of it."""
    text, spans = view
    out = []
    for a, b in _merged(_runs(text, size, grams)):
        start, end = spans[a][0], spans[b - 1][1]
        if not _boilerplate(raw, start, end):
            out.append((start, end))
    for match in _B64_RUN.finditer(text):
        a, b = match.span()
        if b - a >= 4 and any(_shares(d, size, grams) for d in b64_decodings(match.group(0))):
            out.append((spans[a][0], spans[b - 1][1]))
    for match in _HEX_RUN.finditer(text):
        a, b = match.span()
        if any(_shares(d, size, grams) for d in hex_decodings(match.group(0))):
            out.append((spans[a][0], spans[b - 1][1]))
    return out


def _unsafe(text: str, size: int, grams: frozenset[str]) -> list[Span]:
    return [hit for view in views(text) for hit in _hits(text, view, size, grams)]


def _apply(text: str, hits: list[Span]) -> str:
    covered = [False] * len(text)
    for a, b in hits:
        covered[a:b] = [True] * (b - a)
    out, i = [], 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def mask(text: str, secret: str, username: str = "") -> str:
    """`text` with every run of `secret` found in any view replaced by MASK."""
    del username  # `user:secret` holds the secret: its runs are found without the name
    if len(secret) < MIN_SECRET:
        return text
    size, grams = _grams(secret)
    if not grams:
        return text
    for _round in range(8):  # each round masks at least one more character
        hits = _unsafe(text, size, grams)
        if not hits:
            break
        text = _apply(text, hits)
    return text


def shows_secret(text: str, secret: str) -> bool:
    """True when some view of `text` still shares a run of run_length(secret) with it."""
    if len(secret) < MIN_SECRET:
        return False
    size, grams = _grams(secret)
    return bool(grams) and bool(_unsafe(text, size, grams))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    # Control characters (terminal escapes) never reach the user's terminal.
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def server_text(text: str, secret: str = "", username: str = "", limit: int = MAX_TEXT) -> str:
    """Server-sent `text` made safe to print: masked, made one line, masked, cut, checked."""
    text = mask(text[:MAX_SCAN], secret, username)
    text = mask(_one_line(text), secret, username)[:limit]
    if shows_secret(text, secret):
        return "" if shows_secret(WITHHELD, secret) else WITHHELD[:limit]
    return text
