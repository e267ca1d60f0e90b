"""The `credhelper` command group: the only place (with its submodules) that imports click.

Each command lives in its own module under credhelper/cli/ and is registered
here. Commands raise CredhelperError; `main` prints it as one line on stderr and
exits with its documented code (see errors.ExitCode and the README).
"""

from __future__ import annotations

import os
import sys

import click

from credhelper import __version__
from credhelper.errors import CredhelperError, ExitCode


class Group(click.Group):
    """A click group that turns credhelper's errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CredhelperError as err:
            from credhelper.store.model import shown

            # Messages quote server names, paths and registry text that a hostile
            # server or file controls: escape terminal control sequences.
            click.echo(shown(err.message), err=True)
            ctx.exit(int(err.exit_code))
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


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from credhelper.cli import list_cmd, login_cmd, logout_cmd, push_cmd, rotate_cmd, version_cmd

    for module in (version_cmd, list_cmd, rotate_cmd, login_cmd, logout_cmd, push_cmd):
        cli.add_command(module.command)
    from credhelper.cli import doctor_cmd, install_cmd, migrate_cmd  # issue 4

    for extra in (*install_cmd.commands, migrate_cmd.command, doctor_cmd.command):
        cli.add_command(extra)
    from credhelper.cli import exec_cmd  # issue 13

    cli.add_command(exec_cmd.command)


_register()


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
