"""Masking a secret out of text a server sent back, before that text is shortened or shown.

A registry or token server that echoes the request (the password, the
Authorization header, the form body) must not make credhelper print the secret.
`server_text` masks every encoding of it first, then collapses whitespace, masks
again (collapsing can join a secret split by a double space or a tab), and only
then cuts to length, so no cut or rewrite can expose a form of the secret.
Control characters become `?`, so a server cannot send terminal escapes.

Forms masked: the secret as is and whitespace-collapsed; base64 (standard and
URL-safe, with and without padding) of the secret and of `user:secret` (what a
Basic Authorization header carries); percent-encoding (quote and quote_plus,
upper- and lower-case hex); JSON escaping (ASCII-only and not); the UTF-8 bytes
read as Latin-1 (how requests decodes a body that names no charset). Secrets shorter
than MIN_SECRET characters are not masked: masking them would mangle ordinary
words, and such a secret offers no protection anyway.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse

MASK = "***"
MIN_SECRET = 3
MAX_TEXT = 200


def _b64_forms(data: bytes) -> list[str]:
    out = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(data).decode("ascii")
        out += [text, text.rstrip("=")]
    return out


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def forms(secret: str, username: str = "") -> list[str]:
    """Every spelling of `secret` masked, longest first (so no form hides inside another)."""
    if len(secret) < MIN_SECRET:
        return []
    spellings = {secret, " ".join(secret.split())}
    found: set[str] = set()
    for plain in spellings:
        if len(plain) < MIN_SECRET:
            continue
        raw = plain.encode("utf-8", "surrogatepass")
        found.add(plain)
        # UTF-8 bytes read back as Latin-1 (a body without a charset, as requests reads it).
        found.add(raw.decode("latin-1"))
        found.update(_b64_forms(raw))
        found.update(_b64_forms(f"{username}:{plain}".encode("utf-8", "surrogatepass")))
        for quoted in (urllib.parse.quote(plain, safe=""), urllib.parse.quote_plus(plain)):
            found.update({quoted, _lower_hex(quoted)})
        for ascii_only in (True, False):
            found.add(json.dumps(plain, ensure_ascii=ascii_only)[1:-1])
    return sorted((f for f in found if len(f) >= MIN_SECRET), key=len, reverse=True)


def mask(text: str, secret: str, username: str = "") -> str:
    """`text` with every form of `secret` replaced by MASK (repeated until none is left)."""
    spellings = forms(secret, username)
    if not spellings:
        return text
    pattern = re.compile("|".join(re.escape(f) for f in spellings))
    for _round in range(len(text) + 1):  # each round removes at least one match
        masked = pattern.sub(MASK, text)
        if masked == text:
            break
        text = masked
    return text


def server_text(text: str, secret: str = "", username: str = "", limit: int = MAX_TEXT) -> str:
    """Server-sent `text` made safe to print: masked, whitespace collapsed, masked, then cut."""
    text = mask(text, secret, username)
    text = " ".join(text.split())
    # Control characters (terminal escapes) never reach the user's terminal.
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    text = mask(text, secret, username)
    return text[:limit]
