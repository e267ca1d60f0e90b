# ruff: noqa: UP031
"""Docker's config as Go reads it, and written back unchanged in Go's meaning.

An attacker's or a careless user's config.json: numbers beyond the double range,
case-variant duplicate keys (Go: the last match wins, maps merge), unicode escapes,
deep nesting. After any credhelper edit every key it does not own must be
byte-identical or equal in Go's meaning, and what docker uses must be what
credhelper acted on. The oracle for "what docker uses" is the real docker CLI:
`docker --config DIR logout` calls the credential helper docker picked, here a spy.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper import dockerconfig
from credhelper.dockerconfig.gotypes import OWNED_FIELDS, field_for
from credhelper.dockerconfig.jsontext import ARRAY, OBJECT, STRING, Node, parse_value
from credhelper.dockerconfig.render import splice
from credhelper.dockerconfig.view import owned_view
from credhelper.gojson import reject_constant, scrub_surrogates
from tests.conftest import Env, require_tool
from tests.test_dockerconfig import docker_load_warning

ODD_NUMBERS = [
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "0.0",
    "1E+2",
    "123456789012345678901234567890",
    "-12.5e-3",
    "0e0",
]
STRING_TEXTS = [
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"\\u00e9"',
    '"\\u2028\\u2029"',
    '"<&>"',
    '"\\/"',
    '"\\b\\f\\n\\r\\t"',
    '"\\u0000"',
    '"caf\u00e9"',
]
# Keys credhelper does not own, some of them case variants of each other.
OTHER_KEYS = ['"x"', '"X"', '"\\u0078"', '"note"', '"k"', '"\\u212a"', '"s"', '"\\u017f"']


def _go_meaning(node: Node) -> Any:
    """What Go's decoder makes of a value: lone surrogates are U+FFFD, numbers their text."""
    if node.kind == OBJECT:
        return ("o", tuple((scrub_surrogates(k), _go_meaning(v)) for k, _t, v in node.pairs()))
    if node.kind == ARRAY:
        return ("a", tuple(_go_meaning(v) for v in node.value))
    if node.kind == STRING:
        return ("s", scrub_surrogates(node.value))
    return (node.kind, node.raw)


def _tree(text: str) -> Node:
    json.loads(text, parse_constant=reject_constant)  # strict JSON, no NaN/Infinity
    node, _end = parse_value(text, 0)
    return node


def _others(root: Node) -> list[tuple[str, Any]]:
    return [
        (key, _go_meaning(node))
        for key, _text, node in root.pairs()
        if field_for(key, OWNED_FIELDS) is None
    ]


scalars = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.sampled_from(STRING_TEXTS),
    st.integers().map(str),
    st.text(max_size=8).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(["true", "false", "null"]),
)


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(st.sampled_from(OTHER_KEYS), children), max_size=4)
    return st.one_of(
        st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        pairs.map(lambda ps: "{" + ",".join(f"{k}: {v}" for k, v in ps) + "}"),
    )


values = st.recursive(scalars, _containers, max_leaves=12)
deep = st.integers(min_value=1, max_value=200).map(lambda n: "[" * n + "1e400" + "]" * n)

STORE_KEYS = ['"credsStore"', '"CredsStore"', '"credsstore"', '"cred\\u017fStore"']
HELPER_KEYS = ['"credHelpers"', '"CredHelpers"', '"credhelpers"']
AUTH_KEYS = ['"auths"', '"Auths"', '"AUTHS"']
SERVERS = ['"a.example"', '"b.example"', '"new.example"']


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


entries = st.lists(
    st.tuples(
        st.sampled_from(['"auth"', '"Auth"', '"username"', '"email"', '"x"']),
        st.sampled_from([f'"{_b64("u:p")}"', '"user"', '"1e400"', "null", '"\\ud800"']),
    ),
    max_size=3,
).map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}")
owned = st.one_of(
    st.tuples(st.sampled_from(STORE_KEYS), st.sampled_from(['"desktop"', '"pass"', "null"])),
    st.tuples(
        st.sampled_from(HELPER_KEYS),
        st.lists(
            st.tuples(st.sampled_from(SERVERS), st.sampled_from(['"pass"', '"credhelper"'])),
            max_size=3,
        ).map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
    ),
    st.tuples(
        st.sampled_from(AUTH_KEYS),
        st.lists(st.tuples(st.sampled_from(SERVERS), entries), max_size=3).map(
            lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"
        ),
    ),
)
documents = st.lists(
    st.one_of(owned, st.tuples(st.sampled_from(OTHER_KEYS), st.one_of(values, deep))),
    max_size=8,
).map(lambda ps: "{" + ",\n ".join(f"{k}: {v}" for k, v in ps) + "}")


