"""`credhelper migrate --from-helper NAME` and install/uninstall around another helper.

The happy paths run the real docker-credential-pass (a throwaway GnuPG home with a
no-passphrase key, `pass init`) and the real docker-credential-secretservice (a
private D-Bus session with gnome-keyring-daemon, tests/keyring_session.py): logins
go in with the helper's own `store`, come out through credhelper byte for byte.
A spy wrapper records the argv and environment each helper child got. Hostile
helper output comes from a fake helper script driven by hypothesis.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, CLI, HELPER, Env, require_tool
from tests.keyring_session import secret_service

pytestmark = pytest.mark.e2e

LOGINS = [
    ("registry.example:5000", "alice", 's3cr3t "quoted" \\ back ünï €'),
    ("https://index.docker.io/v1/", "<token>", "eyJhbGciOiJIUzI1NiJ9.identity-token"),
    ("https://ghcr.example/v2/org/päth?x=1&y=2", "bob", "p@ss:w0rd/with+chars="),
]


def helper_run(env: dict[str, str], name: str, action: str, data: bytes) -> bytes:
    proc = subprocess.run(
        [require_tool(f"docker-credential-{name}"), action],
        input=data,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (action, proc.stdout, proc.stderr)
    return proc.stdout


def helper_store(env: dict[str, str], name: str, server: str, user: str, secret: str) -> None:
    body = json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()
    helper_run(env, name, "store", body)


def write_config(ch: Env, doc: dict[str, object]) -> Path:
    path = ch.docker_config / "config.json"
    path.write_text(json.dumps(doc))
    return path


def config(ch: Env) -> dict[str, Any]:
    """Docker's config, without the empty "auths" docker itself writes."""
    doc = json.loads((ch.docker_config / "config.json").read_text())
    assert isinstance(doc, dict)
    if doc.get("auths") == {}:
        del doc["auths"]
    return doc


