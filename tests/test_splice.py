"""store/splice.py: a write of one login gives the very bytes rendering everything gives.

Generated stores (odd server names included: escapes, quotes, non-ASCII, names
that sort around each other), then one `put` of an existing or a new server;
the spliced file must equal the full rendering byte for byte (the auths tag's
random nonce aside), and every other change (a delete, a second put, an edit of
the file's entries) must make it render everything.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper.store import Store, parse_document, serialize_document
from credhelper.store.splice import spliced_auths
from tests.test_quick_get import home, write

servers = st.one_of(
    st.sampled_from(["a", "b", "bench.example", "r\u00e9g:5000", 'q"uote', "b\\s", "zz", "\x7f"]),
    st.text(min_size=1, max_size=10),
)


def _untagged(data: bytes) -> bytes:
    """`data` with its auths tag's value blanked (a fresh nonce in every write)."""
    key = b'"authsTag": {\n  "sealed": "'
    at = data.index(key) + len(key)
    return data[:at] + data[data.index(b'"', at) :]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logins=st.dictionaries(
        servers, st.tuples(st.text(max_size=6), st.text(max_size=6)), min_size=2, max_size=7
    ),
    server=servers,
    expires=st.sampled_from([None, "2099-01-01T00:00:00Z"]),
)
def test_one_put_is_spliced_to_the_same_bytes(
    logins: dict[str, tuple[str, str]], server: str, expires: str | None
) -> None:
    with home() as directory:
        write(directory, logins, {})
        store = Store(directory)
        with store.exclusive() as session:
            txn = session.read()
            txn.put(server, "new-user", "new-secret", expires)
            sealer = txn.sealer()
            assert sealer is not None
            assert spliced_auths(txn.doc, sealer) is not None  # the splice does happen
            written = txn.render()
        # The same document rendered whole: identical bytes but for the tag's nonce.
        doc = parse_document(written, store.path)
        doc.source = None
        whole = serialize_document(doc, sealer)
        assert _untagged(written) == _untagged(whole)
        assert b"\n  " in written and written.endswith(b"\n }\n}\n")


def test_anything_but_one_put_renders_everything() -> None:
    with home() as directory:
        write(directory, {"a": ("u", "s"), "b": ("u", "s"), "c": ("u", "s")}, {})
        store = Store(directory)
        with store.exclusive() as session:
            txn = session.read()
            sealer = txn.sealer()
            assert sealer is not None
            assert spliced_auths(txn.doc, sealer) is None  # nothing put
            txn.put("b", "x", "y")
            assert spliced_auths(txn.doc, sealer) is not None
            txn.delete("c")  # a second change, not through put_entry
            assert spliced_auths(txn.doc, sealer) is None
            txn.doc.auths["c"] = {"sealed": "x", "keyId": sealer.key_id}
            assert spliced_auths(txn.doc, sealer) is None  # a changed value counts too
            txn.put("a", "x", "y")
            assert spliced_auths(txn.doc, sealer) is None  # two servers put


def test_a_file_without_a_valid_tag_is_rendered_whole() -> None:
    with home() as directory:
        raw = write(directory, {"a": ("u", "s"), "b": ("u", "s")}, {})
        store = Store(directory)
        edited = raw.replace(b'"authsTag": {\n  "sealed": "', b'"authsTag": {\n  "sealed": "A')
        with open(store.path, "wb") as f:
            f.write(edited)
        with store.exclusive() as session:
            txn = session.read()
            txn.put("b", "x", "y")
            sealer = txn.sealer()
            assert sealer is not None
            assert spliced_auths(txn.doc, sealer) is None
