"""Doctor's checks one at a time, each on a hand-built `Context` (real files in a
temp dir, a real store), and each fix on a single finding: what a check reports
depends only on its inputs, and a fix does exactly what its finding's remedy says.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from credhelper.doctor import (
    FIX_COMMAND,
    Context,
    Finding,
    FixReport,
    KeyState,
    StoreState,
    docker_config_step,
    fix,
    run_checks,
)
from credhelper.doctor import remedies as r
from credhelper.doctor.docker_checks import check_docker_config
from credhelper.doctor.docker_fixes import fix_docker_config
from credhelper.doctor.entry_checks import check_entries
from credhelper.doctor.fixes import fix_nodes, fix_store
from credhelper.doctor.helper_checks import check_helpers
from credhelper.doctor.isulad_checks import check_isulad
from credhelper.doctor.key_checks import check_key, logins_needing_key
from credhelper.doctor.model import own_words
from credhelper.doctor.store_checks import check_store
from credhelper.store import Store
from tests.conftest import HELPER, Env
from tests.test_legacy import isulad_key, isulad_record

SECRET = "s3cr3t-Pa55"  # a test login


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config(ch: Env, doc: object | str, mode: int = 0o600) -> Path:
    path = ch.docker_config / "config.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    path.chmod(mode)
    return path


def context(ch: Env, **kw: object) -> Context:
    """A context over the test's own Docker config and store; PATH without credhelper
    unless `search_path` is given, and an empty environment."""
    search_path = kw.pop("search_path", "")
    assert isinstance(search_path, str)
    return Context.build(
        str(ch.docker_config / "config.json"),
        store=Store(str(ch.home)),
        search_path=search_path,
        environ={},
        **kw,  # type: ignore[arg-type]
    )


def by_id(findings: list[Finding], id_: str) -> list[Finding]:
    return [f for f in findings if f.id == id_]


def three_logins(ch: Env) -> None:
    for server in ("a.example", "b.example", "127.0.0.1:5000"):
        ch.put(server, "alice", SECRET)


# ------------------------------------------------------------------ Docker's config


def test_plaintext_login_carries_its_import_and_never_shows_it(ch: Env) -> None:
    config(ch, {"auths": {"r.example": {"auth": b64(f"alice:{SECRET}")}}})
    findings = check_docker_config(context(ch))
    (plain,) = by_id(findings, "docker-config.plaintext")
    assert plain.fixable and plain.server == "r.example"
    assert isinstance(plain.remedy, r.ImportLogin)
    assert plain.remedy.candidate.username == "alice"
    # The remedy holds the password on its way into the store: never printed.
    assert SECRET not in repr(plain) and SECRET not in repr(plain.remedy)
    assert SECRET not in json.dumps(plain.as_dict()) and "remedy" not in plain.as_dict()


def test_context_never_shows_the_logins_or_the_environment(ch: Env) -> None:
    config(ch, {"auths": {"r.example": {"auth": b64(f"alice:{SECRET}")}}})
    token = "hvs.env-token-value"  # a test value
    ctx = Context.build(str(ch.docker_config / "config.json"), environ={"VAULT_TOKEN": token})
    shown = repr(ctx) + str(ctx)
    assert b64(f"alice:{SECRET}") not in shown and SECRET not in shown and token not in shown
    assert str(ch.docker_config) in shown


def test_docker_config_mode_fix_alone_chmods_only_that_file(ch: Env) -> None:
    path = config(ch, {"auths": {}, "credsStore": "credhelper"}, mode=0o644)
    (finding,) = by_id(check_docker_config(context(ch)), "docker-config.mode")
    assert finding.remedy == r.Chmod(os.path.realpath(path), 0o600)
    before = path.read_bytes()
    report = FixReport()
    fix_nodes([finding], report)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == before
    assert report.actions == [f"chmod 600 {os.path.realpath(path)}"] and not report.failures


def test_unparsable_config_is_not_fixable_and_login_advice_says_so(ch: Env) -> None:
    path = config(ch, '{"auths": {')
    (finding,) = by_id(check_docker_config(context(ch)), "docker-config.json")
    assert not finding.fixable and finding.remedy is None
    assert docker_config_step(str(path)) == finding.fix
    assert "by hand" in finding.fix


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_config_that_is_no_file_names_the_move_that_works(ch: Env, kind: str) -> None:
    path = ch.docker_config / "config.json"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    (finding,) = check_docker_config(context(ch))
    assert finding.id == "docker-config.unreadable" and not finding.fixable
    step = docker_config_step(str(path))
    assert step == f"mv {path} {path}.old, then: {FIX_COMMAND}"
    # The step works: once moved, doctor --fix makes docker use credhelper.
    path.rename(f"{path}.old")
    ctx = context(ch, search_path=os.path.dirname(HELPER))
    report = fix(ctx, run_checks(ctx))
    assert not report.failures, report
    assert json.loads(path.read_text())["credsStore"] == "credhelper"


def test_fixable_config_step_is_doctor_fix(ch: Env) -> None:
    path = config(ch, {"auths": {"r.example": {"auth": ""}}})
    assert docker_config_step(str(path)) == f"run: {FIX_COMMAND}"


def test_strip_one_entry_alone(ch: Env) -> None:
    path = config(ch, {"auths": {"a.example": {"auth": ""}, "b.example": {"auth": "!!"}}})
    findings = check_docker_config(context(ch))
    (empty,) = by_id(findings, "docker-config.auth-empty")
    assert isinstance(empty.remedy, r.StripEntry)
    report = FixReport()
    fix_docker_config(context(ch), [empty], report)
    auths = json.loads(path.read_text())["auths"]
    assert auths["a.example"] == {} and auths["b.example"] == {"auth": "!!"}
    assert 'removed "auth": "" from a.example' in report.actions
    assert len(report.backups) == 1 and Path(report.backups[0]).exists()


# ------------------------------------------------------------------ the store and key


def test_store_dir_mode_and_lock_symlink(ch: Env, tmp_path: Path) -> None:
    ch.put("a.example", "alice", SECRET)
    ch.home.chmod(0o750)
    lock = ch.home / "config.json.lock"
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    lock.unlink(missing_ok=True)
    lock.symlink_to(target)
    findings, state = check_store(context(ch))
    assert state.usable and state.snapshot is not None
    (mode,) = by_id(findings, "store.dir-mode")
    assert mode.remedy == r.Chmod(str(ch.home), 0o700, dedicated_dir=True)
    (link,) = by_id(findings, "store.lock-symlink")
    home_st = ch.home.stat()
    assert link.remedy == r.UnlinkSymlink(str(lock), (home_st.st_dev, home_st.st_ino))
    report = FixReport()
    fix_nodes([link], report)
    assert not lock.is_symlink() and target.read_text() == "keep"
    assert stat.S_IMODE(ch.home.stat().st_mode) == 0o750  # only the one finding was acted on


def test_store_dir_chmod_rechecks_it_is_still_dedicated(ch: Env) -> None:
    """A 0755 store dir diagnosed as credhelper's alone; a file of the user's lands in
    it before the fix: it is now shared, so it is not locked down (and that is said)."""
    ch.put("a.example", "alice", SECRET)
    ch.home.chmod(0o755)
    findings, _state = check_store(context(ch))
    (mode,) = by_id(findings, "store.dir-mode")
    assert mode.fixable
    (ch.home / "shared-notes.txt").write_text("not credhelper's\n")
    report = FixReport()
    fix_nodes([mode], report)
    assert stat.S_IMODE(ch.home.stat().st_mode) == 0o755
    assert report.failures == [
        f"did not chmod {ch.home}: it now holds files that are not credhelper's"
    ]
    (ch.home / "shared-notes.txt").unlink()  # dedicated again: the same remedy acts
    fix_nodes([mode], report)
    assert stat.S_IMODE(ch.home.stat().st_mode) == 0o700


@pytest.mark.parametrize("swap", ["symlink", "directory"])
def test_lock_symlink_removed_only_in_the_directory_diagnosed(
    ch: Env, tmp_path: Path, swap: str
) -> None:
    """store.lock-symlink diagnosed; the store dir is then moved away and a symlink to
    (or another directory) put at its path, holding a link of the same name: that
    link is someone else's and stays; the fix says why it did nothing."""
    ch.put("a.example", "alice", SECRET)
    lock = ch.home / "config.json.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to("/nonexistent-target")
    findings, _state = check_store(context(ch))
    (link,) = by_id(findings, "store.lock-symlink")
    other = tmp_path / "other"
    other.mkdir()
    (other / lock.name).symlink_to("/user-link-target")
    ch.home.rename(tmp_path / "home.moved")
    if swap == "symlink":
        ch.home.symlink_to(other)
    else:
        other.rename(ch.home)
        other = ch.home
    report = FixReport()
    fix_nodes([link], report)
    assert os.readlink(other / lock.name) == "/user-link-target"
    assert (tmp_path / "home.moved" / lock.name).is_symlink()
    assert len(report.failures) == 1 and str(lock) in report.failures[0]
    assert not report.actions


