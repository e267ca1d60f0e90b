"""Property-based fuzzing (hypothesis): the parsers in-process, and store/get round trips
through the real executable.

Budgets: a few hundred examples in CI, tens of thousands with `pytest --big`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper import protocol
from tests.conftest import HELPER, Env
from tests.fuzz.targets import TARGETS
from tests.stress.fsprobe import tree

FIELD_NAMES = ["ServerURL", "Username", "Secret", "serverurl", "USERNAME", "sEcReT", "other"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
requests = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=5)


def _encode(value: Any, ascii_only: bool, trailer: bytes) -> bytes:
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass") + trailer


def _budget(big: bool, normal: int, large: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=large if big else normal,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not big,  # CI runs the same examples every time
    )


@pytest.mark.slow
def test_protocol_parser_properties(big: bool) -> None:
    @_budget(big, 2000, 100_000)
    @given(
        st.one_of(
            st.binary(max_size=2048),
            st.builds(_encode, requests, st.booleans(), st.binary(max_size=16)),
            st.builds(_encode, json_values, st.booleans(), st.binary(max_size=16)),
        )
    )
    def prop(data: bytes) -> None:
        TARGETS["protocol"](data)

    prop()


@pytest.mark.slow
def test_parse_store_keeps_valid_fields_exactly(big: bool) -> None:
    """Any three non-empty strings go in and come out unchanged (modulo Go's U+FFFD)."""

    @_budget(big, 1000, 50_000)
    @given(st.text(min_size=1), st.text(min_size=1), st.text(), st.booleans())
    def prop(server: str, user: str, secret: str, ascii_only: bool) -> None:
        doc = {"ServerURL": server, "Username": user, "Secret": secret}
        text = protocol.read_input(_BytesIO(_encode(doc, ascii_only, b"\n")))
        got = protocol.parse_store(text)
        scrub = protocol._scrub  # Go's replacement of lone surrogates
        assert got == (scrub(server), scrub(user), scrub(secret))

    prop()


class _BytesIO:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int) -> bytes:
        return self.data[:n]


@pytest.mark.slow
def test_store_reader_properties(big: bool) -> None:
    entry = st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "sealed": st.one_of(st.text(), st.integers(), st.none()),
                "keyId": st.one_of(st.text(max_size=20), st.integers()),
                "invalidated": json_values,
                "reason": json_values,
                "updated": json_values,
            },
        ),
    )
    docs = st.fixed_dictionaries(
        {"version": st.one_of(st.just(1), json_scalars)},
        optional={
            "auths": st.one_of(
                st.dictionaries(st.text(max_size=12), entry, max_size=4), json_values
            ),
            "keyProvider": json_values,
            "keyRotation": json_values,
        },
    )

    @_budget(big, 1500, 100_000)
    @given(
        st.one_of(st.builds(_encode, docs, st.booleans(), st.just(b"")), st.binary(max_size=512))
    )
    def prop(data: bytes) -> None:
        TARGETS["store"](data)

    prop()


@pytest.mark.slow
def test_key_reader_properties(big: bool) -> None:
    @_budget(big, 300, 20_000)
    @given(st.binary(max_size=128))
    def prop(data: bytes) -> None:
        TARGETS["key"](data)

    prop()


@pytest.mark.slow
def test_store_get_round_trip_through_the_helper(ch: Env, big: bool) -> None:
    """The real executable: whatever it accepts, get returns exactly; what it refuses
    leaves the store as it was."""

    @settings(
        max_examples=2000 if big else 60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not big,
    )
    @given(
        requests
        | st.fixed_dictionaries(
            {"ServerURL": st.text(min_size=1), "Username": st.text(min_size=1), "Secret": st.text()}
        ),
        st.booleans(),
    )
    def prop(doc: dict[str, Any], ascii_only: bool) -> None:
        before = tree(ch.home)
        proc = subprocess.run(
            [HELPER, "store"],
            input=_encode(doc, ascii_only, b""),
            capture_output=True,
            env=ch.env,
            timeout=60,
        )
        assert proc.returncode in (0, 1)
        assert b"Traceback" not in proc.stdout + proc.stderr
        assert b"internal error" not in proc.stdout, proc.stdout[:200]
        if proc.returncode == 1:
            assert tree(ch.home) == before
            return
        server, user, secret = protocol.parse_store(
            protocol.read_input(_BytesIO(_encode(doc, ascii_only, b"")))
        )
        get = subprocess.run(
            [HELPER, "get"],
            input=server.encode("utf-8"),
            capture_output=True,
            env=ch.env,
            timeout=60,
        )
        trimmed = protocol.server_url(server) if server.strip(protocol._GO_SPACE) else None
        if trimmed != server:
            return  # get trims the URL (as Go does); a padded key is only reachable by list
        assert get.returncode == 0, get.stdout[:200]
        out = json.loads(get.stdout)
        assert (out["Username"], out["Secret"]) == (user, secret), "round trip changed a value"

    prop()


@pytest.mark.parametrize(
    "secret", ['p\u2028<&>"\\\x00', "\U0001f600" * 100, ""], ids=["go-escapes", "emoji", "empty"]
)
def test_helper_round_trip_examples(ch: Env, secret: str) -> None:
    ch.store_creds("r.example", "u", secret)
    out = json.loads(ch.helper("get", "r.example").stdout)
    assert out["Secret"] == secret
