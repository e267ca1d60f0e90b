"""Masking a secret out of text a server sent back, before that text is shortened or shown.

A registry, proxy or token server that echoes the request (the password, the
Authorization header, the form body) must not make credhelper print the secret,
whole or in part, in any spelling. Listing spellings cannot be complete (every web
stack escapes differently), so the text is looked at through *views*: the text as
is, HTML-unescaped, percent-decoded (any hex case, with and without `+` as space),
backslash-unescaped (JSON, C), a few of these chained, and each of those with all
whitespace and NULs removed (a line-wrapped echo; UTF-16 read one byte a character).
In every view, every run of at least `run_length(secret)` characters that the view
shares with one of the secret's spellings, in any letter case, is masked in the
original text (each view character remembers where in the text it came from), and
every base64- or hex-looking run (whitespace inside allowed) that decodes (as
UTF-8, Latin-1 or UTF-16) to such a run is masked whole. The spellings are the
secret (also upper- and lower-cased, whitespace collapsed or removed) as it reads
in UTF-8, and in UTF-8 or UTF-16 (LE, BE) bytes read back as Latin-1 or UTF-8.
Masking repeats until no view changes; the text is then made one line, control
characters become `?` (no terminal escapes), it is cut to length, and checked once
more: if any view of what would be printed still shares such a run with the
secret, no server text is printed at all, only WITHHELD.

One exception keeps ordinary messages readable: a run that is exactly one word
of BOILERPLATE ("password", "username", ...) standing alone is left as it is,
unless that word is the whole secret.
Secrets shorter than MIN_SECRET characters are not masked: masking them would
mangle ordinary words, and such a secret offers no protection anyway.
"""

from __future__ import annotations

import re

from credhelper.redact_views import Span, View, b64_decodings, hex_decodings, views

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

_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]+")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{6,}")


def run_length(secret: str) -> int:
    """How many characters of `secret` in a row are masked: half of it, 3 to RUN.

    Half of the secret without its whitespace, so its whitespace-collapsed spelling
    (how a one-line message shows it) is never shorter than a run.
    """
    return max(MIN_SECRET, min(RUN, (len("".join(secret.split())) + 1) // 2))


def fold(text: str) -> str:
    """`text` without letter case, character by character (so positions stay the same).

    A character whose case folding is longer than one character (ß, İ) is kept as it is.
    """
    folded = text.casefold()
    if len(folded) == len(text):  # every character folded to one: the common case
        return folded
    return "".join(_fold_char(ch) for ch in text)


def _fold_char(ch: str) -> str:
    for each in (ch.casefold(), ch.lower()):
        if len(each) == 1:
            return each
    return ch


def _spellings(secret: str) -> set[str]:
    plain = {secret, " ".join(secret.split()), "".join(secret.split())}
    # An echo in another letter case: its UTF-8/UTF-16 bytes differ, so each case is spelled.
    plain |= {each for p in list(plain) for each in (p.upper(), p.lower())}
    out = set(plain)
    for p in plain:
        for codec in ("utf-8", "utf-16-le", "utf-16-be"):
            data = p.encode(codec, "surrogatepass")
            # Bytes read back as Latin-1 (a body without a charset, as requests reads
            # text/*) or as UTF-8 (a JSON body): UTF-16 shows up as T\0r\0...
            out |= {data.decode("latin-1"), data.decode("utf-8", "replace")}
    return out


def _grams(secret: str) -> tuple[int, frozenset[str]]:
    size = run_length(secret)
    out = {s[i : i + size] for s in map(fold, _spellings(secret)) for i in range(len(s) - size + 1)}
    return size, frozenset(out)


def _runs(text: str, size: int, grams: frozenset[str]) -> list[Span]:
    """Spans of `text` made of windows of `size` characters that are in `grams`."""
    found = []
    for i in range(len(text) - size + 1):
        if text[i : i + size] in grams:
            found.append((i, i + size))
    return found


def _shares(text: str, size: int, grams: frozenset[str]) -> bool:
    text = fold(text)
    return any(text[i : i + size] in grams for i in range(len(text) - size + 1))


def _merged(found: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in found:  # in order of start
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _boilerplate(raw: str, a: int, b: int, whole: frozenset[str]) -> bool:
    """True when raw[a:b] is just one word every login error uses, standing alone, and
    not the whole secret (a password `passphrase` echoed back is still the password)."""
    return (
        raw[a:b].lower() in BOILERPLATE
        and fold(raw[a:b]) not in whole
        and (a == 0 or not raw[a - 1].isalnum())
        and (b == len(raw) or not raw[b].isalnum())
    )


def _hits(
    raw: str, view: View, size: int, grams: frozenset[str], whole: frozenset[str]
) -> list[Span]:
    """Spans of the original text `raw` to mask, found through one view of it."""
    text, spans = view
    out = []
    # Grams are case-folded; fold() keeps positions, so spans still point at `raw`.
    for a, b in _merged(_runs(fold(text), size, grams)):
        start, end = spans[a][0], spans[b - 1][1]
        if not _boilerplate(raw, start, end, whole):
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


def _unsafe(text: str, size: int, grams: frozenset[str], whole: frozenset[str]) -> list[Span]:
    return [hit for view in views(text) for hit in _hits(text, view, size, grams, whole)]


def _whole(secret: str) -> frozenset[str]:
    return frozenset(map(fold, _spellings(secret)))


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
    whole = _whole(secret)
    for _round in range(8):  # each round masks at least one more character
        hits = _unsafe(text, size, grams, whole)
        if not hits:
            break
        text = _apply(text, hits)
    return text


def shows_secret(text: str, secret: str) -> bool:
    """True when some view of `text` still shares a run of run_length(secret) with it."""
    if len(secret) < MIN_SECRET:
        return False
    size, grams = _grams(secret)
    return bool(grams) and bool(_unsafe(text, size, grams, _whole(secret)))


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