def test_store_dir_owned_elsewhere_is_unusable(ch: Env) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory to another uid")
    ch.put("a.example", "alice", SECRET)
    os.chown(ch.home, 12345, 12345)
    findings, state = check_store(context(ch))
    assert state == StoreState(False, None)
    (owner,) = by_id(findings, "store.dir-owner")
    assert owner.remedy == r.Chown(str(ch.home))
    assert check_key(context(ch), state) == ([], KeyState(False, False))


def test_missing_key_counts_logins_not_key_ids(ch: Env) -> None:
    three_logins(ch)
    ch.key.unlink()
    ctx = context(ch)
    _findings, state = check_store(ctx)
    assert logins_needing_key(state.snapshot) == 3
    findings, key = check_key(ctx, state)
    assert key == KeyState(False, True)
    (missing,) = by_id(findings, "key.missing")
    assert "the 3 stored login(s) sealed with it" in missing.message


def test_entries_after_key_loss_name_each_server_once(ch: Env) -> None:
    three_logins(ch)
    ch.key.unlink()
    ctx = context(ch)
    _f, state = check_store(ctx)
    findings = check_entries(ctx, state.snapshot, KeyState(False, True))
    needs = by_id(findings, "store.entry-needs-login")
    assert sorted(f.server or "" for f in needs) == ["127.0.0.1:5000", "a.example", "b.example"]
    for finding in needs:
        assert finding.server is not None
        assert finding.message.count(finding.server) == 1, finding.message
        assert finding.fix == (
            f"credhelper login {finding.server}"
            if finding.server != "https://index.docker.io/v1/"
            else "credhelper login"
        )
        assert "run:" not in finding.message


