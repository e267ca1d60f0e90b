"""store/quick.py against the full parse: the same answer, or it steps aside.

`get` finds one entry by the writer's line for it once the "authsTag" record has
authenticated the bytes from the "auths" member to the end of the file. Whenever
the quick path answers by itself (`quick_answer` not None, or Expired), the full
parse (`Snapshot.get` of `parse_document` of the same bytes) must give exactly
that answer; and `quick.get` (quick path, else the full parse with the key it
loaded) must always give the full parse's answer: the login, or the same
exception with the same words. Checked on generated stores and on hostile edits
of them: duplicate "auths" members and server lines, escaped spellings of the
server, server names inside strings, a tail from another (older) store, bytes
inserted, deleted or changed anywhere, and edited top-level records.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from credhelper.errors import CredhelperError, Expired
from credhelper.store import Snapshot, Store, parse_document, quick
from credhelper.store.document import AUTHS_MEMBER

SERVER = "bench.example"

servers = st.one_of(
    st.sampled_from([SERVER, "https://index.docker.io/v1/", "r\u00e9g:5000", 'q"uote', "b\\s"]),
    st.text(min_size=1, max_size=12),
)


@contextmanager
def home() -> Iterator[str]:
    """A store directory whose key (file provider) is made by the first write."""
    base = tempfile.mkdtemp(prefix="credhelper-quick-")
    names = (
        "CREDHELPER_HOME",
        "CREDHELPER_KEY_PROVIDER",
        "CREDHELPER_AESKEY",
        "CREDHELPER_AESKEY_FILE",
    )
    saved = {k: os.environ.get(k) for k in names}
    directory = os.path.join(base, "home")
    for name in names[1:]:  # the file provider, whatever the environment says
        os.environ.pop(name, None)
    os.environ["CREDHELPER_HOME"] = directory
    try:
        yield directory
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(base, ignore_errors=True)


def write(
    directory: str, logins: dict[str, tuple[str, str]], raw_entries: dict[str, object]
) -> bytes:
    """What the writer leaves after storing `logins` and keeping `raw_entries` as they are."""
    store = Store(directory)
    with store.transaction() as txn:
        for server, (user, secret) in logins.items():
            txn.put(server, user, secret)
        for server, value in raw_entries.items():
            txn.doc.auths[server] = value
        txn.dirty = True
    with open(store.path, "rb") as f:
        return f.read()


def outcome(call: object) -> tuple[object, ...]:
    try:
        creds = call()  # type: ignore[operator]
    except CredhelperError as err:
        return (type(err).__name__, str(err))
    return ("ok", creds.server, creds.username, creds.secret)


def full(directory: str, raw: bytes, server: str) -> tuple[object, ...]:
    store = Store(directory)
    return outcome(
        lambda: Snapshot(parse_document(raw, store.path), store.path, directory, raw).get(server)
    )


def check(directory: str, raw: bytes, server: str) -> bool:
    """Asserts the rules above for `raw`; True if the quick path answered by itself."""
    store = Store(directory)
    with open(store.path, "wb") as f:
        f.write(raw)
    expected = full(directory, raw, server)
    snap = quick.quick_snapshot(raw, store.path, directory, server)
    answered = False
    if snap is not None:
        try:
            creds = quick.quick_answer(snap, raw, server)
        except Expired as err:
            assert expected == ("Expired", str(err))
            answered = True
        except Exception:
            creds = None
        else:
            if creds is not None:
                assert expected == ("ok", creds.server, creds.username, creds.secret)
                answered = True
    assert outcome(lambda: quick.get(store.path, directory, server)) == expected
    assert outcome(lambda: store.get(server)) == expected
    return answered


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logins=st.dictionaries(
        servers, st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6
    ),
    raws=st.dictionaries(
        servers,
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers())),
        max_size=2,
    ),
    ask=servers,
)
def test_a_writers_store_answers_as_the_full_parse(
    logins: dict[str, tuple[str, str]], raws: dict[str, object], ask: str
) -> None:
    with home() as directory:
        logins = {**logins, SERVER: ("u", "s")}
        raws = {k: v for k, v in raws.items() if k not in logins}
        raw = write(directory, logins, raws)
        assert b'"authsTag"' in raw
        for server in {ask, SERVER, *logins, *raws}:
            answered = check(directory, raw, server)
            # Every login the writer stored is answered by the quick path itself.
            assert answered == (server in logins)


_MEMBERS = [
    b'"auths": {"bench.example": {"sealed": "AAAA", "keyId": "0000000000000000", "v": 2}}',
    b'"auths": {"bench\\u002eexample": 1, "z.example": null}',
    b'"x": ["\\n  \\"bench.example\\": {", {"bench.example": 2}]',
    b'"authsTag": null',
    b'"authsTag": {"sealed": "AAAA", "keyId": "0000000000000000"}',
    b'"keyRotation": {"newKeyId": "0000000000000000"}',
    b'"keyProvider": {"name": "file"}',
    b'"header": {"sealed": "AAAA", "keyId": "0000000000000000"}',
    b'"version": 2',
    b'"version": 1',
]


def _hostile_fragments(raw: bytes, other_tail: bytes) -> list[bytes]:
    entry_at = raw.index(b'\n  "bench.example": ')
    entry = raw[entry_at : raw.index(b"\n  }", entry_at) + 4]
    return [
        b',\n "auths": {"bench.example": {"sealed": "AAAA", "keyId": "0000000000000000"}}',
        b',\n "auths": {}',
        b'"auths": {' + entry[1:] + b"},",
        entry + b",",
        b',\n  "bench\\u002eexample": {"sealed": "AAAA", "keyId": "0000000000000000", "v": 2}',
        b'\n  "bench\\u002eexample": ',
        b'"x": "\n  \\"bench.example\\": ",',
        b'"keyRotation": {"newKeyId": "0000000000000000"},',
        b'"version": 1,',
        b'"header": null,',
        b'"authsTag": null,',
        b'"keyProvider": {"name": "env"},',
        b"{",
        b"}",
        b'"',
        b",",
        b"\\",
        b"\n",
        b"\x00",
        b"\xff",
        AUTHS_MEMBER,
        other_tail,
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_edits_give_the_full_parses_answer(data: st.DataObject) -> None:
    with home() as directory:
        older = write(directory, {SERVER: ("old-user", "old-secret"), "a.example": ("a", "a")}, {})
        raw = write(directory, {SERVER: ("u", "s"), "z.example": ("z", "z")}, {})
        start = raw.index(AUTHS_MEMBER)
        other_tail = older[older.index(AUTHS_MEMBER) :]
        fragments = _hostile_fragments(raw, other_tail)
        edits = data.draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 4, 4]), min_size=1, max_size=3))
        for kind in edits:
            head = max(raw.find(AUTHS_MEMBER), 0)  # most edits before the tagged bytes
            at = data.draw(st.one_of(st.integers(0, head), st.integers(0, len(raw))))
            if kind == 0:  # insert a fragment
                raw = raw[:at] + data.draw(st.sampled_from(fragments)) + raw[at:]
            elif kind == 1:  # delete a range
                raw = raw[:at] + raw[at + data.draw(st.integers(1, 40)) :]
            elif kind == 2:  # change a byte
                raw = raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at + 1 :]
            elif kind == 3:  # the tail of the older store (rolled back) after this one's head
                raw = raw[:start] + other_tail
            else:  # a well-formed member, first or right before the tagged bytes
                member = data.draw(st.sampled_from(_MEMBERS))
                at = data.draw(st.sampled_from([2, head]))
                raw = raw[:at] + (member + b"," if at == 2 else b"\n " + member + b",") + raw[at:]
        ask = data.draw(st.sampled_from([SERVER, "z.example", "a.example", "bench\\u002eexample"]))
        event(
            "the quick path answered" if check(directory, raw, ask) else "the full parse answered"
        )


@pytest.mark.parametrize("member", _MEMBERS)
def test_every_well_formed_member_added_first_or_last_before_the_auths(member: bytes) -> None:
    """Duplicates of "auths", "authsTag", "header", "version", ... read as the full parse."""
    with home() as directory:
        raw = write(directory, {SERVER: ("u", "s"), "z.example": ("z", "z")}, {})
        start = raw.index(AUTHS_MEMBER)
        first = raw[:2] + member + b"," + raw[2:]
        last = raw[:start] + b"\n " + member + b"," + raw[start:]
        for edited in (first, last):
            for server in (SERVER, "z.example", "missing.example"):
                check(directory, edited, server)
        # Added first, every member but keyProvider (an edit the header refuses) is
        # overridden by the writer's own later member: the quick path still answers.
        assert check(directory, first, SERVER) == (b"keyProvider" not in member)


def test_edits_before_the_auths_member_are_read_as_the_full_parse_reads_them() -> None:
    """Duplicate members before the tagged auths: the last one wins both ways."""
    with home() as directory:
        raw = write(directory, {SERVER: ("u", "s")}, {})
        start = raw.index(AUTHS_MEMBER)
        fake = b'\n "auths": {"bench.example": {"sealed": "AAAA", "keyId": "0000000000000000"}},'
        edited = raw[:start] + fake + raw[start:]
        # The fake member comes first: the quick path finds it first, so its tag check
        # fails and the full parse answers (with the real, last, auths).
        assert not check(directory, edited, SERVER)
        compact = raw[:start] + b'"auths": {"bench.example": 1},' + raw[start:]
        assert check(directory, compact, SERVER)  # the real auths is last: the same login
        assert full(directory, compact, SERVER)[:3] == ("ok", SERVER, "u")


def test_an_expired_login_is_the_same_expiry_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    with home() as directory:
        store = Store(directory)
        store.put(SERVER, "u", "s", expires="2030-01-01T00:00:00Z")
        with open(store.path, "rb") as f:
            raw = f.read()
        monkeypatch.setattr("credhelper.store.snapshot.utc_now", lambda: "2031-01-01T00:00:00Z")
        assert check(directory, raw, SERVER)
        assert full(directory, raw, SERVER)[0] == "Expired"


def test_a_store_without_a_tag_is_read_by_the_full_parse() -> None:
    """Stores written before the tag existed (or by a writer without the key)."""
    with home() as directory:
        raw = write(directory, {SERVER: ("u", "s")}, {})
        head, _sep, rest = raw.partition(b'\n "authsTag": {')
        untagged = head + rest[rest.index(b"},") + 2 :]
        assert b"authsTag" not in untagged
        assert not check(directory, untagged, SERVER)
        assert full(directory, untagged, SERVER)[:3] == ("ok", SERVER, "u")


def test_the_full_parse_uses_the_key_the_quick_path_loaded() -> None:
    """A fallback never asks the key provider twice (a keyring or vault round trip)."""
    with home() as directory:
        raw = write(directory, {SERVER: ("u", "s")}, {"broken.example": 7})
        store = Store(directory)
        snap = quick.quick_snapshot(raw, store.path, directory, SERVER)
        assert snap is not None and snap.sealer() is not None
        calls = []
        provider = snap.provider
        original = provider.load
        provider.load = lambda: calls.append(1) or original()  # type: ignore[method-assign]
        again = Snapshot(parse_document(raw, store.path), store.path, directory, raw)
        again.adopt_keys(snap)
        assert again.get(SERVER).username == "u"
        assert calls == []


def test_a_get_of_a_tagged_store_parses_only_the_text_before_its_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What makes a big store's get cheap: its entries are never all built."""
    from credhelper.store import document

    with home() as directory:
        logins = {f"r{i:03d}.example": (f"u{i}", f"s{i}") for i in range(200)}
        raw = write(directory, {**logins, SERVER: ("u", "s")}, {})
        parsed: list[int] = []
        real = document.parse_document

        def recording(data: bytes, path: str) -> object:
            parsed.append(len(data))
            return real(data, path)

        monkeypatch.setattr(quick, "parse_document", recording)
        creds = Store(directory).get("r150.example")
        assert (creds.username, creds.secret) == ("u150", "s150")
        assert parsed and max(parsed) < raw.index(AUTHS_MEMBER) + 20  # the head, never all


