"""`credhelper exec`: run one command with job-scoped logins that vanish when it ends.

Parses `[--login SERVER -u USER --password-stdin [--expires-in D] ...]... -- COMMAND`,
reads one password line per login from stdin (unbuffered, so COMMAND gets the
rest of stdin untouched), logs in to a private store (credhelper/jobs.py), runs
COMMAND pointed at it (credhelper/jobenv.py: what else it inherits), and removes
everything on every exit. COMMAND writes its own record into the job before it
execs (Job.child_recorder), so a sweep sees every process of the job. Signals go through
credhelper/cleanup.py: SIGTERM/SIGHUP/SIGINT/SIGQUIT are forwarded to COMMAND,
then the job is removed and credhelper dies of the same signal.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from credhelper import cleanup, jobs, netloc
from credhelper.cli import quoted_option
from credhelper.dockerconfig.routing import look_path
from credhelper.errors import CredhelperError, UsageError


class CommandNotFound(CredhelperError):
    exit_code = 127  # the shell's code for a command that is not found


class CommandNotExecutable(CredhelperError):
    exit_code = 126  # the shell's code for a command that cannot be run


MAX_LINE = 1 << 20
# After passing a cancel on, COMMAND gets FORWARD_GRACE seconds, then SIGTERM and
# STOP_GRACE more before SIGKILL: 7 s in all, inside the 7.5 s GitHub Actions waits
# between the SIGINT of a cancel and its SIGTERM, so the cleanup finishes in time.
FORWARD_GRACE = 5.0
STOP_GRACE = 2.0
USAGE = "usage: credhelper exec [--login SERVER -u USER --password-stdin]... -- COMMAND [ARGS]..."


@dataclass
class LoginSpec:
    server: str
    username: str | None = None
    password_stdin: bool = False
    verify: bool = True
    insecure: bool = False
    expires_in: str | None = None
    expires_at: str | None = None


_VALUE_OPTIONS = {
    "-u": "username",
    "--username": "username",
    "--expires-in": "expires_in",
    "--expires-at": "expires_at",
}
_FLAGS = {"--password-stdin": "password_stdin", "--insecure": "insecure"}


def _option(token: str) -> tuple[str, str | None]:
    if token.startswith("--") and "=" in token:
        name, value = token.split("=", 1)
        return name, value
    return token, None


def parse_args(args: list[str]) -> tuple[list[LoginSpec], list[str]]:
    """(logins, COMMAND argv) from exec's arguments; UsageError for anything odd."""
    if not args or not args[0].startswith("-"):
        if not args:
            raise UsageError(f"credhelper: exec needs a COMMAND; {USAGE}")
        return [], args  # no option at all: the first word is COMMAND (`exec make test`)
    logins: list[LoginSpec] = []
    pos = 0
    while pos < len(args) and args[pos] != "--":
        name, inline = _option(args[pos])
        pos += 1
        needs_value = name == "--login" or name in _VALUE_OPTIONS
        value = inline
        if needs_value and value is None:
            if pos >= len(args) or args[pos] == "--":
                raise UsageError(f"credhelper: exec: {name} needs a value; {USAGE}")
            value, pos = args[pos], pos + 1
        if name == "--login":
            logins.append(LoginSpec(server=str(value)))
            continue
        if not logins:
            raise UsageError(
                f"credhelper: exec: option {quoted_option(name)} must follow a --login SERVER; "
                f"{USAGE}"
            )
        if name in _VALUE_OPTIONS:
            setattr(logins[-1], _VALUE_OPTIONS[name], value)
        elif name in _FLAGS and inline is None:
            setattr(logins[-1], _FLAGS[name], True)
        elif name == "--no-verify" and inline is None:
            logins[-1].verify = False
        elif not name.startswith("-"):
            # Never quoted: a stray word here is often a password (`--password-stdin "$TOKEN"`).
            raise UsageError(
                "credhelper: exec: unexpected argument (not shown: it may be a secret); "
                f"passwords go on stdin, and `--` goes before COMMAND; {USAGE}"
            )
        else:
            raise UsageError(f"credhelper: exec: unknown option {quoted_option(name)}; {USAGE}")
    command = args[pos + 1 :]
    if pos >= len(args) or not command:
        raise UsageError(f"credhelper: exec: COMMAND is missing after `--`; {USAGE}")
    for spec in logins:
        server = netloc.without_userinfo(spec.server)  # never a user:password@ (CI logs)
        if not spec.username:
            raise UsageError(f"credhelper: exec: --login {server} needs -u USER")
        if not spec.password_stdin:
            raise UsageError(
                f"credhelper: exec: --login {server} needs --password-stdin "
                "(a password is never taken from the command line)"
            )
        if spec.expires_in is not None and spec.expires_at is not None:
            raise UsageError("credhelper: --expires-in and --expires-at are mutually exclusive")
    return logins, command