def _edit(doc: dict[str, Any]) -> bool:
    """What install does: strip each plaintext login, make docker call credhelper."""
    for check in dockerconfig.check_entries(_view_config(doc)):
        if check.state == dockerconfig.AUTH_PLAINTEXT:
            dockerconfig.strip_credentials(doc, check)
    dockerconfig.set_creds_store_key(doc, dockerconfig.HELPER_NAME)
    dockerconfig.use_credhelper(doc, "new.example")
    return True


def _view_config(doc: dict[str, Any]) -> dockerconfig.DockerConfig:
    return dockerconfig.DockerConfig("", b"", doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_an_edit_keeps_every_other_key_in_gos_meaning(text: str) -> None:
    before = dockerconfig.parse(text.encode(), "x")
    assert before.parse_error is None, (text, before.parse_error)
    if not before.writable:
        return  # refused: never rewritten (tested below)
    doc = owned_view(before.tree)
    _edit(doc)
    out = splice(before.tree, owned_view(before.tree), doc).decode("utf-8")
    after = dockerconfig.parse(out.encode(), "x")
    assert after.writable and after.tree is not None and before.tree is not None
    assert _others(after.tree) == _others(before.tree)
    # Docker now calls credhelper, with no case variant left naming another helper.
    assert after.creds_store() == dockerconfig.HELPER_NAME
    assert dockerconfig.helper_for(after, "new.example")[0] == dockerconfig.HELPER_NAME
    # Every other credHelpers entry, and every entry without a plaintext login, as docker read it.
    for server, helper in before.cred_helpers().items():
        if server != "new.example":
            assert after.cred_helpers()[server] == helper
    for check in dockerconfig.check_entries(before):
        if check.state != dockerconfig.AUTH_PLAINTEXT:
            assert after.auths()[check.server] == before.auths()[check.server]
    assert not any(c.state == "plaintext" for c in dockerconfig.check_entries(after))
    _tree(out)  # strict JSON: no Infinity, no NaN


@settings(max_examples=100, deadline=None)
@given(documents)
def test_writes_through_modify_keep_other_keys_byte_for_byte(text: str) -> None:
    """Through the real locked write: a value in docker's layout comes back byte for byte."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(text)
        before = dockerconfig.load(str(path))
        if not before.writable:
            return
        try:
            result = dockerconfig.modify(str(path), _edit)
        except dockerconfig.DockerConfigError:
            # No store key here: a file holding credential text is never backed up in
            # plaintext, so the change is refused and the file stays as it was.
            assert before.raw is not None and dockerconfig.raw_holds_credentials(before.raw)
            assert path.read_bytes() == before.raw
            assert list(Path(tmp).glob("config.json.bak-*")) == []
            return
        after = dockerconfig.load(str(path))
        assert result.changed or after.raw == before.raw
        assert after.tree is not None and before.tree is not None
        assert _others(after.tree) == _others(before.tree)
        for _key, _t, node in after.tree.pairs():
            if node.kind == "number":
                assert node.raw in ODD_NUMBERS or node.raw.lstrip("-").isdigit()


# ------------------------------------------------------------ the real docker CLI


def _spy_path(tmp: Path) -> str:
    """A PATH whose docker-credential-NAME helpers only record that docker called them."""
    bin_dir = tmp / "spy-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("credhelper", "desktop", "pass", "other"):
        script = bin_dir / f"docker-credential-{name}"
        script.write_text(f'#!/bin/sh\necho "{name}" >> "{tmp}/calls"\ncat >/dev/null\necho\n')
        script.chmod(0o700)
    return f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def docker_helper(ch: Env, text: str, server: str, tmp: Path) -> str:
    """The helper the real docker CLI calls for `server` with this config (spied on)."""
    docker = require_tool("docker")
    probe = tmp / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "config.json").write_text(text)
    (tmp / "calls").unlink(missing_ok=True)
    env = {**ch.env, "PATH": _spy_path(tmp)}
    subprocess.run(
        [docker, "--config", str(probe), "logout", server],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    calls = (tmp / "calls").read_text().split() if (tmp / "calls").exists() else []
    return calls[0] if calls else ""


CASE_VARIANTS = [
    ('{"credsStore": "credhelper", "CredsStore": "desktop"}', "r.example", "desktop"),
    ('{"CredsStore": "desktop", "credsStore": "pass"}', "r.example", "pass"),
    ('{"cred\\u017fStore": "pass"}', "r.example", "pass"),
    ('{"credsStore": "pass", "credsstore": null}', "r.example", "pass"),
    (
        '{"credsStore": "pass", "credHelpers": {"x.example": "other"}, '
        '"CredHelpers": {"r.example": "desktop"}}',
        "r.example",
        "desktop",
    ),
    (
        '{"credsStore": "pass", "credHelpers": {"x.example": "other"}, '
        '"CredHelpers": {"r.example": "desktop"}}',
        "x.example",
        "other",
    ),
    (
        '{"credsStore": "pass", "credHelpers": {"r.example": "other"}, "credHelpers": null}',
        "r.example",
        "pass",
    ),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("text", "server", "docker_uses"), CASE_VARIANTS)
def test_helper_routing_is_what_docker_does(
    ch: Env, tmp_path: Path, text: str, server: str, docker_uses: str
) -> None:
    assert docker_helper(ch, text, server, tmp_path) == docker_uses
    ours, _why = dockerconfig.helper_for(dockerconfig.parse(text.encode(), "x"), server)
    assert ours == docker_uses


def _install(ch: Env) -> dict[str, Any]:
    proc = ch.cli("install", "--json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.mark.e2e
def test_install_with_a_case_variant_creds_store_makes_docker_call_credhelper(
    ch: Env, tmp_path: Path
) -> None:
    config = ch.docker_config / "config.json"
    text = json.dumps(
        {
            "credsStore": "credhelper",
            "CredsStore": "desktop",
            "auths": {"a.example": {}},
            "Auths": {"r.example": {"auth": _b64("alice:s3cret")}},
        }
    )
    config.write_text(text)
    assert docker_helper(ch, text, "r.example", tmp_path) == "desktop"  # the trap
    out = _install(ch)
    assert out["replacedCredsStore"] == "desktop"
    result = config.read_text()
    assert docker_helper(ch, result, "r.example", tmp_path) == "credhelper"
    assert docker_helper(ch, result, "a.example", tmp_path) == "credhelper"
    assert _b64("alice:s3cret") not in result and "s3cret" not in result
    assert ch.helper("get", "r.example").returncode == 0
    assert docker_load_warning(ch) is None


@pytest.mark.e2e
def test_a_number_beyond_double_range_survives_install(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    text = (
        '{"auths": {"r.example": {"auth": "' + _b64("u:p") + '", "x": 1e400}}, '
        '"myTool": {"limit": 1e400, "tiny": -1e-400, "big": 123456789012345678901234567890}}'
    )
    config.write_text(text)
    assert docker_load_warning(ch) is None
    _install(ch)
    result = config.read_text()
    assert "Infinity" not in result
    assert '"limit": 1e400' in result and '"x": 1e400' in result
    assert '"tiny": -1e-400' in result and "123456789012345678901234567890" in result
    assert docker_load_warning(ch) is None  # docker still loads the whole file


@pytest.mark.e2e
def test_hostile_escapes_and_nesting_survive_login_bookkeeping(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    nested = "[" * 300 + "1e400" + "]" * 300
    text = '{"auths": {}, "note": "\\ud800<&>\\u2028", "X": ' + nested + ', "x": {"k": 1, "k": 2}}'
    config.write_text(text)
    assert dockerconfig.ensure_uses_credhelper("r.example")
    after = dockerconfig.load(str(config))
    assert after.tree is not None
    before_tree = _tree(text)
    assert _others(after.tree) == _others(before_tree)
    assert docker_load_warning(ch) is None


def test_duplicate_owned_keys_are_reported_and_folded(ch: Env) -> None:
    config = ch.docker_config / "config.json"
    text = '{"auths": {"a.example": {}}, "Auths": {"b.example": {}}, "credsStore": "pass"}'
    config.write_text(text)
    cfg = dockerconfig.load(str(config))
    assert cfg.writable and set(cfg.auths()) == {"a.example", "b.example"}  # Go merges them
    assert any("auths is set by 2 keys" in d for d in cfg.duplicate_keys)
    assert dockerconfig.ensure_uses_credhelper("c.example")
    doc = json.loads(config.read_text())
    assert doc["auths"] == {"a.example": {}, "b.example": {}} and "Auths" not in doc


# ------------------------------------------ attacks on reading/writing docker's config


def test_invalid_utf8_in_a_string_docker_loads_file_doctor_says_ignored(ch: Env) -> None:
    """Go's encoding/json accepts invalid UTF-8 inside a string (it becomes U+FFFD);
    docker loads such a file and uses its plaintext login ("Authenticating with
    existing credentials... [Username: frank]"). credhelper refuses the whole file
    as "not UTF-8 text", and doctor tells the user docker ignores the whole file and
    never reports the plaintext login docker is using."""
    from tests.docker_oracle import docker_login_says

    auth = _b64("frank:Utf8BadPW")
    config = ch.docker_config / "config.json"
    config.write_bytes(b'{"auths":{"127.0.0.1:1":{"auth":"%s"}},"psFormat":"\xff"}' % auth.encode())
    config.chmod(0o600)
    # docker reads the file:
    assert "[Username: frank]" in docker_login_says(ch, config.read_bytes())
    doctor = ch.cli("doctor")
    assert "docker ignores the whole file" not in doctor.stdout, doctor.stdout


def test_nesting_depth_3000_docker_loads_file_doctor_says_max_depth(ch: Env) -> None:
    """Go's decoder allows nesting up to 10000; credhelper's Python parser gives up
    near 1000 ("JSON nested too deeply") and doctor claims docker prints
    "exceeded max depth" and ignores the file. docker loads it and uses its
    plaintext login; credhelper neither reports that login nor lets install move it."""
    from tests.docker_oracle import docker_login_says

    auth = _b64("hank:DeepNestPW")
    depth = 3000
    config = ch.docker_config / "config.json"
    config.write_text(
        '{"auths":{"127.0.0.1:1":{"auth":"%s"}},"x":%s%s}' % (auth, "[" * depth, "]" * depth)
    )
    config.chmod(0o600)
    # docker reads the file:
    assert "[Username: hank]" in docker_login_says(ch, config.read_bytes())
    doctor = ch.cli("doctor")
    assert "docker ignores the whole file" not in doctor.stdout, doctor.stdout


def test_look_path_skips_helpers_only_reachable_through_relative_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Go's exec.LookPath returns ErrDot for a match through "", "." or a relative
    entry, and docker gives up: such a helper is not "on PATH"."""
    from credhelper.dockerconfig.routing import look_path

    (tmp_path / "abs").mkdir()
    for where in ("abs", "."):
        exe = tmp_path / where / "docker-credential-x"
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert look_path("docker-credential-x", f":{tmp_path}/abs") is None
    assert look_path("docker-credential-x", f".:{tmp_path}/abs") is None
    assert (
        look_path("docker-credential-x", f"{tmp_path}/abs:")
        == f"{tmp_path}/abs/docker-credential-x"
    )
    assert look_path("docker-credential-x", "/nonexistent") is None


def test_a_fifo_at_config_json_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(dockerconfig.DockerConfigError, match="not a regular file"):
        dockerconfig.load(str(fifo))


@pytest.mark.parametrize("depth, ok", [(3000, True), (9999, True), (10001, False)])
def test_nesting_is_read_up_to_go_s_limit(depth: int, ok: bool) -> None:
    auth = _b64("d:DeepPW")
    text = '{"auths":{"r.io":{"auth":"%s"}},"x":%s%s}' % (auth, "[" * depth, "]" * depth)
    cfg = dockerconfig.parse(text.encode(), "config.json")
    assert (cfg.parse_error is None) == ok
    if ok:
        [check] = dockerconfig.check_entries(cfg)
        assert check.state == dockerconfig.AUTH_PLAINTEXT and check.username == "d"
        assert not cfg.writable  # read like docker, never re-rendered this deep


def test_invalid_utf8_in_strings_becomes_one_replacement_per_byte() -> None:
    raw = b'{"auths":{"r.io":{"auth":"%s"}},"psFormat":"a\xff\xe2\x82b"}' % _b64("u:p").encode()
    cfg = dockerconfig.parse(raw, "config.json")
    assert cfg.parse_error is None and not cfg.writable
    [check] = dockerconfig.check_entries(cfg)
    assert check.state == dockerconfig.AUTH_PLAINTEXT
    assert dockerconfig.parse(b'{"a":\xff}', "c").parse_error is not None  # outside a string