def test_a_tag_made_under_another_key_is_not_trusted() -> None:
    """The auths of a store sealed by another key, spliced under this store's header."""
    with home() as first:
        raw = write(first, {SERVER: ("u", "s")}, {})
        with home() as second:
            other = write(second, {SERVER: ("intruder", "x")}, {})
            start, other_start = raw.index(b'\n "authsTag"'), other.index(b'\n "authsTag"')
            spliced = raw[:start] + other[other_start:]
            os.environ["CREDHELPER_HOME"] = first
            assert not check(first, spliced, SERVER)
            assert full(first, spliced, SERVER)[0] == "Invalidated"
            # Relabelled with this store's key id: the tag (and the entry) fail to open.
            ours = Store(first).snapshot().sealer()
            theirs = spliced[spliced.index(b'"keyId": "', start) + 10 :][:16]
            assert ours is not None and theirs != ours.key_id.encode()
            relabelled = spliced[:start] + spliced[start:].replace(theirs, ours.key_id.encode())
            assert not check(first, relabelled, SERVER)
            assert full(first, relabelled, SERVER)[0] == "CorruptEntry"


def test_a_key_that_fails_to_load_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyring or vault that fails is not asked again by the full parse."""
    from credhelper.errors import KeyProblem
    from credhelper.keys.file import FileKeyProvider

    with home() as directory:
        raw = write(directory, {SERVER: ("u", "s")}, {"broken.example": 1})
        calls: list[int] = []

        def failing(self: object) -> bytes:
            calls.append(1)
            raise KeyProblem("credhelper: the key cannot be read; run: credhelper doctor")

        monkeypatch.setattr(FileKeyProvider, "load", failing)
        store = Store(directory)
        with pytest.raises(KeyProblem):
            quick.get(store.path, directory, SERVER)
        assert calls == [1]
        assert full(directory, raw, SERVER)[0] == "KeyProblem"