def _read_byte() -> bytes:
    """One byte of stdin; b"" only at end of input (or a stdin that cannot be read).

    A stdin left non-blocking by a parent (O_NONBLOCK is shared by every process
    holding the pipe) gives EAGAIN whenever the writer is slower than us: that is
    no end of line, so wait until there is more and read again.
    """
    while True:
        try:
            return os.read(0, 1)
        except BlockingIOError:
            select.select([0], [], [], 0.5)  # a slice: a signal is handled promptly anyway
        except OSError as err:
            if err.errno == errno.EINTR:
                continue
            return b""  # EBADF, EIO, ...: no (more) input


def read_password_line(server: str) -> str:
    """One line of stdin, read byte by byte so that nothing past it is consumed."""
    raw = bytearray()
    while len(raw) <= MAX_LINE:  # the bound: at most 1 MiB + 1 bytes are ever read
        byte = _read_byte()
        if not byte or byte == b"\n":
            break
        raw += byte
    if len(raw) > MAX_LINE:
        raise UsageError(f"credhelper: the password for {server} on stdin is longer than 1 MiB")
    try:
        text = raw.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError:
        raise UsageError(f"credhelper: the password for {server} on stdin is not UTF-8") from None
    if not text:
        raise UsageError(
            f"credhelper: no password for {server} on stdin (one line per --login, in order)"
        )
    return text


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _helper_path(env: dict[str, str]) -> None:
    """Make sure COMMAND's clients find docker-credential-credhelper (next to this credhelper)."""
    if look_path("docker-credential-credhelper", env.get("PATH", "")):
        return
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    if os.access(os.path.join(here, "docker-credential-credhelper"), os.X_OK):
        env["PATH"] = here + os.pathsep + env.get("PATH", "")


def _run_child(job: jobs.Job, argv: list[str]) -> int:
    env = job.environment(os.environ)
    _helper_path(env)
    # With a terminal, COMMAND stays in our process group so that it can read it.
    interactive = sys.stdin.isatty() if sys.stdin else False
    try:
        child = cleanup.Child(
            argv,
            env=env,
            new_group=not interactive,
            grace=STOP_GRACE,
            before_exec=job.child_recorder(),
        )
    except subprocess.SubprocessError:
        raise CommandNotExecutable(
            f"credhelper: exec: cannot start {argv[0]}: the job could not record it"
        ) from None
    except FileNotFoundError:
        raise CommandNotFound(f"credhelper: exec: {argv[0]}: command not found") from None
    except PermissionError:
        raise CommandNotExecutable(f"credhelper: exec: {argv[0]}: permission denied") from None
    except OSError as err:
        raise CommandNotExecutable(
            f"credhelper: exec: cannot run {argv[0]}: {err.strerror}"
        ) from None
    with child:
        try:
            return _exit_status(child.wait())
        except cleanup.Terminated as stop:
            _forward(child, stop.signum)
            raise


