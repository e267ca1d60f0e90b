"""credhelper.gob64 decodes exactly like Go's base64.StdEncoding, error offsets included.

Users search for Go's exact `illegal base64 data at input byte N`, so N is checked
against values worked out from Go's decoder, and by properties against Python's
own decoder for everything valid.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credhelper import gob64

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("", b""),
        ("YQ==", b"a"),
        ("YWI=", b"ab"),
        ("YWJj", b"abc"),
        ("YWJjZA==", b"abcd"),
        ("YW\nJj", b"abc"),  # Go skips CR and LF anywhere
        ("Y\r\nWJ\njZA=\r\n=", b"abcd"),
        ("YWJ=", b"ab"),  # non-strict: stray low bits before padding are ignored
        ("+/+/", b"\xfb\xff\xbf"),
    ],
)
def test_decodes_like_go(text: str, data: bytes) -> None:
    assert gob64.decode(text) == data
    assert gob64.decode(text.encode()) == data


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("-abc", 0),  # URL-safe alphabet: docker's classic "input byte 0"
        ("_abc", 0),
        ("ab-c", 2),
        ("YWJjZA", 4),  # unpadded: the start of the unfinished group
        ("YQ", 0),
        ("Y", 0),
        ("YQ=", 3),  # one "=" where two are needed: the end of input
        ("YQ=x", 2),  # Go: CorruptInputError(si - 1) for the wrong second pad
        ("Y===", 1),
        ("====", 0),
        ("YQ==YQ==", 4),  # data after padding
        ("YWJj YWJj", 4),
        ("YWJj\tYWJj", 4),
        ('{"a":1}', 0),
        ("YWJjZA==\n\nx", 10),
        ("\u00e9YWJ", 0),
    ],
)
def test_error_offsets_match_go(text: str, offset: int) -> None:
    with pytest.raises(gob64.GoBase64Error) as info:
        gob64.decode(text)
    assert info.value.offset == offset
    assert str(info.value) == f"illegal base64 data at input byte {offset}"


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    text = gob64.encode(data)
    assert text == base64.b64encode(data).decode()
    assert gob64.decode(text) == data


@given(st.binary(max_size=100), st.data())
def test_newlines_anywhere_are_ignored(data: bytes, draw: st.DataObject) -> None:
    text = gob64.encode(data)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(text)), max_size=5)))
    for cut in reversed(cuts):
        text = text[:cut] + draw.draw(st.sampled_from(["\n", "\r", "\r\n"])) + text[cut:]
    assert gob64.decode(text) == data


@given(
    st.binary(min_size=1, max_size=100),
    st.data(),
    st.characters(exclude_characters=ALPHABET + "=\r\n", max_codepoint=0x7F),
)
def test_invalid_character_is_named_at_its_offset(
    data: bytes, draw: st.DataObject, bad: str
) -> None:
    text = gob64.encode(data)
    body = len(text.rstrip("="))
    at = draw.draw(st.integers(0, body))
    with pytest.raises(gob64.GoBase64Error) as info:
        gob64.decode(text[:at] + bad + text[at:])
    assert info.value.offset == at


@given(st.text(alphabet=ALPHABET + "=\r\n -_.", max_size=40))
def test_any_text_decodes_or_names_an_offset_inside_it(text: str) -> None:
    try:
        out = gob64.decode(text)
    except gob64.GoBase64Error as err:
        assert 0 <= err.offset <= len(text)
    else:
        # Whatever decodes is exactly what a lenient reference decoder makes of it.
        clean = text.replace("\r", "").replace("\n", "")
        assert out == base64.b64decode(clean, validate=True)
