"""What the everyday commands print: one line per fact, no repeats, one hint spelling.

A new user reads these lines; each test runs the real `credhelper` executable
(or, for the error printer, the real click group) and checks the text a user sees.
"""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from credhelper.cli import Group
from credhelper.errors import CredhelperError
from tests.conftest import Env


def _login_unverified(ch: Env, server: str, user: str = "u") -> None:
    proc = ch.cli("login", server, "-u", user, "--password-stdin", "--no-verify", stdin="pw\n")
    assert proc.returncode == 0, proc.stderr


def test_logout_names_the_server_once(ch: Env) -> None:
    _login_unverified(ch, "reg.example:5000")
    proc = ch.cli("logout", "reg.example:5000")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Removed login credentials for reg.example:5000\n"
    again = ch.cli("logout", "reg.example:5000")
    assert again.stdout == "Not logged in to reg.example:5000: nothing was stored\n"


def test_logout_names_other_spellings_it_removed(ch: Env) -> None:
    ch.store_creds("https://reg.example", "u", "p")
    ch.store_creds("reg.example", "u", "p")
    proc = ch.cli("logout", "reg.example")
    assert (
        proc.stdout
        == "Removed login credentials for reg.example (also stored as https://reg.example)\n"
    )


def test_list_gives_one_hint_after_the_table_not_one_per_entry(ch: Env) -> None:
    for server in ("a.example", "b.example", "c.example"):
        _login_unverified(ch, server)
    assert ch.cli("rotate", "--yes").returncode == 0
    proc = ch.cli("list")
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.splitlines()
    assert [line.split()[:2] for line in table[1:4]] == [
        ["a.example", "needs-relogin"],
        ["b.example", "needs-relogin"],
        ["c.example", "needs-relogin"],
    ]
    assert table[4].startswith("Key created:") and len(table) == 5
    assert proc.stderr == "3 logins need a new login; run: credhelper login SERVER for each\n"

    _login_unverified(ch, "a.example")
    _login_unverified(ch, "b.example")
    one = ch.cli("list")
    assert one.stderr == "1 login needs a new login; run: credhelper login c.example\n"


def test_list_points_a_corrupt_entry_at_doctor_once(ch: Env) -> None:
    _login_unverified(ch, "a.example")
    doc = json.loads(ch.store.read_text())
    sealed = doc["auths"]["a.example"]["sealed"]
    doc["auths"]["a.example"]["sealed"] = sealed[:-6] + "AAAA" + sealed[-2:]
    ch.store.write_text(json.dumps(doc))
    proc = ch.cli("list")
    assert proc.returncode == 0
    assert "a.example  corrupt" in proc.stdout
    assert proc.stderr == "1 corrupt login(s); run: credhelper doctor\n"
    got = ch.helper("get", "a.example")
    assert got.stdout.decode().endswith("; run: credhelper doctor\n"), got.stdout


def test_no_verify_does_not_claim_success(ch: Env) -> None:
    proc = ch.cli("login", "r.example", "-u", "ci", "--password-stdin", "--no-verify", stdin="x")
    assert proc.returncode == 0
    assert "Login Succeeded" not in proc.stdout + proc.stderr
    assert proc.stdout == (
        "Stored the login of ci for r.example without checking it with the registry (--no-verify)\n"
    )
    assert proc.stderr == ""


def test_an_error_message_cannot_drive_the_terminal() -> None:
    """Whatever text an error carries (a hostile server's name, a path), the one line
    printed has every control character escaped: no escape sequence reaches a terminal."""

    @click.group(cls=Group)
    def group() -> None:
        pass

    @group.command("boom")
    def boom() -> None:
        raise CredhelperError("credhelper: evil\x1b]0;owned\x07.example\x1b[2J\r\nrefused")

    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == 1
    assert result.stderr == ("credhelper: evil\\x1b]0;owned\\x07.example\\x1b[2J\\r\\nrefused\n")


