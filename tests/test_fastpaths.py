"""Guards for the hot path's use of private module paths (issue #12's rule).

credhelper.fastjson calls CPython's `_json` directly, credhelper.crypto takes
AESGCM from cryptography's compiled binding and SHA-256 from CPython's `_sha256`,
and the keyring fast path (keys/secretservice.py) opens a `_socket.socket`. Each
must be the very object the public API uses, must give the public API's answers,
and must fall back to the public API when a future release moves it (the
fallbacks are run here too, in a subprocess that hides the private path).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper import crypto, fastjson

# ---------------------------------------------------------------- identity


def test_aesgcm_is_the_class_the_public_module_exports() -> None:
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert crypto._AESGCM is AESGCM
    assert openssl.aead.AESGCM is AESGCM


def test_fastjson_calls_the_functions_json_itself_uses() -> None:
    import _json
    import json.decoder
    import json.encoder
    import json.scanner

    assert json.scanner.make_scanner is _json.make_scanner is fastjson._make_scanner
    assert json.encoder.encode_basestring_ascii is _json.encode_basestring_ascii
    assert json.encoder.encode_basestring is _json.encode_basestring
    assert fastjson._quote_ascii is _json.encode_basestring_ascii
    assert fastjson._quote is _json.encode_basestring
    assert fastjson.JSONDecodeError is json.JSONDecodeError


def test_invalid_tag_is_cryptographys() -> None:
    from cryptography.exceptions import InvalidTag

    assert crypto._invalid_tag() is InvalidTag
    sealer = crypto.Sealer(bytes(32))
    sealed = sealer.seal("a.example", "u", "p")
    try:
        sealer.unseal("b.example", sealed)
    except crypto.SealError as err:
        assert "authentication failed" in str(err)
    else:
        raise AssertionError("a ciphertext moved to another server must not open")


# ---------------------------------------------------------------- same answers

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _outcome(func: Any, *args: object, **kwargs: object) -> tuple[str, str]:
    try:
        return ("ok", repr(func(*args, **kwargs)))
    except Exception as err:
        return (type(err).__name__, str(err))


@settings(max_examples=300, deadline=None)
@given(_json_values, st.sampled_from([None, 0, 1, 2]), st.booleans(), st.booleans())
def test_dumps_matches_json(
    value: object, indent: int | None, ensure_ascii: bool, sort_keys: bool
) -> None:
    kwargs: dict[str, object] = {"ensure_ascii": ensure_ascii, "sort_keys": sort_keys}
    if indent is not None:
        kwargs["indent"] = indent
    assert fastjson.dumps(value, **kwargs) == json.dumps(value, **kwargs)
    compact = {"ensure_ascii": ensure_ascii, "separators": (",", ":")}
    assert fastjson.dumps(value, **compact) == json.dumps(value, **compact)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), st.text(), max_size=5))
def test_dumps_of_flat_records_matches_json(value: dict[str, str]) -> None:
    assert fastjson.dumps(value) == json.dumps(value)
    assert fastjson.dumps(value, indent=1) == json.dumps(value, indent=1)


def test_dumps_hands_unusual_arguments_and_types_to_json() -> None:
    for value, kwargs in [
        ({"a": 1.5}, {}),
        ({1: "a"}, {}),
        ((1, 2), {"indent": 1}),
        ({"a": "b"}, {"separators": ()}),
        ({"a": "b"}, {"separators": [",", ":"]}),
        ({"a": "b"}, {"indent": "\t"}),
        ({"a": "b"}, {"default": str}),
        ({"b": 1, 2: "a"}, {"sort_keys": True}),
        ({"a": float("nan")}, {"indent": 1}),
    ]:
        assert _outcome(fastjson.dumps, value, **kwargs) == _outcome(json.dumps, value, **kwargs)
    deep: list[object] = []
    for _ in range(200):
        deep = [deep]
    assert fastjson.dumps(deep, indent=1) == json.dumps(deep, indent=1)
    cycle: dict[str, object] = {}
    cycle["x"] = cycle
    assert _outcome(fastjson.dumps, cycle, indent=1) == _outcome(json.dumps, cycle, indent=1)


@settings(max_examples=300, deadline=None)
@given(_json_values, st.sampled_from(["", " ", "\n", " \t\r\n"]))
def test_loads_matches_json_on_documents(value: object, pad: str) -> None:
    text = pad + json.dumps(value, indent=1) + pad
    assert repr(fastjson.loads(text)) == repr(json.loads(text))
    assert repr(fastjson.loads(text.encode())) == repr(json.loads(text.encode()))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_loads_matches_json_on_any_bytes(raw: bytes) -> None:
    for data in (raw, b"{" + raw, b'{"a":' + raw):
        assert _outcome(fastjson.loads, data) == _outcome(json.loads, data)
        try:
            text = data.decode()
        except UnicodeDecodeError:
            continue
        assert _outcome(fastjson.loads, text) == _outcome(json.loads, text)


def test_loads_errors_are_jsons_own() -> None:
    for bad in [b"", b"{", b'{"a":1} x', "\ufeff{}", b"\xef\xbb\xbf{}", b'{"a": "\xff"}', "[NaN]"]:
        assert _outcome(fastjson.loads, bad) == _outcome(json.loads, bad)
    nan = fastjson.loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(nan[0]) and nan[1:] == [math.inf, -math.inf]


def test_raw_decode_matches_jsondecoder() -> None:
    class Pairs(list):  # type: ignore[type-arg]
        pass

    def refuse(name: str) -> None:
        raise ValueError(name)

    decoder = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=refuse)
    for body in ['{"a":"1","a":"2"} trailing', '"x"', "0.5", "[1,", '{"a":NaN}', "nul"]:
        fast = _outcome(fastjson.raw_decode, body, Pairs, refuse)
        assert fast == _outcome(decoder.raw_decode, body)
    value, _end = fastjson.raw_decode('{"a":"1","a":"2"}', Pairs, refuse)
    assert type(value) is Pairs and value == [("a", "1"), ("a", "2")]


# ---------------------------------------------------------------- fallbacks


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_fastjson_without_the_private_module_still_matches_json() -> None:
    out = _run(
        "import sys\n"
        "sys.modules['_json'] = None  # as if a future Python had no _json\n"
        "from credhelper import fastjson\n"
        "import json\n"
        "assert fastjson._scan is None and fastjson._quote is None\n"
        "doc = {'version': 1, 'auths': {'a\\u00e9': {'sealed': 'x', 'keyId': 'k'}}}\n"
        "text = fastjson.dumps(doc, indent=1)\n"
        "assert text == json.dumps(doc, indent=1)\n"
        "assert fastjson.loads(text.encode()) == doc\n"
        "assert fastjson.dumps({'U': 'u'}) == json.dumps({'U': 'u'})\n"
        "print('fallback ok')\n"
    )
    assert out == "fallback ok\n"


def test_crypto_falls_back_to_the_public_class_if_the_binding_moves() -> None:
    out = _run(
        "import types\n"
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
        "from cryptography.hazmat.bindings._rust import openssl\n"
        "openssl.aead = types.SimpleNamespace()  # a release that moved the class\n"
        "from credhelper import crypto\n"
        "assert crypto._AESGCM is AESGCM\n"
        "s = crypto.Sealer(bytes(range(32)))\n"
        "assert s.unseal('srv', s.seal('srv', 'u', 'p')) == ('u', 'p')\n"
        "print('fallback ok')\n"
    )
    assert out == "fallback ok\n"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_the_builtin_sha256_is_hashlibs(data: bytes) -> None:
    """crypto's key ids use CPython's `_sha256` (`_sha2` from 3.12): the standard SHA-256."""
    import hashlib

    assert crypto._sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()


def test_key_ids_fall_back_to_hashlib_without_the_builtin_module() -> None:
    out = _run(
        "import sys, hashlib\n"
        "sys.modules['_sha256'] = sys.modules['_sha2'] = None  # a Python without them\n"
        "from credhelper import crypto\n"
        "assert crypto._sha256 is hashlib.sha256\n"
        "assert crypto.key_id(bytes(range(32))) == hashlib.sha256(\n"
        "    b'credhelper key id v1\\x00' + bytes(range(32))).hexdigest()[:16]\n"
        "print('fallback ok')\n"
    )
    assert out == "fallback ok\n"


def test_secretservice_socket_is_the_one_socket_uses() -> None:
    """The keyring fast path opens `_socket.socket` (socket.py's base class) directly."""
    import _socket
    import socket

    assert issubclass(socket.socket, _socket.socket)
    assert (_socket.AF_UNIX, _socket.SOCK_STREAM) == (socket.AF_UNIX, socket.SOCK_STREAM)


def test_secretservice_without_the_private_socket_module_leaves_the_get_to_keyring() -> None:
    out = _run(
        "import os, sys\n"
        "sys.modules['_socket'] = None  # a release that moved it\n"
        "os.environ['DBUS_SESSION_BUS_ADDRESS'] = 'unix:path=/nonexistent/bus'\n"
        "from credhelper.keys import secretservice\n"
        "try:\n"
        "    secretservice.get_password('credhelper', 'aeskey:/x')\n"
        "except secretservice.Unsupported as err:\n"
        "    print('keyring decides:', err)\n"
    )
    assert out == "keyring decides: ModuleNotFoundError\n"


def test_lazycontext_never_imports_contextlib() -> None:
    out = _run(
        "import sys\n"
        "sys.modules.pop('contextlib', None)  # an editable install's site imports it\n"
        "from credhelper import lazycontext\n"
        "@lazycontext.contextmanager\n"
        "def cm():\n"
        "    yield 5\n"
        "with cm() as v, lazycontext.suppress(KeyError):\n"
        "    assert v == 5\n"
        "    raise KeyError('x')\n"
        "assert 'contextlib' not in sys.modules and cm.__name__ == 'cm'\n"
        "print('ok')\n"
    )
    assert out == "ok\n"


class _Boom(Exception):
    pass


def _scenarios(contextmanager: Any) -> dict[str, Any]:
    """Generator context managers of every shape: each behaves as contextlib's would."""

    @contextmanager
    def plain() -> Iterator[int]:
        yield 1

    @contextmanager
    def finally_runs(log: list[str]) -> Iterator[None]:
        try:
            yield
        finally:
            log.append("cleaned")

    @contextmanager
    def swallows() -> Iterator[None]:
        try:  # noqa: SIM105 - the plain generator form is what is under test
            yield
        except _Boom:
            pass

    @contextmanager
    def converts() -> Iterator[None]:
        try:
            yield
        except _Boom as err:
            raise ValueError("converted") from err

    @contextmanager
    def no_yield() -> Iterator[None]:
        if False:
            yield

    @contextmanager
    def two_yields() -> Iterator[None]:
        yield
        yield

    @contextmanager
    def ignores_throw() -> Iterator[None]:
        try:
            yield
        except _Boom:
            yield

    return {
        "plain": plain,
        "finally": finally_runs,
        "swallows": swallows,
        "converts": converts,
        "no_yield": no_yield,
        "two_yields": two_yields,
        "ignores_throw": ignores_throw,
    }


def _behaviour(contextmanager: Any, name: str, body: BaseException | None) -> tuple[Any, ...]:
    log: list[str] = []
    factory = _scenarios(contextmanager)[name]
    try:
        with factory(log) if name == "finally" else factory() as value:
            log.append(f"body {value}")
            if body is not None:
                raise body
    except BaseException as err:  # comparing what escapes
        cause = type(err.__cause__).__name__ if err.__cause__ else None
        return ("raised", type(err).__name__, str(err), err is body, cause, log)
    return ("ok", log)


@pytest.mark.parametrize(
    "name", ["plain", "finally", "swallows", "converts", "no_yield", "two_yields", "ignores_throw"]
)
@pytest.mark.parametrize("kind", [None, "boom", "stop", "runtime", "interrupt"])
def test_lazycontext_behaves_as_contextlib(name: str, kind: str | None) -> None:
    import contextlib

    from credhelper import lazycontext

    def body() -> BaseException | None:
        return {
            None: None,
            "boom": _Boom("b"),
            "stop": StopIteration("s"),
            "runtime": RuntimeError("r"),
            "interrupt": KeyboardInterrupt(),
        }[kind]

    ours = _behaviour(lazycontext.contextmanager, name, body())
    theirs = _behaviour(contextlib.contextmanager, name, body())
    assert ours == theirs


def test_lazycontext_suppress_behaves_as_contextlib() -> None:
    import contextlib

    from credhelper import lazycontext

    for suppress in (contextlib.suppress, lazycontext.suppress):
        with suppress(KeyError, OSError):
            raise FileNotFoundError("x")
        with pytest.raises(ValueError), suppress(KeyError):
            raise ValueError("y")
        with suppress():
            pass
