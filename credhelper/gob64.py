"""Go's `base64.StdEncoding.DecodeString`, error positions included.

Docker's config loader and our own store report undecodable values with Go's
wording, `illegal base64 data at input byte N`; users search for that exact text,
so N must be the offset Go would give. This is a port of the quantum-by-quantum
decoder in Go's src/encoding/base64/base64.go (non-strict StdEncoding, '=' padding,
CR and LF skipped). Go's 8- and 4-byte fast paths only ever consume fully valid
groups, so decoding quantum by quantum yields the same bytes and the same errors.
"""

from __future__ import annotations

import binascii

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DECODE_MAP = [0xFF] * 256
for _i, _c in enumerate(_ALPHABET):
    _DECODE_MAP[_c] = _i
_PAD = ord("=")
_NEWLINES = (ord("\n"), ord("\r"))


class GoBase64Error(ValueError):
    """Go's CorruptInputError: `offset` is the byte Go names."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def decode(data: str | bytes) -> bytes:
    """Decode like Go's StdEncoding; raise GoBase64Error with Go's offset."""
    # surrogatepass: a "\ud800" escape in a hostile store file must come out as
    # illegal base64 at that byte, not as a UnicodeEncodeError.
    src = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # The common case (canonical padded base64, no newlines) is C-speed; the
    # port below runs only to find the offset, or for input with CR/LF in it.
    body = src.rstrip(b"=")
    if len(src) % 4 == 0 and len(src) - len(body) <= 2 and b"=" not in body:
        try:
            # binascii, not base64: the base64 module drags struct onto the hot path.
            return binascii.a2b_base64(src, strict_mode=True)
        except (binascii.Error, ValueError):
            pass
    out = bytearray()
    si = 0
    n = len(src)
    while si < n:
        si, chunk = _decode_quantum(src, si)
        out += chunk
    return bytes(out)


def _decode_quantum(src: bytes, si: int) -> tuple[int, bytes]:
    dbuf = [0, 0, 0, 0]
    dlen = 4
    j = 0
    trailing_error: int | None = None
    while j < 4:
        if si == len(src):
            if j == 0:
                return si, b""
            # StdEncoding has padding, so a short final quantum is corrupt.
            raise GoBase64Error(si - j)
        ch = src[si]
        si += 1
        out = _DECODE_MAP[ch]
        if out != 0xFF:
            dbuf[j] = out
            j += 1
            continue
        if ch in _NEWLINES:
            continue
        if ch != _PAD:
            raise GoBase64Error(si - 1)
        # Padding: the end of the data.
        if j in (0, 1):
            raise GoBase64Error(si - 1)
        if j == 2:
            # "==" is expected; the first "=" is consumed already.
            while si < len(src) and src[si] in _NEWLINES:
                si += 1
            if si == len(src):
                raise GoBase64Error(len(src))
            if src[si] != _PAD:
                raise GoBase64Error(si - 1)
            si += 1
        while si < len(src) and src[si] in _NEWLINES:
            si += 1
        if si < len(src):
            trailing_error = si
        dlen = j
        break
    val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3]
    decoded = bytes(((val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF))[: dlen - 1]
    if trailing_error is not None:
        # Go returns the bytes decoded so far together with the error; callers
        # here only need the error.
        raise GoBase64Error(trailing_error)
    return si, decoded


def encode(data: bytes) -> str:
    """Standard padded base64, the only form Go's StdEncoding accepts."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")
