"""The --json objects of rotate, login and rotate --schedule keep their keys and order.

Scripts read these keys (README: rotate --json); credhelper.jsonfields derives
them from the report's attributes, so these tests pin the exact spelling.
"""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from credhelper.jsonfields import camel, fields_dict
from credhelper.registry import LoginResult
from credhelper.rotate import RotationResult
from credhelper.schedule.job import Job


def test_rotation_result_keys_in_order() -> None:
    provider = SimpleNamespace(name="file", describe=lambda: "key file /x/aeskey")
    result = RotationResult("forced", provider, "k-old")
    result.kept_lost = ["lost.example"]
    result.removed = ["/x/backup"]
    shown = result.as_dict()
    assert list(shown) == [
        "rotated",
        "mode",
        "keyProvider",
        "keyLocation",
        "oldKeyId",
        "newKeyId",
        "rotatedAt",
        "keyCreated",
        "reencrypted",
        "needsLogin",
        "keptLostKey",
        "removedBackups",
        "reason",
    ]
    assert shown["keyProvider"] == "file" and shown["keyLocation"] == "key file /x/aeskey"
    assert shown["keptLostKey"] == ["lost.example"] and shown["removedBackups"] == ["/x/backup"]
    assert shown["oldKeyId"] == "k-old" and shown["rotated"] is False


def test_login_result_never_shows_the_secret() -> None:
    result = LoginResult("r.example", "https://r.example", "basic", "alice", "hunter2-secret")
    shown = result.as_dict()
    assert shown == {
        "server": "r.example",
        "endpoint": "https://r.example",
        "auth": "basic",
        "username": "alice",
        "identityToken": False,
    }
    assert "hunter2-secret" not in repr(shown)


def test_schedule_job_keys() -> None:
    job = Job("/usr/bin/credhelper", "30d", True, (("VAULT_ADDR", "http://127.0.0.1:1"),))
    shown = job.as_dict()
    assert list(shown) == [
        "executable",
        "period",
        "reencrypt",
        "interval",
        "environment",
        "command",
    ]
    assert shown["environment"] == {"VAULT_ADDR": "http://127.0.0.1:1"}
    assert shown["command"] == job.argv() and shown["interval"] == "daily"


@given(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), min_size=1, max_size=4))
def test_camel_joins_words(words: list[str]) -> None:
    name = "_".join(words)
    key = camel(name)
    assert "_" not in key and key.lower() == name.replace("_", "")
    assert key.startswith(words[0])
    assert fields_dict(SimpleNamespace(**{name: 1}), f"{name} other={name}") == {key: 1, "other": 1}
