"""The `credhelper` command group: the only place (with its submodules) that imports click.

Each command lives in its own module under credhelper/cli/, named here in
COMMANDS and imported only when it runs. Commands raise CredhelperError; `main`
prints it as one line on stderr and exits with its documented code (see
errors.ExitCode and the README).
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

import click

from credhelper import __version__
from credhelper.errors import CredhelperError, ExitCode

# name -> (module under credhelper.cli, attribute): a command's module (and what it
# imports: the store, doctor, push, ...) loads only when that command runs. Every
# `credhelper list` paid ~80 ms for importing all eleven before.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("doctor_cmd", "command"),
    "exec": ("exec_cmd", "command"),
    "install": ("install_cmd", "install_command"),
    "list": ("list_cmd", "command"),
    "login": ("login_cmd", "command"),
    "logout": ("logout_cmd", "command"),
    "migrate": ("migrate_cmd", "command"),
    "push": ("push_cmd", "command"),
    "rotate": ("rotate_cmd", "command"),
    "uninstall": ("install_cmd", "uninstall_command"),
    "version": ("version_cmd", "command"),
}


class Group(click.Group):
    """A click group that turns credhelper's errors into one line and an exit code,
    and imports a command's module only when that command is looked up (`lazy`:
    a table like COMMANDS)."""

    def __init__(
        self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.lazy: Mapping[str, tuple[str, str]] = lazy or {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self._load(cmd_name)
        found = self.commands.get(cmd_name)
        if found is None:
            # An unknown name: click's "Did you mean ...?" looks through
            # self.commands, so it must hold every command (a rare path).
            for name in self.lazy:
                self._load(name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        for name in self.lazy:  # --help lists each command's short help
            self._load(name)
        return super().list_commands(ctx)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        options = [name for param in self.get_params(ctx) for name in param.opts]
        word = args[0] if args else ""
        # A dash-word where the command goes (`credhelper -- --ghp_...`) that is not one
        # of the group's options: click 8.2+ says "No such option", 8.1 printed the
        # help and exited 0.
        unknown = word[:1] == "-" and word != "-" and word.split("=", 1)[0] not in options
        if unknown and self.get_command(ctx, word) is None:
            raise _unknown_option(click.NoSuchOption(word, possibilities=options, ctx=ctx))
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            # click quotes an unknown command back ("No such command 'ghp_...'"): the
            # first word may be a password pasted in the wrong place. Name only the
            # commands it resembles (get_command has loaded them all by now).
            if not err.message.startswith("No such command"):
                raise
            close = difflib.get_close_matches(args[0], list(self.commands))
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise click.UsageError(
                f"No such command (not shown: it may be a secret).{hint}", ctx
            ) from None

    def _load(self, name: str) -> None:
        if name not in self.commands:
            module_name, attribute = self.lazy[name]
            module = importlib.import_module(f"credhelper.cli.{module_name}")
            # tests/test_cli_output.py checks that each entry names its command.
            self.add_command(getattr(module, attribute))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CredhelperError as err:
            from credhelper.store.model import shown

            # Messages quote server names, paths and registry text that a hostile
            # server or file controls: escape terminal control sequences.
            click.echo(shown(err.message), err=True)
            ctx.exit(int(err.exit_code))
        except click.NoSuchOption as err:  # a command's options ("login --ghp_...")
            raise _unknown_option(err) from None
        except click.UsageError as err:
            # click quotes stray words back ("... extra argument (ghp_...)"), and a
            # stray word is often a password given by mistake: never print it.
            if err.message.startswith("Got unexpected extra argument"):
                raise click.UsageError(
                    "Got an unexpected extra argument (not shown: it may be a secret); "
                    "passwords go on stdin (--password-stdin)",
                    err.ctx,
                ) from None
            raise
        return None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:  # the group's own options ("credhelper --ghp_...")
            raise _unknown_option(err) from None


# What a real option looks like: anything else an error would quote may be a
# password that starts with a dash (`-p`'s value given as its own word, a token).
_OPTION_NAME = re.compile(r"--[a-z][a-z-]{0,30}|-[A-Za-z]")


def quoted_option(name: str) -> str:
    """An unknown option as a message may quote it: only the shape of a real option."""
    if _OPTION_NAME.fullmatch(name):
        return repr(name)
    return "(not shown: it may be a secret)"


def _unknown_option(err: click.NoSuchOption) -> click.NoSuchOption:
    """click's "No such option 'X'", with X shown only when it looks like an option."""
    return click.NoSuchOption(
        err.option_name,
        f"No such option {quoted_option(err.option_name)}.",
        err.possibilities,  # the real options it resembles ("Did you mean --help?")
        err.ctx,
    )


@click.group(cls=Group, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="credhelper", message="%(prog)s %(version)s"
)
def cli() -> None:
    """credhelper: Docker registry credentials, AES-256-GCM encrypted at rest.

    \b
    Docker, docker-py, nerdctl and skopeo use it through the
    docker-credential-credhelper program; this command is for people and scripts.

    \b
    Examples:
      credhelper install                 # make docker use credhelper
      echo "$TOKEN" | credhelper login registry.example:5000 -u ci --password-stdin
      credhelper list
      credhelper doctor
    """


def _sweep_stale_jobs() -> None:
    """Remove what `credhelper exec` jobs killed by SIGKILL left (only jobs proven dead)."""
    try:
        from credhelper import jobs

        jobs.sweep_stale()
    except Exception:  # housekeeping never breaks the command the user asked for
        if os.environ.get("CREDHELPER_DEBUG") == "1":
            raise


def _flushed(code: int) -> int:
    """`code`, unless what is still buffered for stdout cannot be written (then 1)."""
    from credhelper import stdstreams

    try:
        sys.stdout.flush()
    except OSError as err:
        return stdstreams.report_stdout_failure(err)
    return code


def main() -> int:
    """Entry point of `credhelper`."""
    from credhelper import stdstreams

    stdstreams.start_process(guard=True)  # no core dumps, fds 0-2, stdout and stderr
    return run()


def run() -> int:
    """The command sys.argv names, in a process already set up; returns the exit code.

    Separate from `main` so that the tests can run commands in their own process
    (tests/inprocess.py), without lowering that process's core-dump limit for good.
    """
    from credhelper import cleanup, stdstreams

    _sweep_stale_jobs()
    try:
        # Signals unwind every command (temp files removed, children stopped).
        with cleanup.guard():
            cli.main(prog_name="credhelper", standalone_mode=True)
    except SystemExit as done:
        code = done.code
        return _flushed(code if isinstance(code, int) else (0 if code is None else 1))
    except stdstreams.StdoutError as err:
        return stdstreams.report_stdout_failure(err)
    except Exception as err:  # one line, never a traceback unless asked for
        click.echo(stdstreams.internal_error(err), err=True)
        return int(ExitCode.ERROR)
    return _flushed(0)
