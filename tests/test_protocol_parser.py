"""The protocol's parsing and encoding, by properties against reference models.

In-process and fast, so hypothesis can try thousands of inputs; the subprocess
tests in test_protocol.py pin the same behaviour on the installed executable.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper import gojson, protocol
from credhelper.errors import MissingServerURL, MissingUsername, UsageError

FIELDS = ("ServerURL", "Username", "Secret")


def case_variants(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flags: "".join(
            c.upper() if f else c.lower() for c, f in zip(name, flags, strict=True)
        )
    )


keys = st.one_of(
    st.sampled_from(FIELDS),
    *(case_variants(name) for name in FIELDS),
    st.text(max_size=12),
)
values = st.one_of(st.none(), st.text(max_size=20))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def render(pairs: list[tuple[str, object]], ensure_ascii: bool, spaced: bool) -> str:
    """A JSON object with duplicate keys kept, as a client could send it."""
    sep_item, sep_key = (", ", ": ") if spaced else (",", ":")
    body = sep_item.join(
        json.dumps(k, ensure_ascii=ensure_ascii)
        + sep_key
        + json.dumps(v, ensure_ascii=ensure_ascii)
        for k, v in pairs
    )
    return "{" + body + "}"


def model(pairs: list[tuple[str, object]]) -> tuple[str, str, str] | type[Exception]:
    """Go's decoding into credentials.Credentials, then the helper's validation."""
    fields = dict.fromkeys(FIELDS, "")
    for key, value in pairs:
        match = [f for f in FIELDS if f.casefold() == key.casefold()]
        if match and isinstance(value, str):
            fields[match[0]] = value
    if not fields["ServerURL"]:
        return MissingServerURL
    if not fields["Username"]:
        return MissingUsername
    return fields["ServerURL"], fields["Username"], fields["Secret"]


@settings(max_examples=400)
@given(
    st.lists(st.tuples(keys, values), max_size=8),
    st.booleans(),
    st.booleans(),
    st.text(alphabet=" \t\r\n", max_size=3),
    st.sampled_from(["", "\n", " trailing", "{}", "]]]"]),
)
def test_store_parser_matches_the_go_model(
    pairs: list[tuple[str, object]], ensure_ascii: bool, spaced: bool, lead: str, tail: str
) -> None:
    text = lead + render(pairs, ensure_ascii, spaced) + tail
    expected = model(pairs)
    if isinstance(expected, tuple):
        assert protocol.parse_store(text) == expected
    else:
        with pytest.raises(expected):
            protocol.parse_store(text)


@given(st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=4))
def test_first_non_string_field_is_reported_like_go(pairs: list[tuple[str, object]]) -> None:
    text = render(pairs, True, False)
    bad = [(k, v) for k, v in pairs if v is not None and not isinstance(v, str)]
    if not bad:
        return
    key, value = bad[0]
    kind = {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}[
        type(value)
    ]
    with pytest.raises(UsageError) as info:
        protocol.parse_store(text)
    assert str(info.value) == (
        f"json: cannot unmarshal {kind} into Go struct field Credentials.{key} of type string"
    )


@given(json_values)
def test_go_scanner_accepts_what_python_accepts(value: object) -> None:
    assert gojson.go_syntax_error(json.dumps(value).encode()) is None


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=4), st.data())
def test_every_truncated_object_is_unexpected_eof(
    value: dict[str, object], data: st.DataObject
) -> None:
    text = json.dumps(value, ensure_ascii=data.draw(st.booleans()))
    cut = data.draw(st.integers(1, len(text) - 1))
    with pytest.raises(UsageError) as info:
        protocol.parse_store(text[:cut])
    assert str(info.value) == "unexpected EOF"


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_any_bytes_give_a_result_or_one_line_usage_error(raw: bytes) -> None:
    text = protocol.read_input(io.BytesIO(raw))
    try:
        server, username, _secret = protocol.parse_store(text)
    except UsageError as err:
        assert "\n" not in str(err) and str(err)
    else:
        assert server and username


@given(st.text(max_size=40), st.text(max_size=40))
def test_get_input_is_joined_lines_trimmed_like_go(prefix: str, body: str) -> None:
    raw = (prefix + body).encode("utf-8", "surrogatepass")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    joined = raw.replace(b"\r\n", b"\n").replace(b"\n", b"")
    if joined.endswith(b"\r"):
        joined = joined[:-1]
    expected = joined.decode().strip(protocol._GO_SPACE)
    if not expected:
        with pytest.raises(MissingServerURL):
            protocol.server_url(protocol.read_input(io.BytesIO(raw)))
    else:
        assert protocol.server_url(protocol.read_input(io.BytesIO(raw))) == expected


def go_string(text: str) -> str:
    """Go's encodeState.string with HTML escaping, character by character."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5))
def test_go_json_matches_gos_encoder(value: dict[str, str]) -> None:
    out = gojson.go_json(value)
    assert out == "{" + ",".join(f"{go_string(k)}:{go_string(v)}" for k, v in value.items()) + "}"
    assert json.loads(out) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a\xffb", "a\ufffdb"),
        (b"a\xe2\x82b", "a\ufffd\ufffdb"),  # Go's utf8.DecodeRune: one byte at a time
        (b"\xed\xa0\x80", "\ufffd" * 3),  # an encoded surrogate is invalid UTF-8
        (b"caf\xc3\xa9 \xf0\x9f\x94\x91", "caf\u00e9 \U0001f511"),  # valid input as is
    ],
)
def test_invalid_utf8_in_a_string_is_one_u_fffd_per_byte(raw: bytes, expected: str) -> None:
    body = b'{"ServerURL":"' + raw + b'","Username":"' + raw + b'","Secret":"' + raw + b'"}'
    assert protocol.parse_store(protocol.read_input(io.BytesIO(body))) == (expected,) * 3
    assert protocol.server_url(protocol.read_input(io.BytesIO(b" " + raw + b"\n"))) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff", "invalid character '\u00ff' looking for beginning of value"),
        (b"\x80", "invalid character '\\u0080' looking for beginning of value"),
        (
            b'{"a":1,\xc3\xa9}',
            "invalid character '\u00c3' looking for beginning of object key string",
        ),
    ],
)
def test_an_invalid_byte_outside_a_string_is_quoted_as_the_byte(raw: bytes, message: str) -> None:
    with pytest.raises(UsageError) as info:
        protocol.parse_store(protocol.read_input(io.BytesIO(raw)))
    assert str(info.value) == message