def migrate(ch: Env, name: str, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = ch.cli("migrate", "--from-helper", name, "--json", *args)
    out = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, out, proc.stderr


def assert_no_plaintext(ch: Env, secrets: list[str]) -> None:
    """No secret (nor its base64 forms) in any file credhelper wrote."""
    for directory in (ch.home, ch.docker_config):
        for path in directory.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            for secret in secrets:
                raw = secret.encode()
                for form in (raw, base64.b64encode(raw), json.dumps(secret).encode()[1:-1]):
                    assert form not in data, (path, secret)


def assert_same_as_helper(ch: Env, env: dict[str, str], name: str) -> None:
    """Every login the helper holds comes out of credhelper's get byte for byte."""
    listed = json.loads(helper_run(env, name, "list", b""))
    assert listed
    for server in listed:
        theirs = helper_run(env, name, "get", server.encode())
        ours = ch.helper("get", server.encode())
        assert ours.returncode == 0, ours.stdout
        assert ours.stdout.rstrip(b"\n") == theirs.rstrip(b"\n")


@pytest.fixture
def pass_env(ch: Env, tmp_path: Path) -> Iterator[Env]:
    """`ch` with a real, initialised password store for docker-credential-pass."""
    for tool in ("pass", "gpg", "gpgconf", "docker-credential-pass"):
        require_tool(tool)
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    ch.env = {
        **ch.env,
        "GNUPGHOME": str(gnupg),
        "PASSWORD_STORE_DIR": str(tmp_path / "password-store"),
    }
    run = {"env": ch.env, "capture_output": True, "timeout": 120, "check": True}
    subprocess.run(
        [
            *("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""),
            *("--quick-gen-key", "--yes", "h1-test@example.invalid", "default", "default", "never"),
        ],
        **run,  # type: ignore[call-overload]
    )
    subprocess.run(["pass", "init", "h1-test@example.invalid"], **run)  # type: ignore[call-overload]
    try:
        yield ch
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=ch.env, check=False, timeout=60)


@pytest.fixture
def ss_env(ch: Env, tmp_path: Path) -> Iterator[Env]:
    """`ch` with a real Secret Service for docker-credential-secretservice."""
    require_tool("docker-credential-secretservice")
    with secret_service(tmp_path / "ss") as extra:
        ch.env = {**ch.env, **extra}
        yield ch


def spy(ch: Env, name: str) -> tuple[str, Path]:
    """docker-credential-spy-NAME: records argv and environment, then runs the real one."""
    real = require_tool(f"docker-credential-{name}")
    bindir = ch.root / "spybin"
    bindir.mkdir(exist_ok=True)
    log = ch.root / f"spy-{name}.log"
    script = bindir / f"docker-credential-spy{name}"
    script.write_text(
        "#!/bin/sh\n"
        f'{{ printf "argv:"; printf " %s" "$@"; echo; env | sed "s/^/env:/"; }} >> "{log}"\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o700)
    ch.env["PATH"] = f"{bindir}{os.pathsep}{ch.env['PATH']}"
    return f"spy{name}", log


def test_migrate_from_real_pass(pass_env: Env) -> None:
    ch = pass_env
    for server, user, secret in LOGINS:
        helper_store(ch.env, "pass", server, user, secret)
    ch.env["CREDHELPER_AESKEY_CANARY"] = "must-not-reach-the-child"
    name, log = spy(ch, "pass")
    write_config(ch, {"credsStore": name})
    code, out, err = migrate(ch, name)
    assert code == 0, (out, err)
    assert sorted(out["imported"]) == sorted(s for s, _u, _p in LOGINS)
    assert out["verifyFailed"] == [] and out["needsLogin"] == []
    assert_same_as_helper(ch, ch.env, "pass")
    listed = ch.cli("list")
    assert listed.returncode == 0
    for server, user, _secret in LOGINS[:2]:
        assert server in listed.stdout and user in listed.stdout
    # The identity-token login is kept as the protocol says: username "<token>".
    token = json.loads(ch.helper("get", LOGINS[1][0].encode()).stdout)
    assert token["Username"] == "<token>" and token["Secret"] == LOGINS[1][2]
    # docker now asks credhelper for exactly those registries.
    helpers = config(ch)["credHelpers"]
    assert helpers == {s: "credhelper" for s, _u, _p in LOGINS}
    # What the children got: argv only the action, no credhelper variable, but
    # what pass needs; no secret anywhere in what they were given.
    text = log.read_text()
    argvs = [line for line in text.splitlines() if line.startswith("argv:")]
    assert sorted(set(argvs)) == ["argv: get", "argv: list"]
    assert argvs.count("argv: get") == len(LOGINS)
    assert "env:GNUPGHOME=" in text and "env:PASSWORD_STORE_DIR=" in text
    assert "CREDHELPER_" not in text and "DOCKER_CONFIG" not in text
    for _server, _user, secret in LOGINS:
        assert secret not in text
    assert_no_plaintext(ch, [p for _s, _u, p in LOGINS])


def test_migrate_from_real_secretservice(ss_env: Env) -> None:
    ch = ss_env
    for server, user, secret in LOGINS:
        helper_store(ch.env, "secretservice", server, user, secret)
    write_config(ch, {"credsStore": "secretservice"})
    code, out, err = migrate(ch, "secretservice")
    assert code == 0, (out, err)
    assert sorted(out["imported"]) == sorted(s for s, _u, _p in LOGINS)
    assert_same_as_helper(ch, ch.env, "secretservice")
    assert_no_plaintext(ch, [p for _s, _u, p in LOGINS])
    # A second run finds every login already there and changes nothing.
    before = {p.name: p.read_bytes() for p in ch.home.iterdir() if p.is_file()}
    code, out, _err = migrate(ch, "secretservice")
    assert code == 0 and out["imported"] == [] and len(out["unchanged"]) == len(LOGINS)
    assert {p.name: p.read_bytes() for p in ch.home.iterdir() if p.is_file()} == before


def test_the_helper_docker_uses_wins_and_is_named(pass_env: Env) -> None:
    ch = pass_env
    helper_store(ch.env, "pass", "routed.example", "new", "from-pass")
    helper_store(ch.env, "pass", "other.example", "new", "from-pass")
    ch.store_creds("routed.example", "old", "stored-before")
    ch.store_creds("other.example", "mine", "stored-credhelper")
    # docker calls pass for routed.example, credhelper for other.example.
    write_config(
        ch,
        {
            "credsStore": "credhelper",
            "credHelpers": {"routed.example": "pass"},
        },
    )
    code, out, _err = migrate(ch, "pass")
    assert code == 0
    assert out["replacedStored"] == ["routed.example"]
    assert out["keptExisting"] == ["other.example"]
    assert any("credhelper logout other.example" in n for n in out["notes"])
    assert json.loads(ch.helper("get", b"routed.example").stdout)["Secret"] == "from-pass"
    assert json.loads(ch.helper("get", b"other.example").stdout)["Secret"] == "stored-credhelper"
    assert config(ch)["credHelpers"] == {"routed.example": "credhelper"}
    # The replaced login is in the store's sealed backup, not lost.
    assert out["backups"] and all(Path(b).exists() for b in out["backups"])


@pytest.mark.parametrize(
    "name", ["../pass", "/usr/bin/pass", "-x", "--help", "a b", "credhelper", ""]
)
def test_a_bad_helper_name_is_refused(ch: Env, name: str) -> None:
    proc = ch.cli("migrate", "--from-helper", name)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not ch.home.exists()


def test_a_missing_helper_is_one_line_with_the_fix(ch: Env) -> None:
    proc = ch.cli("migrate", "--from-helper", "nosuchhelper")
    assert proc.returncode == 9
    assert proc.stderr.strip().splitlines() == [
        "credhelper: docker-credential-nosuchhelper is not on PATH; install it (Debian: "
        "sudo apt-get install golang-docker-credential-helpers) or add its directory to PATH, "
        "then run: credhelper migrate --from-helper nosuchhelper"
    ]
    assert not ch.home.exists()


def test_migrate_help_matches_the_readme() -> None:
    """What `migrate --help` says of --from-helper is what the README says."""
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    proc = subprocess.run(
        [CLI, "migrate", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    text = " ".join(proc.stdout.split())
    assert "### `credhelper migrate --from-helper NAME [--docker-config DIR]`" in readme
    assert (
        "credhelper migrate --from-helper pass" in text
        and "$ credhelper migrate --from-helper pass" in readme
    )
    assert (
        "Exit status: 9 if the helper is not on PATH, 3 if it failed for some registries, "
        "1 if a login read back differs." in text
    )
    for phrase in (
        "`9` the helper is not on `PATH`",
        "`3` the helper failed for some registries",
        "`1` a login read back differs",
        "the copy docker used last wins: the helper's where docker was routing that "
        "registry to NAME",
    ):
        assert phrase in readme
    assert "replaced only where docker was using NAME for that registry" in text
    assert "| 9 | a credential helper needed is not on `PATH`" in readme


def test_install_refuses_when_docker_could_not_run_the_helper(ch: Env) -> None:
    config_path = write_config(ch, {"credsStore": "pass", "auths": {}})
    before = config_path.read_bytes()
    env = {**ch.env, "PATH": "/usr/bin:/bin"}
    proc = ch.cli("install", env=env)
    assert proc.returncode == 9, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    assert f'export PATH="{BIN}:$PATH"' in line and "scripts/install" in line
    assert "nothing was changed" in line
    assert config_path.read_bytes() == before
    assert not ch.home.exists()


def test_install_keeps_the_other_helpers_logins_then_uninstall_puts_it_back(
    pass_env: Env,
) -> None:
    ch = pass_env
    helper_store(ch.env, "pass", "kept.example", "alice", "kept-secret")
    write_config(ch, {"credsStore": "pass"})
    proc = ch.cli("install")  # not a terminal, no --from-helper: nothing imported
    assert proc.returncode == 0, proc.stderr
    assert "run: credhelper migrate --from-helper pass" in proc.stdout
    doc = config(ch)
    assert doc["credsStore"] == "credhelper"
    assert doc["credHelpers"] == {"kept.example": "pass"}  # docker still finds that login
    record = ch.home / "config.json.previous-helpers"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert ch.helper("get", b"kept.example").returncode != 0
    # Then the migration the line names moves it, and docker uses credhelper for it.
    code, out, _err = migrate(ch, "pass")
    assert code == 0 and out["replacedStored"] == [] and out["imported"] == ["kept.example"]
    assert config(ch)["credHelpers"] == {"kept.example": "credhelper"}
    assert json.loads(ch.helper("get", b"kept.example").stdout)["Secret"] == "kept-secret"
    proc = ch.cli("uninstall")
    assert proc.returncode == 0, proc.stderr
    assert 'Put back "credsStore": "pass"' in proc.stdout
    assert config(ch) == {"credsStore": "pass"}
    assert not record.exists() or str(ch.docker_config) not in record.read_text()


def test_install_from_helper_imports_then_uninstall_restores(pass_env: Env) -> None:
    ch = pass_env
    for server, user, secret in LOGINS:
        helper_store(ch.env, "pass", server, user, secret)
    write_config(ch, {"credsStore": "pass", "credHelpers": {"ecr.example": "ecr-login"}})
    proc = ch.cli("install", "--from-helper", "pass", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert sorted(out["fromHelpers"]["pass"]["imported"]) == sorted(s for s, _u, _p in LOGINS)
    assert out["keptWithHelper"] == {}
    assert config(ch)["credsStore"] == "credhelper"
    assert_same_as_helper(ch, ch.env, "pass")
    proc = ch.cli("uninstall")
    assert proc.returncode == 0
    assert config(ch) == {"credsStore": "pass", "credHelpers": {"ecr.example": "ecr-login"}}


def test_uninstall_restores_a_helper_no_longer_on_path_and_warns(ch: Env) -> None:
    write_config(ch, {"credsStore": "gone"})
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    proc = ch.cli("uninstall")
    assert proc.returncode == 0
    assert config(ch) == {"credsStore": "gone"}
    assert "WARNING: docker-credential-gone is not on PATH" in proc.stderr


def test_an_edited_record_is_never_acted_on(ch: Env) -> None:
    write_config(ch, {"credsStore": "pass"})
    assert ch.cli("install").returncode == 0
    record = ch.home / "config.json.previous-helpers"
    doc = json.loads(record.read_text())
    key = next(iter(doc))
    doc[key]["credsStore"] = "../../tmp/evil"
    record.write_text(json.dumps(doc))
    proc = ch.cli("uninstall")
    assert proc.returncode == 0
    assert "credsStore" not in config(ch)
    assert "not a plain helper name" in proc.stderr


# ---------------------------------------------------------------- hostile helpers

FAKE = """#!/bin/sh
d="{spec}"
case "$1" in
list) cat "$d/list"; exit "$(cat "$d/list.rc")" ;;
get)
    h=$(cat | sha256sum | cut -c1-16)
    if [ ! -f "$d/get-$h" ]; then echo "credentials not found in native keychain"; exit 1; fi
    [ -f "$d/get-$h.pid" ] && echo $$ > "$d/get-$h.pid"
    # exec: the pid recorded is the sleeping process itself, which credhelper must stop.
    [ -f "$d/get-$h.daemon" ] && exec sleep 60 >&- 2>&-
    [ -f "$d/get-$h.sleep" ] && exec sleep "$(cat "$d/get-$h.sleep")"
    cat "$d/get-$h"; exit "$(cat "$d/get-$h.rc")" ;;
esac
exit 2
"""


class FakeHelper:
    """docker-credential-fake whose answers are files under `spec`."""

    def __init__(self, root: Path) -> None:
        self.bindir = root / "fakebin"
        self.spec = root / "fakespec"
        self.bindir.mkdir(exist_ok=True)
        self.spec.mkdir(exist_ok=True)
        script = self.bindir / "docker-credential-fake"
        script.write_text(FAKE.format(spec=self.spec))
        script.chmod(0o700)

    def reset(self) -> None:
        for path in self.spec.iterdir():
            path.unlink()

    def set_list(self, out: bytes, rc: int = 0) -> None:
        (self.spec / "list").write_bytes(out)
        (self.spec / "list.rc").write_text(str(rc))

    def set_get(
        self, server: str, out: bytes, rc: int = 0, sleep: float = 0, daemon: bool = False
    ) -> Path:
        import hashlib

        digest = hashlib.sha256(server.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        (self.spec / f"get-{digest}").write_bytes(out)
        (self.spec / f"get-{digest}.rc").write_text(str(rc))
        if daemon:
            (self.spec / f"get-{digest}.daemon").write_text("")
        if sleep or daemon:
            (self.spec / f"get-{digest}.sleep").write_text(str(sleep))
            (self.spec / f"get-{digest}.pid").write_text("")
        return self.spec / f"get-{digest}.pid"


@pytest.fixture
def fake(ch: Env, monkeypatch: pytest.MonkeyPatch) -> FakeHelper:
    helper = FakeHelper(ch.root)
    ch.env["PATH"] = f"{helper.bindir}{os.pathsep}{ch.env['PATH']}"
    monkeypatch.setenv("PATH", ch.env["PATH"])
    return helper


def answer(server: str, user: object, secret: object) -> bytes:
    return json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()


def test_hostile_list_outputs_import_nothing(ch: Env, fake: FakeHelper) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from credhelper import helper_import, migrate

    not_objects = st.one_of(
        st.binary(max_size=200).filter(lambda b: not b.strip().startswith(b"{")),
        st.sampled_from([b"", b"null", b"[]", b'["a"]', b"1", b'"s"', b'{"a":', b"\xff{}"]),
        st.lists(st.text(max_size=10), max_size=3).map(lambda v: json.dumps(v).encode()),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(out=not_objects, rc=st.sampled_from([0, 0, 1, 2]))
    def check(out: bytes, rc: int) -> None:
        fake.reset()
        fake.set_list(out, rc)
        with pytest.raises(migrate.MigrateError) as caught:
            helper_import.migrate_helper("fake")
        message = str(caught.value)
        assert "\n" not in message and message.isprintable()
        assert "nothing was imported" in message
        assert not ch.store.exists()

    check()


def test_hostile_get_answers_are_reported_and_the_rest_imported(ch: Env, fake: FakeHelper) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from credhelper import helper_import
    from credhelper.store import Store

    odd = ["", " x", "x\t", "a\nb", "a\x1bb", "\u202eevil", "\ud800x", "x" * 5000]
    servers = st.one_of(
        st.text(min_size=1, max_size=20),
        st.sampled_from([*odd, "reg.example:5000", "https://index.docker.io/v1/", "ü/ä?#"]),
    )
    good = st.tuples(st.just("ok"), st.text(min_size=1, max_size=20), st.text(max_size=40))
    token = st.tuples(st.just("ok"), st.just("<token>"), st.text(min_size=1, max_size=40))
    bad = st.tuples(
        st.sampled_from(["error", "garbage", "badtype", "nouser", "leak", "huge"]),
        st.just(""),
        st.text(min_size=8, max_size=20),
    )
    behaviours = st.dictionaries(servers, st.one_of(good, token, bad), max_size=4)
    values = st.one_of(st.text(max_size=5), st.integers(), st.none(), st.lists(st.integers()))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(plan=behaviours, value=values)
    def check(plan: dict[str, tuple[str, str, str]], value: object) -> None:
        fake.reset()
        if ch.store.exists():
            ch.store.unlink()
        (ch.docker_config / "config.json").write_text('{"credsStore": "fake"}')
        fake.set_list(json.dumps({s: value for s in plan}).encode())
        expected: dict[str, tuple[str, str]] = {}
        for server, (kind, user, secret) in plan.items():
            out, rc = {
                "ok": (answer(server, user, secret), 0),
                "error": (b"something broke\n", 1),
                "garbage": (b"\x00\xffnot json", 0),
                "badtype": (answer(server, 7, secret), 0),
                "nouser": (answer(server, "", secret), 0),
                "leak": (answer(server, "u", secret), 1),
                "huge": (b'{"Username":"u","Secret":"' + b"A" * (2 << 20) + b'"}', 0),
            }[kind]
            fake.set_get(server, out, rc)
            usable = helper_import.unusable_server(server) is None
            if kind == "ok" and usable:
                expected[server] = (user, secret)
        report = helper_import.migrate_helper("fake")
        assert sorted(report.imported) == sorted(expected)
        assert report.unverified == []
        assert len(report.relogin) == len(plan) - len(expected)
        shown = json.dumps(report.as_dict())
        for kind, _user, secret in plan.values():
            if kind == "leak":
                assert secret not in shown and json.dumps(secret)[1:-1] not in shown
        for _server, why in report.relogin:
            assert why.isprintable()
        snapshot = Store().snapshot()
        assert set(snapshot.auths) == set(expected)
        for server, (user, secret) in expected.items():
            creds = snapshot.get(server)
            assert (creds.username, creds.secret) == (user, secret)

    check()


def test_a_helper_that_hangs_is_stopped_at_the_bound(
    ch: Env, fake: FakeHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credhelper import helper_call, helper_import

    monkeypatch.setattr(helper_call, "CALL_TIMEOUT", 1.0)
    fake.set_list(b'{"slow.example": "u", "fine.example": "u"}')
    pidfile = fake.set_get("slow.example", answer("slow.example", "u", "s"), sleep=60)
    fake.set_get("fine.example", answer("fine.example", "u", "fine"))
    report = helper_import.migrate_helper("fake")
    assert report.imported == ["fine.example"]
    assert report.relogin == [("slow.example", "docker-credential-fake: no answer within 1 s")]
    pid = int(pidfile.read_text())
    assert (
        not Path(f"/proc/{pid}").exists()
        or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    )


def test_a_helper_that_closes_its_pipes_and_runs_on_is_stopped(
    ch: Env, fake: FakeHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credhelper import helper_call, helper_import

    monkeypatch.setattr(helper_call, "CALL_TIMEOUT", 1.0)
    fake.set_list(b'{"daemon.example": "u"}')
    pidfile = fake.set_get("daemon.example", b"", daemon=True)
    report = helper_import.migrate_helper("fake")
    assert report.relogin == [("daemon.example", "docker-credential-fake: no answer within 1 s")]
    pid = int(pidfile.read_text())
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text().lower()


def test_huge_and_overlong_lists_are_refused(
    ch: Env, fake: FakeHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credhelper import helper_import, migrate

    fake.set_list(b'{"a": "' + b"x" * (2 << 20) + b'"}')
    with pytest.raises(migrate.MigrateError, match="larger than 1 MiB"):
        helper_import.migrate_helper("fake")
    monkeypatch.setattr(helper_import, "MAX_SERVERS", 3)
    fake.set_list(json.dumps({f"r{i}.example": "u" for i in range(4)}).encode())
    with pytest.raises(migrate.MigrateError, match="names 4 registries"):
        helper_import.migrate_helper("fake")
    assert not ch.store.exists()


def test_sigterm_during_a_get_stops_the_helper_child(ch: Env, fake: FakeHelper) -> None:
    import signal
    import time

    fake.set_list(b'{"slow.example": "u"}')
    pidfile = fake.set_get("slow.example", answer("slow.example", "u", "s"), sleep=60)
    proc = subprocess.Popen(
        [CLI, "migrate", "--from-helper", "fake"],
        env=ch.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the helper's get never started"
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while (
        Path(f"/proc/{child}").exists()
        and "zombie" not in Path(f"/proc/{child}/status").read_text().lower()
    ):
        assert time.monotonic() < deadline, "the helper child outlived credhelper"
        time.sleep(0.05)
    assert not ch.store.exists()


# ---------------------------------------------------------------- with the docker CLI

pytest_plugins = ["tests.registry_server"]


def test_docker_uses_credhelper_after_install_and_pass_after_uninstall(
    pass_env: Env, registry_http: Any
) -> None:
    from tests.terminal import run_on_tty
    from tests.test_install import docker_login

    ch = pass_env
    host = registry_http.host
    user, password = next(iter(registry_http.users.items()))
    write_config(ch, {"credsStore": "pass"})
    docker_login(ch, registry_http, user, password)  # docker stores it in pass
    assert host in json.loads(helper_run(ch.env, "pass", "list", b""))
    # On a terminal install asks, naming the count and the helper.
    code, output = run_on_tty([CLI, "install"], ch.env, [(b"[Y/n]", b"y\n")])
    assert code == 0, output
    assert b"import 1 login from docker-credential-pass? [Y/n]" in output
    assert b"Imported the login for " + host.encode() in output
    theirs = helper_run(ch.env, "pass", "get", host.encode())
    assert ch.helper("get", host.encode()).stdout.rstrip(b"\n") == theirs.rstrip(b"\n")
    # docker now stores and reads through credhelper: erase our copy, log in again.
    assert ch.helper("erase", host.encode()).returncode == 0
    docker_login(ch, registry_http, user, password)
    assert json.loads(ch.helper("get", host.encode()).stdout)["Secret"] == password
    assert config(ch)["credsStore"] == "credhelper"
    # After uninstall docker is back on pass: a new login lands there, not in credhelper.
    proc = ch.cli("uninstall")
    assert proc.returncode == 0 and 'Put back "credsStore": "pass"' in proc.stdout
    helper_run(ch.env, "pass", "erase", host.encode())
    assert ch.helper("erase", host.encode()).returncode == 0
    docker_login(ch, registry_http, user, password)
    assert host in json.loads(helper_run(ch.env, "pass", "list", b""))
    assert ch.helper("get", host.encode()).returncode != 0


def test_answering_no_keeps_the_helpers_registries_with_it(pass_env: Env) -> None:
    from tests.terminal import run_on_tty

    ch = pass_env
    helper_store(ch.env, "pass", "kept.example", "alice", "kept-secret")
    write_config(ch, {"credsStore": "pass"})
    code, output = run_on_tty([CLI, "install"], ch.env, [(b"[Y/n]", b"n\n")])
    assert code == 0, output
    assert b"run: credhelper migrate --from-helper pass" in output
    assert config(ch) == {"credsStore": "credhelper", "credHelpers": {"kept.example": "pass"}}
    assert ch.helper("get", b"kept.example").returncode != 0


def test_without_a_docker_config_docker_used_pass_by_itself(pass_env: Env) -> None:
    """No config.json: docker's automatic choice is pass (on PATH), so pass's logins
    are the ones in use; after the migration docker uses credhelper for the imported
    one and pass (pinned as the credsStore) for everything else, as before."""
    ch = pass_env
    helper_store(ch.env, "pass", "auto.example", "alice", "auto-secret")
    ch.store_creds("auto.example", "old", "older-secret")
    assert not (ch.docker_config / "config.json").exists()
    code, out, _err = migrate(ch, "pass")
    assert code == 0 and out["replacedStored"] == ["auto.example"]
    assert config(ch) == {"credsStore": "pass", "credHelpers": {"auto.example": "credhelper"}}
    assert json.loads(ch.helper("get", b"auto.example").stdout)["Secret"] == "auto-secret"


def test_bad_inputs_change_nothing(pass_env: Env, fake: FakeHelper) -> None:
    ch = pass_env
    helper_store(ch.env, "pass", "reg.example", "alice", "s")
    # A Docker config that does not parse: refused before any helper runs.
    path = ch.docker_config / "config.json"
    path.write_text('{"credsStore": "pass",')
    proc = ch.cli("migrate", "--from-helper", "pass")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert path.read_text() == '{"credsStore": "pass",' and not ch.home.exists()
    # install --from-helper with a helper not on PATH, or one whose list fails.
    path.write_text('{"credsStore": "pass"}')
    proc = ch.cli("install", "--from-helper", "nosuch")
    assert proc.returncode == 9 and "docker-credential-nosuch is not on PATH" in proc.stderr
    fake.set_list(b"garbage")
    proc = ch.cli("install", "--from-helper", "fake")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "did not print a JSON object" in proc.stderr
    assert path.read_text() == '{"credsStore": "pass"}' and not ch.home.exists()
    proc = ch.cli("migrate", "--from", "isulad", "--from-helper", "pass")
    assert proc.returncode == 2


def test_install_never_prints_or_routes_a_hostile_registry_name(ch: Env, fake: FakeHelper) -> None:
    fake.set_list(
        json.dumps({"ok.example": "u", "bad\x1b[31m.example": "u", "\u202eevil": "u"}).encode()
    )
    write_config(ch, {"credsStore": "fake"})
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\u202e" not in proc.stdout + proc.stderr
    assert config(ch)["credHelpers"] == {"ok.example": "fake"}
    assert "1 registry stay with docker-credential-fake" in proc.stdout


def test_a_login_that_reads_back_different_fails_the_run(
    ch: Env, fake: FakeHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification compares what the store returns with what the helper gave:
    a store that returns something else (here: a wrapper) is exit 1, named."""
    from click.testing import CliRunner

    from credhelper import helper_import
    from credhelper.cli.migrate_cmd import command
    from credhelper.store import Store

    class Tampered(Store):
        def snapshot(self) -> Any:
            real = super().snapshot()

            class View:
                def get(self, server: str) -> Any:
                    creds = real.get(server)
                    creds.secret = creds.secret + "-changed"
                    return creds

            return View()

    monkeypatch.setattr(helper_import, "Store", Tampered)
    write_config(ch, {"credsStore": "fake"})
    fake.set_list(b'{"v.example": "u"}')
    fake.set_get("v.example", answer("v.example", "u", "secret-v"))
    result = CliRunner().invoke(command, ["--from-helper", "fake"])
    assert result.exit_code == 1, result.output
    assert "Verify failed: v.example" in result.output
    assert "secret-v" not in result.output
    # docker is not pointed at credhelper for a login that did not verify.
    assert "credHelpers" not in config(ch)


def test_a_record_others_could_change_is_ignored(ch: Env) -> None:
    write_config(ch, {"credsStore": "pass"})
    assert ch.cli("install").returncode == 0
    record = ch.home / "config.json.previous-helpers"
    record.chmod(0o644)
    proc = ch.cli("uninstall")
    assert proc.returncode == 0
    assert "credsStore" not in config(ch)
    assert "ignored" in proc.stderr and "chmod 600" in proc.stderr


def test_a_stale_plaintext_copy_of_a_pass_registry_never_wins(pass_env: Env) -> None:
    """docker sent X to pass (credsStore), so config.json's plaintext X was not in use:
    install strips it but leaves X with pass; the migration then takes pass's copy."""
    ch = pass_env
    helper_store(ch.env, "pass", "x.example", "new", "pass-copy")
    plain = base64.b64encode(b"old:stale-plaintext").decode()
    write_config(ch, {"credsStore": "pass", "auths": {"x.example": {"auth": plain}}})
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = config(ch)
    assert doc["credHelpers"] == {"x.example": "pass"}
    assert doc["auths"] == {"x.example": {}}
    assert_no_plaintext(ch, ["stale-plaintext"])
    code, out, _err = migrate(ch, "pass")
    assert code == 0 and out["replacedStored"] == ["x.example"]
    assert json.loads(ch.helper("get", b"x.example").stdout)["Secret"] == "pass-copy"
    assert config(ch)["credHelpers"] == {"x.example": "credhelper"}


def test_install_names_another_helper_that_comes_first_on_path(ch: Env) -> None:
    other = ch.root / "otherbin"
    other.mkdir()
    script = other / "docker-credential-credhelper"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o700)
    env = {**ch.env, "PATH": f"{other}{os.pathsep}{ch.env['PATH']}"}
    proc = ch.cli("install", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"WARNING: docker will run {script} (first on PATH)" in proc.stderr
    assert "WARNING" not in ch.cli("install").stderr


# ------------------------------------------------------------------ attacks on the helper paths
# Named fake helpers (shell scripts on a throwaway PATH) that answer from files.


SECRET = "Zq9-atkB-hunter2-SECRET"

NAMED_FAKE = """#!/bin/sh
# docker-credential-{name}: records argv/env, answers from files in {spec}
d="{spec}"
{{ printf "argv:"; printf " %s" "$@"; echo; env | sed "s/^/env:/"; }} >> "$d/spy.log"
case "$1" in
list) cat "$d/list" 2>/dev/null || echo '{{}}'; exit 0 ;;
store)
    if [ -f "$d/store.fail" ]; then cat "$d/store.fail"; exit 1; fi
    cat >> "$d/stored.log"; echo >> "$d/stored.log"; exit 0 ;;
get)
    s=$(cat)
    h=$(printf %s "$s" | sha256sum | cut -c1-16)
    if [ ! -f "$d/get-$h.out" ]; then echo "credentials not found in native keychain"; exit 1; fi
    cat "$d/get-$h.out"
    [ -f "$d/get-$h.err" ] && cat "$d/get-$h.err" >&2
    exit "$(cat "$d/get-$h.rc" 2>/dev/null || echo 0)" ;;
esac
exit 2
"""


class NamedFake:
    def __init__(self, ch: Env, name: str) -> None:
        self.name = name
        self.bindir = ch.root / "fakebin"
        self.spec = ch.root / f"spec-{name}"
        self.bindir.mkdir(exist_ok=True)
        self.spec.mkdir(exist_ok=True)
        script = self.bindir / f"docker-credential-{name}"
        script.write_text(NAMED_FAKE.format(name=name, spec=self.spec))
        script.chmod(0o700)
        if str(self.bindir) not in ch.env["PATH"].split(os.pathsep):
            ch.env["PATH"] = f"{self.bindir}{os.pathsep}{ch.env['PATH']}"

    def set_list(self, servers: dict[str, str] | bytes) -> None:
        data = servers if isinstance(servers, bytes) else json.dumps(servers).encode()
        (self.spec / "list").write_bytes(data)

    def set_get(self, server: str, out: bytes, rc: int = 0, err: bytes | None = None) -> None:
        import hashlib

        h = hashlib.sha256(server.encode()).hexdigest()[:16]
        (self.spec / f"get-{h}.out").write_bytes(out)
        (self.spec / f"get-{h}.rc").write_text(str(rc))
        if err is not None:
            (self.spec / f"get-{h}.err").write_bytes(err)


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), base64.b64encode(b"u:" + raw)]


def assert_nowhere(ch: Env, secret: str, *texts: str) -> None:
    for text in texts:
        for form in forms(secret):
            assert form.decode() not in text, text
    roots = [ch.home, ch.docker_config, Path(ch.env["TMPDIR"])]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.name.startswith("spy"):
                data = path.read_bytes()
                for form in forms(secret):
                    assert form not in data, path


RECORD = "config.json.previous-helpers"


def test_atk_record_symlink_fifo_huge_foreign_is_never_acted_on(ch: Env, tmp_path: Path) -> None:
    """a record that is a symlink, a FIFO, > 1 MiB, 0644 or names a path/flag:
    uninstall ignores it with one line, never names the planted helper."""
    NamedFake(ch, "alpha")
    target = tmp_path / "planted.json"
    evil = {"credsStore": "evil", "credHelpers": {}, "added": {}}
    cases = ["symlink", "fifo", "huge", "mode", "owner", "path", "flag", "dir"]
    for case in cases:
        write_config(ch, {"credsStore": "alpha"})
        rec = ch.home / RECORD
        if rec.exists() or rec.is_symlink():
            rec.unlink()
        assert ch.cli("install").returncode == 0
        key = str(ch.docker_config / "config.json")
        rec.unlink()
        if case == "symlink":
            target.write_text(json.dumps({key: evil}))
            target.chmod(0o600)
            os.symlink(target, rec)
        elif case == "fifo":
            os.mkfifo(rec, 0o600)
        elif case == "huge":
            rec.write_bytes(json.dumps({key: evil}).encode() + b" " * (2 << 20))
            rec.chmod(0o600)
        elif case == "mode":
            rec.write_text(json.dumps({key: evil}))
            rec.chmod(0o644)
        elif case == "owner":
            rec.write_text(json.dumps({key: evil}))
            rec.chmod(0o600)
            if os.geteuid() == 0:
                os.chown(rec, 65534, 65534)
            else:
                continue
        elif case == "dir":
            rec.mkdir()
        else:
            bad = "../../bin/sh" if case == "path" else "-rf"
            rec.write_text(json.dumps({key: {**evil, "credsStore": bad}}))
            rec.chmod(0o600)
        proc = ch.cli("uninstall")
        assert proc.returncode == 0, (case, proc.stderr)
        doc = config(ch)
        assert "credsStore" not in doc, (case, doc)
        assert "evil" not in proc.stdout + proc.stderr
        assert "ignored" in proc.stderr, (case, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (case, proc.stderr)
        if case == "symlink":
            assert json.loads(target.read_text())[key] == evil  # not written through
        if rec.is_dir():
            rec.rmdir()
        elif rec.exists() or rec.is_symlink():
            rec.unlink()


def test_atk_record_is_private_from_creation(ch: Env) -> None:
    """the record is 0600 in a 0700 directory and holds no secret."""
    fake = NamedFake(ch, "alpha")
    fake.set_list({"a.example": "u"})
    fake.set_get("a.example", answer("a.example", "u", SECRET))
    write_config(ch, {"credsStore": "alpha", "credHelpers": {"a.example": "alpha"}})
    proc = ch.cli("migrate", "--from-helper", "alpha")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = ch.home / RECORD
    assert rec.stat().st_mode & 0o777 == 0o600
    assert ch.home.stat().st_mode & 0o777 == 0o700
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)


def test_atk_secret_in_helper_stderr_is_never_echoed(ch: Env) -> None:
    """Found by attack: A failing `get` whose stdout is empty and whose stderr is the answer
    (a helper's debug line): credhelper prints the stderr's first line, the secret
    with it. README: "An error line that looks like an answer (it may hold a secret)
    is never echoed." helper_call.call filters stdout only, never err_text."""
    fake = NamedFake(ch, "leaky")
    fake.set_list({"l.example": "u"})
    fake.set_get("l.example", b"", rc=1, err=answer("l.example", "u", SECRET) + b"\n")
    proc = ch.cli("migrate", "--from-helper", "leaky")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)
    proc = ch.cli("migrate", "--from-helper", "leaky", "--json")
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)


def test_a_failing_helpers_plain_error_line_is_shown(ch: Env) -> None:
    """A plain error line (gpg's) is the reason shown; a `Secret:` debug line, JSON on
    either stream, or any quote or bracket is replaced by the fixed line."""
    fake = NamedFake(ch, "err")
    cases = {
        "g.example": (b"", b"gpg: decryption failed: No secret key\n"),
        "s.example": (b"", f"Secret: {SECRET}\n".encode()),
        "o.example": (f"error\n{{{SECRET}}}".encode(), b""),
        "q.example": (b"oops", f"token '{SECRET}' [x]".encode()),
    }
    fake.set_list({s: "u" for s in cases})
    for server, (stdout, stderr) in cases.items():
        fake.set_get(server, stdout, rc=1, err=stderr)
    code, out, _stderr = migrate(ch, "err")
    assert code == 3
    reasons = {r["server"]: r["reason"] for r in out["needsLogin"]}
    assert "gpg: decryption failed: No secret key" in reasons["g.example"]
    for server in ("s.example", "o.example", "q.example"):
        assert "its answer was not usable (not shown: it may hold a secret)" in reasons[server]
    assert SECRET not in json.dumps(out)


def test_atk_secret_after_a_bom_is_never_echoed(ch: Env) -> None:
    """Found by attack: A failing `get` that prints its answer after a UTF-8 BOM (or any one
    character before the '{'): the filter looks only at the first byte after white
    space, so the line, with the secret, is echoed."""
    fake = NamedFake(ch, "bom")
    fake.set_list({"b.example": "u"})
    fake.set_get("b.example", b"\xef\xbb\xbf" + answer("b.example", "u", SECRET), rc=1)
    proc = ch.cli("migrate", "--from-helper", "bom")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)


def test_atk_odd_get_answers_never_echo_the_secret(ch: Env) -> None:
    """JSON answers with extra fields, non-string fields, trailing garbage, a
    failing exit with JSON on stdout: reported per registry, the secret never shown."""
    fake = NamedFake(ch, "odd")
    outs = {
        "a.example": (answer("a.example", "u", SECRET) + b"garbage", 0),
        "b.example": (json.dumps({"Username": 5, "Secret": SECRET}).encode(), 0),
        "c.example": (answer("c.example", "u", SECRET), 1),
        "d.example": (b'  \n [{"Secret": "' + SECRET.encode() + b'"}]', 1),
        "e.example": (json.dumps({"Secret": SECRET}).encode(), 0),
    }
    fake.set_list({s: "u" for s in outs})
    for server, (out, rc) in outs.items():
        fake.set_get(server, out, rc)
    env = {**ch.env, "CREDHELPER_DEBUG": "1"}
    proc = ch.cli("migrate", "--from-helper", "odd", env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)


def test_atk_child_gets_no_key_and_secret_never_on_argv(ch: Env) -> None:
    """the helper child's argv is `list`/`get`; its environment has no
    CREDHELPER_*, DOCKER_*, vault token; the server goes on stdin."""
    fake = NamedFake(ch, "spy")
    fake.set_list({"s.example": "u"})
    fake.set_get("s.example", answer("s.example", "u", SECRET))
    key = base64.b64encode(os.urandom(32)).decode()
    env = {
        **ch.env,
        "CREDHELPER_AESKEY": key,
        "VAULT_TOKEN": "hvs.atkb-token",
        "DOCKER_AUTH_CONFIG": '{"auths":{}}',
        "MY_TOKEN": "atkb-other-token",
    }
    proc = ch.cli("migrate", "--from-helper", "spy", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (fake.spec / "spy.log").read_text()
    argvs = [line for line in log.splitlines() if line.startswith("argv:")]
    assert argvs == ["argv: list", "argv: get"], argvs
    for bad in ("CREDHELPER_", "DOCKER_", "VAULT_", "MY_TOKEN", key, "s.example"):
        assert bad not in log, bad


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-h",
        "--help",
        "../x",
        "a/b",
        "/usr/bin/pass",
        "..",
        ".hidden",
        "credhelper",
        "x" * 65,
        "p\u0430ss",
        "pass\n",
        "pass ",
    ],
)
def test_atk_bad_names_are_usage_errors(ch: Env, name: str) -> None:
    """every such NAME is exit 2, one line, nothing written."""
    write_config(ch, {"credsStore": "pass"})
    before = (ch.docker_config / "config.json").read_bytes()
    proc = ch.cli("migrate", "--from-helper", name)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert not ch.store.exists()
    assert (ch.docker_config / "config.json").read_bytes() == before
    proc = ch.cli("install", "--from-helper", name)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert (ch.docker_config / "config.json").read_bytes() == before


def test_atk_helper_that_is_credhelper_itself(ch: Env) -> None:
    """docker-credential-loop -> credhelper's own helper: the child runs with
    the allow-listed env (no CREDHELPER_HOME/DOCKER_CONFIG), so it reads the store of
    HOME/.docker; nothing recurses, the run ends, one login imported once."""

    bindir = ch.root / "loopbin"
    bindir.mkdir()
    os.symlink(HELPER, bindir / "docker-credential-loop")
    ch.env["PATH"] = f"{bindir}{os.pathsep}{ch.env['PATH']}"
    other = {**ch.env, "DOCKER_CONFIG": str(ch.root / ".docker")}
    other.pop("CREDHELPER_HOME")
    subprocess.run(
        [HELPER, "store"],
        input=answer("loop.example", "u", SECRET),
        env=other,
        check=True,
        timeout=60,
    )
    write_config(ch, {"credsStore": "loop"})
    proc = ch.cli("migrate", "--from-helper", "loop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = ch.helper("get", b"loop.example")
    assert json.loads(got.stdout)["Secret"] == SECRET
    # migrate routes the registry (credHelpers); install switches credsStore.
    assert config(ch)["credHelpers"] == {"loop.example": "credhelper"}


def test_atk_hostile_server_names_never_reach_the_terminal(ch: Env) -> None:
    """ESC, bidi, newline, NEL, Docker Hub spellings, 10,001 names."""
    fake = NamedFake(ch, "names")
    names = {
        "e\x1b]0;pwn\x07.example": "u",
        "b\u202eelpmaxe.example": "u",
        "n\nl.example": "u",
        "x\u0085.example": "u",
        "docker.io": "u",
        "index.docker.io": "u",
        "https://index.docker.io/v1/": "u",
        "https://index.docker.io/v1": "u",
    }
    fake.set_list(names)
    for server in names:
        fake.set_get(server, answer(server, "u", SECRET))
    write_config(ch, {"credsStore": "names"})
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    for bad in ("\x1b", "\u202e", "\x85"):
        assert bad not in proc.stdout + proc.stderr
    doc = config(ch)
    assert not any(not k.isprintable() for k in doc.get("credHelpers", {}))
    proc = ch.cli("migrate", "--from-helper", "names")
    for bad in ("\x1b", "\u202e", "\x85"):
        assert bad not in proc.stdout + proc.stderr
    for hub in ("https://index.docker.io/v1/", "docker.io", "index.docker.io"):
        got = ch.helper("get", hub.encode())
        assert got.returncode == 0 and json.loads(got.stdout)["Secret"] == SECRET
    fake.set_list(json.dumps({f"r{i}.example": "u" for i in range(10001)}).encode())
    proc = ch.cli("migrate", "--from-helper", "names")
    assert proc.returncode == 1 and "10001" in proc.stdout + proc.stderr


def test_atk_invalid_utf8_and_huge_list(ch: Env) -> None:
    """invalid UTF-8 and 100 MB of list: exit 1, one line, nothing imported."""
    fake = NamedFake(ch, "junk")
    fake.set_list(b'{"\xff\xfe.example": "u"}')
    proc = ch.cli("migrate", "--from-helper", "junk")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    script = fake.bindir / "docker-credential-junk"
    script.write_text("#!/bin/sh\nhead -c 100000000 /dev/zero | tr '\\0' a\n")
    proc = ch.cli("migrate", "--from-helper", "junk")
    assert proc.returncode == 1 and "1 MiB" in proc.stdout + proc.stderr
    assert not ch.store.exists()


def _consistent(ch: Env, servers: list[str]) -> None:
    """Docker's config parses, names only helpers on PATH, and every login is served
    by the helper docker routes it to."""
    from credhelper import dockerconfig

    path = ch.docker_config / "config.json"
    doc = json.loads(path.read_text())
    assert isinstance(doc, dict)
    cfg = dockerconfig.load(str(path))
    for server in servers:
        helper, _why = dockerconfig.helper_for(cfg, server, search_path=ch.env["PATH"])
        assert helper, (server, doc)
        exe = dockerconfig.which_helper(helper, ch.env["PATH"])
        assert exe is not None, (server, helper)
        if os.path.samefile(exe, HELPER):
            # Our own helper: its `get` in this process gives the executable's bytes
            # and exit code (tests/test_protocol_equivalence.py), without starting an
            # interpreter for each of the 288 read-backs; the kills stay real processes.
            got = ch.call("get", server.encode())
        else:
            got = subprocess.run(
                [exe, "get"], input=server.encode(), capture_output=True, env=ch.env, timeout=60
            )
        assert got.returncode == 0, (server, helper, got.stdout)
        assert json.loads(got.stdout)["Secret"] == f"{SECRET}-{server}"


def test_atk_killed_install_and_uninstall_lose_no_login(ch: Env) -> None:
    """SIGKILL/SIGTERM install --from-helper, then uninstall, at increasing
    delays (bounded): config always parses and every login is served by the helper
    docker routes it to; a rerun completes."""
    fake = NamedFake(ch, "kf")
    servers = [f"k{i}.example" for i in range(6)]
    fake.set_list({s: "u" for s in servers})
    for s in servers:
        fake.set_get(s, answer(s, "u", f"{SECRET}-{s}"))
    for round_ in range(12):
        delay = 0.05 * round_
        sig = signal.SIGKILL if round_ % 2 else signal.SIGTERM
        for args in (["install", "--from-helper", "kf"], ["uninstall"]):
            if args[0] == "install":
                write_config(ch, {"credsStore": "kf"})
                for p in (ch.home / RECORD, ch.store):
                    if p.exists():
                        p.unlink()
            proc = subprocess.Popen(
                [CLI, *args], env=ch.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            time.sleep(delay)
            proc.send_signal(sig)
            proc.communicate(timeout=60)
            _consistent(ch, servers)
            done = ch.cli(*args)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            _consistent(ch, servers)
        assert config(ch).get("credsStore") == "kf", (round_, config(ch))


def test_atk_concurrent_install_and_migrate(ch: Env) -> None:
    """two installs and a migrate at once: config parses, logins served."""
    fake = NamedFake(ch, "cc")
    servers = [f"c{i}.example" for i in range(4)]
    fake.set_list({s: "u" for s in servers})
    for s in servers:
        fake.set_get(s, answer(s, "u", f"{SECRET}-{s}"))
    for _ in range(3):
        write_config(ch, {"credsStore": "cc"})
        procs = [
            subprocess.Popen([CLI, *a], env=ch.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for a in (
                ["install"],
                ["install", "--from-helper", "cc"],
                ["migrate", "--from-helper", "cc"],
            )
        ]
        for p in procs:
            p.communicate(timeout=120)
            assert p.returncode in (0, 1, 3), p.returncode
        _consistent(ch, servers)
        assert ch.cli("uninstall").returncode == 0
        _consistent(ch, servers)
        assert config(ch).get("credsStore") == "cc"


def test_atk_migrate_while_logins_are_stored(ch: Env) -> None:
    """migrate of 40 registries while 20 `store` calls run: none lost."""
    fake = NamedFake(ch, "busy")
    servers = [f"m{i}.example" for i in range(40)]
    fake.set_list({s: "u" for s in servers})
    for s in servers:
        fake.set_get(s, answer(s, "u", f"{SECRET}-{s}"))
    write_config(ch, {"credsStore": "busy"})
    mig = subprocess.Popen(
        [CLI, "migrate", "--from-helper", "busy"],
        env=ch.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    for i in range(20):
        subprocess.run(
            [HELPER, "store"],
            input=answer(f"own{i}.example", "me", f"own-{i}"),
            env=ch.env,
            check=True,
            timeout=60,
        )
    out, err = mig.communicate(timeout=300)
    assert mig.returncode == 0, (out, err)
    for i in range(20):
        got = ch.helper("get", f"own{i}.example".encode())
        assert json.loads(got.stdout)["Secret"] == f"own-{i}"
    _consistent(ch, servers)


def test_atk_stale_record_uninstall_restores_the_helper_install_replaced(ch: Env) -> None:
    """Found by attack: install (credsStore alpha) records alpha. The user then takes docker off
    credhelper by hand and switches to beta; `uninstall` finds nothing to change, so
    the record stays. The next install says it replaced "beta" and "uninstall puts it
    back", but uninstall puts back alpha: docker calls a helper it was not using and
    every beta login is gone from docker's use."""
    NamedFake(ch, "alpha")
    beta = NamedFake(ch, "beta")
    beta.set_list({"b.example": "u"})
    beta.set_get("b.example", answer("b.example", "u", SECRET))
    write_config(ch, {"credsStore": "alpha"})
    assert ch.cli("install").returncode == 0
    write_config(ch, {"credsStore": "beta"})  # by hand: credhelper off, beta on
    proc = ch.cli("uninstall")
    assert proc.returncode == 0 and "nothing to change" in proc.stdout
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    assert 'Replaced "credsStore": "beta" (recorded: credhelper uninstall puts it back)' in (
        proc.stdout
    )
    assert ch.cli("uninstall").returncode == 0
    assert config(ch).get("credsStore") == "beta", config(ch)


def test_atk_record_found_through_another_spelling_of_the_config_dir(ch: Env) -> None:
    """Found by attack (low): The record is keyed by os.path.abspath of config.json, Docker's
    config is edited through its real path: install with DOCKER_CONFIG=<symlink to
    the dir>, uninstall with the real dir (or the other way round) edits the same
    file but finds no record, so "credsStore": "alpha" is dropped, not put back."""
    NamedFake(ch, "alpha")
    link = ch.root / "docker-link"
    os.symlink(ch.docker_config, link)
    write_config(ch, {"credsStore": "alpha"})
    proc = ch.cli("install", env={**ch.env, "DOCKER_CONFIG": str(link)})
    assert proc.returncode == 0, proc.stderr
    assert config(ch)["credsStore"] == "credhelper"
    proc = ch.cli("uninstall")
    assert proc.returncode == 0, proc.stderr
    assert config(ch).get("credsStore") == "alpha", (config(ch), proc.stdout, proc.stderr)


def test_atk_a_record_it_refused_is_not_overwritten(ch: Env) -> None:
    """Found by attack: install records "credsStore": "alpha". The record then becomes 0644
    (restored from a backup, a umask'd copy): uninstall would refuse it, fine. But a
    rerun of install silently replaces it (previous_helpers._write: "unusable:
    replaced by what is known now"; record() drops load()'s problem line), and what
    is known now is credhelper, so the recorded alpha is lost: once the mode is fixed,
    uninstall drops credsStore instead of putting alpha back. Team rule: "never
    overwrite a file you could not parse"; README: such a record is "ignored with one
    line on stderr, never acted on"."""
    NamedFake(ch, "alpha")
    write_config(ch, {"credsStore": "alpha"})
    assert ch.cli("install").returncode == 0
    rec = ch.home / RECORD
    before = rec.read_bytes()
    rec.chmod(0o644)
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    assert rec.read_bytes() == before, "the refused record was overwritten"
    assert f"left {rec} as it is" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    rec.chmod(0o600)
    assert ch.cli("uninstall").returncode == 0
    assert config(ch).get("credsStore") == "alpha", config(ch)


def _auto_pass(ch: Env) -> NamedFake:
    """No config.json; `pass` and a (fake) docker-credential-pass on PATH: docker's
    DetectDefaultStore picks pass for every registry."""
    from tests.conftest import require_tool

    require_tool("pass")
    fake = NamedFake(ch, "pass")
    fake.set_list({"a.example": "u", "b.example": "u"})
    fake.set_get("a.example", answer("a.example", "u", f"{SECRET}-a.example"))
    fake.set_get("b.example", answer("b.example", "u", f"{SECRET}-b.example"))
    assert not (ch.docker_config / "config.json").exists()
    return fake


def test_atk_install_with_docker_auto_pass_keeps_its_logins(ch: Env) -> None:
    """Found by attack: With no config.json docker uses pass by itself (the case migrate's
    routed_to already counts). install neither offers the import nor keeps pass's
    registries with it: it writes "credsStore": "credhelper" and docker then asks
    credhelper, which holds none of them. README: "no login is lost from docker's use
    either: every registry that helper lists gets a credHelpers entry naming it".
    Root cause: install.other_helpers/_fetch_helpers look only at cfg.creds_store(),
    never at dockerconfig.auto_store()."""
    _auto_pass(ch)
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    _consistent(ch, ["a.example", "b.example"])
    assert config(ch)["credHelpers"] == {"a.example": "pass", "b.example": "pass"}
    assert ch.cli("uninstall").returncode == 0
    _consistent(ch, ["a.example", "b.example"])


def test_atk_migrate_with_docker_auto_pass_routes_only_what_it_imported(ch: Env) -> None:
    """Found by attack: Same machine; pass's `get` fails for b.example. migrate imports
    a.example and, because no credsStore was set, use_credhelper sets
    "credsStore": "credhelper" for every registry, so b.example (still only in pass)
    is lost from docker's use. README: "Docker is then pointed at credhelper for the
    registries it routed to NAME (credHelpers entries, ...)"."""
    fake = _auto_pass(ch)
    fake.set_get("b.example", b"gpg: decryption failed: No secret key\n", rc=1)
    proc = ch.cli("migrate", "--from-helper", "pass")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    fake.set_get("b.example", answer("b.example", "u", f"{SECRET}-b.example"))
    _consistent(ch, ["a.example", "b.example"])


def test_atk_install_prints_config_keys_escaped(ch: Env) -> None:
    """Config keys are printed escaped (a terminal escape in a key routed to another
    helper: install's note; a recorded credHelpers key: uninstall's `Put back` line)."""
    NamedFake(ch, "alpha")
    evil = "e\x1b]0;owned\x07.example"
    plain = base64.b64encode(f"u:{SECRET}".encode()).decode()
    write_config(
        ch,
        {"credsStore": "alpha", "credHelpers": {evil: "alpha"}, "auths": {evil: {"auth": plain}}},
    )
    proc = ch.cli("install")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr, proc.stdout
    assert "e\\x1b]0;owned\\x07.example" in proc.stdout
    write_config(ch, {"credsStore": "credhelper", "credHelpers": {evil: "credhelper"}})
    rec = ch.home / RECORD
    key = os.path.realpath(ch.docker_config / "config.json")
    rec.write_text(json.dumps({key: {"credsStore": "alpha", "credHelpers": {evil: "alpha"}}}))
    rec.chmod(0o600)
    proc = ch.cli("uninstall")
    assert proc.returncode == 0, proc.stderr
    assert config(ch) == {"credsStore": "alpha", "credHelpers": {evil: "alpha"}}
    assert "\x1b" not in proc.stdout + proc.stderr, proc.stdout
    assert 'Put back "credHelpers": {"e\\x1b]0;owned\\x07.example": "alpha"}' in proc.stdout


def test_atk_restore_credentials_with_a_restored_creds_store(ch: Env) -> None:
    """install replaced "credsStore": "alpha"; a login then made through credhelper.
    `uninstall --restore-credentials` puts alpha back, so docker would ask alpha, not
    config.json, for it: the login is handed to alpha through its protocol `store`
    (the secret on its stdin only), never written as plaintext. A store that fails
    is named (log in again with docker login), and nothing is written either."""
    alpha = NamedFake(ch, "alpha")
    write_config(ch, {"credsStore": "alpha"})
    assert ch.cli("install").returncode == 0
    ch.store_creds("new.example", "u", f"{SECRET}-new.example")
    proc = ch.cli("uninstall", "--restore-credentials")
    assert proc.returncode == 0, proc.stderr
    assert "Handed the login for new.example to docker-credential-alpha" in proc.stdout
    assert config(ch) == {"credsStore": "alpha"}
    stored = [
        json.loads(line) for line in (alpha.spec / "stored.log").read_text().splitlines() if line
    ]
    assert stored == [
        {"ServerURL": "new.example", "Username": "u", "Secret": f"{SECRET}-new.example"}
    ]
    argvs = [x for x in (alpha.spec / "spy.log").read_text().splitlines() if "argv:" in x]
    assert argvs[-1] == "argv: store" and SECRET not in "".join(argvs)
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)

    (alpha.spec / "stored.log").unlink()
    (alpha.spec / "store.fail").write_text("keychain locked\n")
    write_config(ch, {"credsStore": "alpha"})
    assert ch.cli("install").returncode == 0
    proc = ch.cli("uninstall", "--restore-credentials", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["restoredToHelper"] == {} and out["restoredAsPlaintext"] == []
    [(entry)] = out["notRestored"]
    assert entry["server"] == "new.example" and "keychain locked" in entry["reason"]
    assert config(ch) == {"credsStore": "alpha"}
    assert not (alpha.spec / "stored.log").exists()
    assert_nowhere(ch, SECRET, proc.stdout, proc.stderr)


def test_atk_grandchild_holding_the_pipe_is_stopped_too(
    ch: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by attack (low): A helper whose `get` answers, exits 0, but leaves a background
    process holding its stdout (a daemon it starts without closing fds): credhelper
    waits out the whole call bound, reports "no answer" for a login that was
    answered, and the background process outlives credhelper (helper_call runs the
    child with new_group=False, so only the direct child is ever signalled)."""
    from credhelper import helper_call, helper_import

    monkeypatch.setattr(helper_call, "CALL_TIMEOUT", 2.0)
    bindir = ch.root / "gcbin"
    bindir.mkdir()
    pidfile = ch.root / "grandchild.pid"
    script = bindir / "docker-credential-gc"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        'list) echo \'{"g.example": "u"}\' ;;\n'
        f"get) cat >/dev/null; sleep 30 & echo $! > {pidfile}; "
        f"printf '%s' '{answer('g.example', 'u', SECRET).decode()}' ;;\n"
        "esac\n"
    )
    script.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    report = helper_import.migrate_helper("gc")
    pid = int(pidfile.read_text())
    try:
        status = Path(f"/proc/{pid}/status")
        alive = status.exists() and "zombie" not in status.read_text().lower()
        assert not alive, "the helper's background process outlived the call"
        assert report.imported == ["g.example"], report.relogin
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# The real docker-credential-pass and -secretservice: killed midway, nothing lost;
# no secret in any file credhelper writes.
REAL_SECRET = "Zq9-atkB-real-SECRET"


def _served_by_docker_route(ch: Env, server: str) -> None:
    from credhelper import dockerconfig

    cfg = dockerconfig.load(str(ch.docker_config / "config.json"))
    helper, _ = dockerconfig.helper_for(cfg, server, search_path=ch.env["PATH"])
    exe = dockerconfig.which_helper(helper, ch.env["PATH"])
    assert exe is not None, (helper, cfg.doc)
    got = subprocess.run(
        [exe, "get"], input=server.encode(), capture_output=True, env=ch.env, timeout=120
    )
    assert got.returncode == 0, (helper, got.stdout)
    assert json.loads(got.stdout)["Secret"] == REAL_SECRET


def test_atk_real_pass_killed_install_loses_nothing(pass_env: Env) -> None:
    ch = pass_env
    servers = ["p1.example", "p2.example:5000"]
    for server in servers:
        helper_store(ch.env, "pass", server, "alice", REAL_SECRET)
    for round_ in range(5):
        write_config(ch, {"credsStore": "pass"})
        for path in (ch.home / RECORD, ch.store):
            if path.exists():
                path.unlink()
        proc = subprocess.Popen(
            [CLI, "install", "--from-helper", "pass"],
            env=ch.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.15 * round_)
        proc.send_signal(signal.SIGKILL if round_ % 2 else signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        assert_nowhere(ch, REAL_SECRET, out.decode(), err.decode())
        for server in servers:
            _served_by_docker_route(ch, server)
        done = ch.cli("install", "--from-helper", "pass")
        assert done.returncode == 0, done.stdout + done.stderr
        assert_nowhere(ch, REAL_SECRET, done.stdout, done.stderr)
        for server in servers:
            _served_by_docker_route(ch, server)
        undo = ch.cli("uninstall")
        assert undo.returncode == 0
        assert config(ch).get("credsStore") == "pass"
        for server in servers:
            _served_by_docker_route(ch, server)


def test_atk_real_secretservice_migrate_leaves_no_secret(ss_env: Env) -> None:
    ch = ss_env
    helper_store(ch.env, "secretservice", "s1.example", "bob", REAL_SECRET)
    write_config(ch, {"credsStore": "desktop", "credHelpers": {"s1.example": "secretservice"}})
    env = {**ch.env, "CREDHELPER_DEBUG": "1"}
    proc = ch.cli("migrate", "--from-helper", "secretservice", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_nowhere(ch, REAL_SECRET, proc.stdout, proc.stderr)
    assert config(ch)["credHelpers"] == {"s1.example": "credhelper"}
    assert json.loads(ch.helper("get", b"s1.example").stdout)["Secret"] == REAL_SECRET
    undo = ch.cli("uninstall")
    assert undo.returncode == 0
    assert config(ch) == {"credsStore": "desktop", "credHelpers": {"s1.example": "secretservice"}}
    _served_by_docker_route(ch, "s1.example")