def test_a_stray_word_is_never_quoted_back(ch: Env) -> None:
    """A password pasted where a command or an argument belongs is not printed: click
    would quote it ("No such command 'ghp_...'"). A typo still gets its suggestion."""
    secret = "ghp_Wr0ngPlace7xQ"
    for argv in (
        [secret],
        [secret, "login"],
        ["list", secret],
        ["login", "reg.example", "-u", "u", "--password-stdin", secret],
    ):
        proc = ch.cli_exe(*argv, stdin="pw\n")
        assert proc.returncode == 2, (argv, proc.stderr)
        assert secret not in proc.stdout + proc.stderr, argv
        assert "not shown: it may be a secret" in proc.stderr, argv
    typo = ch.cli("lst")
    assert typo.returncode == 2
    assert typo.stderr.splitlines()[-1] == (
        "Error: No such command (not shown: it may be a secret). Did you mean 'list'?"
    )


def test_each_command_module_loads_only_when_its_command_runs() -> None:
    """The COMMANDS table names every command its module defines (so `--help` and
    suggestions list them all), and looking one up imports that module alone."""
    import importlib
    import pkgutil
    import subprocess
    import sys

    import credhelper.cli
    from credhelper.cli import COMMANDS

    defined = {}
    for info in pkgutil.iter_modules(credhelper.cli.__path__):
        module = importlib.import_module(f"credhelper.cli.{info.name}")
        for attribute, value in vars(module).items():
            callback = getattr(value, "callback", None)
            if (
                isinstance(value, click.Command)
                and getattr(callback, "__module__", "") == module.__name__
            ):
                defined[value.name] = (info.name, attribute)
    assert defined == COMMANDS
    for name in COMMANDS:
        # A fresh process: looking up one command imports its own module (install and
        # uninstall share one) and no other command's.
        probe = (
            "import sys, click; from credhelper.cli import cli; "
            f"print(cli.get_command(click.Context(cli), {name!r}).name); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('credhelper.cli.'))))"
        )
        out = subprocess.run(
            [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
        )
        got, modules = out.stdout.splitlines()
        assert got == name
        own = f"credhelper.cli.{COMMANDS[name][0]}"
        helpers = {
            "credhelper.cli.login_input",
            "credhelper.cli.rotate_schedule",
            "credhelper.cli.options",
        }
        assert own in modules.split(), (name, modules)
        others = set(modules.split()) - {own} - helpers
        # push logs in as login does: it builds on login's module.
        allowed = {"push": {"credhelper.cli.login_cmd"}}.get(name, set())
        assert others <= allowed, (name, others)


def test_help_lists_every_command(ch: Env) -> None:
    """`credhelper --help` names each command with its one-line summary, in order."""
    from credhelper.cli import COMMANDS

    proc = ch.cli_exe("--help")
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.split("Commands:\n", 1)[1].splitlines()
    names = [line.split()[0] for line in listed if line.strip()]
    assert names == sorted(COMMANDS)
    assert all(len(line.split()) > 1 for line in listed if line.strip())  # a summary each


def test_an_unknown_option_that_may_be_a_secret_is_not_quoted(ch: Env) -> None:
    """click would print "No such option '--ghp_...'": a dash-led token given as a word.
    An option-shaped typo is still named, with its suggestion."""
    secret = "--ghp_Wr0ngPlace7xQ"
    for argv in (
        [secret],
        ["list", secret],
        ["login", "reg.example", "-u", "u", "--password-stdin", secret],
        ["--", secret],
        ["--", f"{secret}=x"],
        ["exec", secret, "--", "true"],
    ):
        proc = ch.cli_exe(*argv, stdin="pw\n")
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "ghp_" not in proc.stdout + proc.stderr, argv
        assert "(not shown: it may be a secret)" in proc.stderr, argv
    typo = ch.cli("list", "--jsn")
    assert typo.returncode == 2
    assert typo.stderr.splitlines()[-1] == "Error: No such option '--jsn'. Did you mean '--json'?"