def test_corrupt_entry_fix_alone(ch: Env) -> None:
    ch.put("a.example", "alice", SECRET)
    ch.put("b.example", "bob", SECRET)
    doc = json.loads(ch.store.read_text())
    entry = doc["auths"]["a.example"]
    sealed = base64.b64decode(entry["sealed"])
    entry["sealed"] = base64.b64encode(sealed[:-1] + bytes([sealed[-1] ^ 1])).decode()
    ch.store.write_text(json.dumps(doc))
    ctx = context(ch)
    _f, state = check_store(ctx)
    _k, key = check_key(ctx, state)
    (corrupt,) = by_id(check_entries(ctx, state.snapshot, key), "store.entry-corrupt")
    assert corrupt.remedy == r.RemoveCorrupt("a.example")
    report = FixReport()
    fix_store(ctx, [corrupt], report)
    assert report.needs_login == ["a.example"] and len(report.backups) == 1
    assert Store(str(ch.home)).get("b.example").secret == SECRET
    assert "a.example" not in Store(str(ch.home)).snapshot().auths


# ------------------------------------------------------------------ iSulad, helpers


def test_isulad_login_offered_until_the_store_holds_it(ch: Env, tmp_path: Path) -> None:
    isulad = tmp_path / "isulad"
    isulad.mkdir(mode=0o700)
    key = isulad_key()
    (isulad / "aeskey").write_bytes(key)
    record = isulad_record(key, "ru", SECRET)
    (isulad / "auths.json").write_text(json.dumps({"auths": {"reg.example": {"auth": record}}}))
    ctx = context(ch, isulad_dir=str(isulad))
    offered = check_isulad(ctx, None)
    assert [f.id for f in offered] == ["isulad.importable"]
    ch.put("reg.example", "ru", SECRET)
    assert check_isulad(ctx, Store(str(ch.home)).snapshot()) == []
    # Another password stored for it: the iSulad one is still worth offering.
    ch.put("reg.example", "ru", "other")
    assert [f.id for f in check_isulad(ctx, Store(str(ch.home)).snapshot())] == [
        "isulad.importable"
    ]