def _forward(child: cleanup.Child, signum: int) -> None:
    """Pass the cancel on to COMMAND and give it FORWARD_GRACE seconds to finish."""
    # In our process group (a terminal), Ctrl-C / Ctrl-\ already reached COMMAND
    # from the terminal; a second SIGINT means "force quit" to many programs.
    if child.new_group or signum not in (signal.SIGINT, signal.SIGQUIT):
        child._signal(signum)  # the very signal COMMAND's own cleanup expects
    deadline = time.monotonic() + FORWARD_GRACE
    while child.poll() is None and time.monotonic() < deadline:
        child.wait_up_to(0.05)


def run(logins: list[LoginSpec], argv: list[str]) -> int:
    from credhelper.cli import login_cmd

    with contextlib.suppress(Exception):
        jobs.sweep_stale()
    # All passwords are read before anything is created: a short stdin fails cleanly.
    passwords = [read_password_line(netloc.without_userinfo(spec.server)) for spec in logins]
    expiries = [login_cmd.parse_expiry(spec.expires_in, spec.expires_at) for spec in logins]
    with jobs.job() as job:
        job.activate()
        for spec, password, expires in zip(logins, passwords, expiries, strict=True):
            info = login_cmd.obtain_and_login(
                spec.server,
                spec.username,
                password,
                verify=spec.verify,
                insecure=spec.insecure,
                quiet=True,
                expires=expires,
            )
            click.echo(f"credhelper: logged in to {info['server']} for this job", err=True)
        del passwords
        return _run_child(job, argv)


_RAW = "credhelper.exec.words"


class _WordsAsTyped(click.Command):
    """Keeps the words after `exec` as they were typed, for parse_args.

    click drops the `--` when every word before it is an option click does not
    know (`--login=SERVER --username=ci --password-stdin -- COMMAND`), and
    COMMAND's first word would then read as a stray argument.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_RAW] = list(args)
        return super().parse_args(ctx, args)


@click.command(
    "exec",
    cls=_WordsAsTyped,
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        # Only --help for click: a -h inside a short-option cluster ("-ghp_...") would
        # print the help and exit 0 without running COMMAND. A lone -h is handled below.
        "help_option_names": ["--help"],
    },
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def command(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Run COMMAND with logins that exist only for it, in a private store.

    \b
    credhelper exec [--login SERVER -u USER --password-stdin
                     [--expires-in D | --expires-at T] [--no-verify] [--insecure]]...
                    -- COMMAND [ARGS]...

    Each --login is verified and stored in a temporary store of this job, sealed
    with a random key that exists only in the environment of COMMAND's process
    tree (CREDHELPER_AESKEY). COMMAND runs with DOCKER_CONFIG and
    REGISTRY_AUTH_FILE pointing at the job's own Docker config, so docker,
    skopeo and podman inside see these logins and no others (HOME and
    XDG_CONFIG_HOME are views of yours without ~/.dockercfg,
    ~/.docker/config.json and containers/auth.json; DOCKER_AUTH_CONFIG is
    dropped). Passwords come on
    stdin, one line per --login in the order given; COMMAND gets the rest of
    stdin. When COMMAND ends, fails or is cancelled (SIGTERM, SIGHUP, SIGINT,
    SIGQUIT are passed on to it), the store, its Docker config and the key are
    gone. Nothing is written to your own store or Docker config.

    \b
    Examples:
      printf '%s\\n' "$TOKEN" | credhelper exec --login registry.example.com \\
          -u ci --password-stdin -- docker push registry.example.com/team/app:1
      printf '%s\\n%s\\n' "$PW_A" "$PW_B" | credhelper exec \\
          --login a.example -u ci --password-stdin \\
          --login b.example -u ci --password-stdin -- ./release.sh

    \b
    Exit status: COMMAND's (128+N if a signal N ended it); 2 bad usage;
    4 unsafe jobs directory; 5 a login was rejected; 6 registry unreachable;
    126/127 COMMAND cannot be run / not found.
    """
    words = ctx.meta.get(_RAW, list(args))
    if words[:1] == ["-h"]:
        click.echo(ctx.get_help())
        ctx.exit(0)
    logins, argv = parse_args(words)
    with cleanup.guard():
        status = run(logins, argv)
    sys.exit(status)
