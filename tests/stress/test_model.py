"""The stress checker itself: it must flag lost, stale, torn and resurrected values."""

from __future__ import annotations

import json

from tests.stress.harness import (
    INF,
    NOT_FOUND,
    Model,
    Op,
    Report,
    _classify_get,
    make_secret,
    parse_secret,
    username_for,
)

S = "r.example"


def _get_answer(writer: int | None) -> tuple[int, bytes]:
    if writer is None:
        return 1, NOT_FOUND + b"\n"
    doc = {"ServerURL": S, "Username": username_for(writer), "Secret": make_secret(S, writer)}
    return 0, json.dumps(doc).encode()


def _judge(history: list[Op], answer: int | None, start: float, end: float) -> Report:
    model = Model([S], {}, history)
    rc, out = _get_answer(answer)
    report = Report()
    _classify_get(Op(-1, "get", S, rc=rc, out=out), model, report, start, end)
    return report


def _store(idx: int, start: float, end: float) -> Op:
    return Op(idx, "store", S, start=start, end=end, rc=0)


def test_secrets_carry_their_origin() -> None:
    secret = make_secret(S, 7)
    assert parse_secret(secret) == (S, 7)
    assert parse_secret(secret[:-1] + "x") is None
    assert parse_secret(secret[:30] + make_secret(S, 8)[30:]) is None


def test_final_state_checks() -> None:
    a, b = _store(1, 0, 1), _store(2, 2, 3)
    assert _judge([a, b], 2, INF, INF).clean
    assert _judge([a, b], 1, INF, INF).lost == 1  # b completed after a: a's value is lost
    assert _judge([a, b], None, INF, INF).lost == 1
    erase = Op(3, "erase", S, start=4, end=5, rc=0)
    assert _judge([a, b, erase], 2, INF, INF).resurrected == 1
    assert _judge([a, b, erase], None, INF, INF).clean
    overlapping = _store(4, 0.5, 2.5)
    assert _judge([a, overlapping], 1, INF, INF).clean  # either order is possible
    assert _judge([a, overlapping], 4, INF, INF).clean


def test_reads_during_the_run() -> None:
    a, b = _store(1, 0, 1), _store(2, 2, 3)
    assert _judge([a, b], 1, 1.5, 1.8).clean
    assert _judge([a, b], 1, 4, 5).stale == 1  # b had completed before the read began
    assert _judge([a, b], 2, 2.5, 2.6).clean  # b in flight: either is fine
    assert _judge([a, b], None, 0.5, 0.6).clean  # a in flight: absent is fine
    assert _judge([a, b], None, 1.5, 1.6).stale == 1
    torn = Report()
    model = Model([S], {}, [a])
    bad = json.dumps({"ServerURL": S, "Username": "user1", "Secret": make_secret(S, 1)[:-2]})
    _classify_get(Op(-1, "get", S, rc=0, out=bad.encode()), model, torn, INF, INF)
    assert torn.torn == 1