def test_doctor_verbose_stops_offering_imported_isulad_logins(ch: Env, tmp_path: Path) -> None:
    isulad = tmp_path / "isulad"
    isulad.mkdir(mode=0o700)
    key = isulad_key()
    (isulad / "aeskey").write_bytes(key)
    record = isulad_record(key, "ru", SECRET)
    (isulad / "auths.json").write_text(json.dumps({"auths": {"reg.example": {"auth": record}}}))
    before = ch.cli("doctor", "-v", "--isulad-dir", str(isulad))
    assert "isulad.importable" in before.stdout
    moved = ch.cli("migrate", "--from", "isulad", "--isulad-dir", str(isulad))
    assert moved.returncode == 0, moved.stderr
    after = ch.cli("doctor", "-v", "--isulad-dir", str(isulad))
    assert "isulad.importable" not in after.stdout and "reg.example" in after.stdout


def test_helper_not_on_path_blocks_pointing_docker_at_it(ch: Env) -> None:
    path = config(ch, {"auths": {"r.example": {"auth": b64(f"alice:{SECRET}")}}})
    before = path.read_bytes()
    ctx = context(ch, search_path="")
    findings = check_docker_config(ctx) + check_helpers(ctx, None)
    assert by_id(findings, "helper.not-on-path")
    unset = by_id(findings, "docker-config.creds-store-unset")
    assert unset and unset[0].remedy is r.Step.SET_CREDS_STORE
    report = FixReport()
    fix_docker_config(ctx, findings, report)
    assert any("is not on PATH" in failure for failure in report.failures)
    assert path.read_bytes() == before  # nothing moved, docker not pointed anywhere
    assert not (ch.home / "config.json").exists()


# ------------------------------------------------------------------ words and the whole run


@pytest.mark.parametrize(
    "text, fix_text, said",
    [
        ("credhelper: cannot read X: bad; run: credhelper doctor", "", "cannot read X: bad"),
        ("a link (mv it over it) or run: credhelper doctor --fix", "", "a link (mv it over it)"),
        ("private (or run: credhelper doctor --fix)", "", "private"),
        ("check VAULT_ADDR, or run: credhelper doctor", "", "check VAULT_ADDR"),
        ("expired at T; run: credhelper login r", "credhelper login r", "expired at T"),
        ("kept; run: credhelper login r", "credhelper logout r", "kept; run: credhelper login r"),
    ],
)
def test_own_words(text: str, fix_text: str, said: str) -> None:
    assert own_words(text, fix_text) == said
    assert Finding("x", "error", text, "", fix_text).message == said


def test_whole_run_never_points_at_itself(ch: Env) -> None:
    """A store doctor cannot read, a key gone, a broken Docker config: no message
    sends the user back to doctor, and none repeats its fix as "run: ..."."""
    three_logins(ch)
    ch.key.unlink()
    doc = {
        "auths": {"r.example": {"auth": "!!"}, "s.example": {"auth": ""}},
        "credHelpers": {"a.example": "pass", "z.example": "nonexistent"},
    }
    config(ch, doc, mode=0o644)
    findings = run_checks(context(ch, search_path="/usr/bin"))
    assert {
        "key.missing",
        "store.entry-needs-login",
        "docker-config.mode",
        "docker-config.helper-missing",
        "helper.overridden",
        "helper.route",
    } <= {f.id for f in findings}
    for finding in findings:
        assert "credhelper doctor" not in finding.message, finding
        if finding.fix:
            assert f"run: {finding.fix}" not in finding.message, finding
        if finding.server:
            assert finding.message.count(finding.server) <= 1, finding


def test_fix_then_fresh_findings_have_nothing_left(ch: Env) -> None:
    """fix acts on the findings it is given; a fresh run finds nothing to act on."""
    config(ch, {"auths": {"r.example": {"auth": ""}}}, mode=0o644)
    ctx = context(ch, search_path=os.path.dirname(HELPER))
    first = fix(ctx, run_checks(ctx))
    assert first.actions and not first.failures
    again = Context.build(ctx.docker_path, store=ctx.store, search_path=ctx.search_path, environ={})
    left = [f for f in run_checks(again) if f.remedy is not None]
    assert left == [], left
    second = fix(again, run_checks(again))
    assert second == FixReport()


def test_login_with_a_directory_for_config_names_the_step_that_works(ch: Env) -> None:
    path = ch.docker_config / "config.json"
    path.mkdir()
    proc = ch.cli(
        "login", "--no-verify", "-u", "alice", "--password-stdin", "r.example", stdin=SECRET
    )
    assert proc.returncode == 0, proc.stderr
    assert f"until you mv {path} {path}.old, then: {FIX_COMMAND}" in proc.stderr
    assert f"run: {FIX_COMMAND}" not in proc.stderr
    path.rename(f"{path}.old")  # the advised step
    repaired = ch.cli("doctor", "--fix")
    assert repaired.returncode == 0, repaired.stdout
    fixed = json.loads(path.read_text())
    assert fixed["credsStore"] == "credhelper"
    got = ch.helper("get", "r.example")
    assert got.returncode == 0 and json.loads(got.stdout)["Secret"] == SECRET


HINTS = [
    "; run: credhelper doctor",
    "; run: credhelper doctor --fix",
    ", or run: credhelper doctor",
    " or run: credhelper doctor --fix",
    " (or run: credhelper doctor --fix)",
    "; run credhelper doctor",
    "; see: credhelper doctor",
]


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(codec="utf-8"), max_size=60),
    st.sampled_from(HINTS),
    st.text(st.sampled_from("abc ;,()."), max_size=12),
)
def test_no_finding_sends_the_user_back_to_doctor(prefix: str, hint: str, tail: str) -> None:
    """Whatever the text around it (hostile file contents end up in messages), a
    finding's message never carries doctor's own hint."""
    assume("doctor" not in prefix and "doctor" not in tail)
    for text in (prefix + hint, prefix + hint + ";" + tail, f"credhelper: {prefix}{hint}"):
        message = Finding("x", "error", text, "", "").message
        assert "credhelper doctor" not in message, (text, message)
        # What the text said is kept, less the "credhelper: " prefix doctor drops.
        said = prefix.removeprefix("credhelper: ").strip(" ;,")
        assert said in message or not said


def test_lost_key_advice_is_a_login_that_works(ch: Env) -> None:
    """After rm aeskey a login starts a new key at once: the advice is that login, not
    a forced rotation first (which would also drop the remembered usernames)."""
    three_logins(ch)
    ch.key.unlink()
    ctx = context(ch)
    findings, _key = check_key(ctx, check_store(ctx)[1])
    (missing,) = by_id(findings, "key.missing")
    assert "rotate" not in missing.fix and "log in again to each registry" in missing.fix
    proc = ch.cli(
        "login", "--no-verify", "-u", "alice", "--password-stdin", "a.example", stdin=SECRET
    )
    assert proc.returncode == 0, proc.stderr
    ctx = context(ch)
    findings, key = check_key(ctx, check_store(ctx)[1])
    assert key.ok and not by_id(findings, "key.missing")
    assert Store(str(ch.home)).get("a.example").secret == SECRET
