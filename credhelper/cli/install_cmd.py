"""`credhelper install` and `credhelper uninstall`: wire docker to credhelper, and back."""

from __future__ import annotations

import json
import os
import sys

import click

from credhelper.advice import login_command
from credhelper.cli.options import DOCKER_CONFIG_HELP, echo_each, use_docker_config
from credhelper.errors import ExitCode
from credhelper.helper_import import shown, valid_name
from credhelper.install import InstallReport, UninstallReport, install, offers, uninstall
from credhelper.migrate import MigrationReport


def _print_install(report: InstallReport) -> None:
    mig = report.migration
    if report.key_created:
        click.echo(f"Created a new key ({report.key_provider} key provider).")
    else:
        click.echo(f"Using the existing key ({report.key_provider} key provider).")
    if mig is not None:
        echo_each(mig.imported, lambda s: f"Moved the login for {s} into the encrypted store.")
        echo_each(
            mig.kept_existing,
            lambda s: (
                f"Kept the stored login for {s} (docker was using it); removed a "
                "different plaintext copy from Docker's config (the sealed backup keeps it)."
            ),
        )
        echo_each(
            mig.replaced,
            lambda s: (
                f"Replaced the stored login for {s} with the one docker was using "
                "(the plaintext copy in Docker's config); the store backup keeps the old one."
            ),
        )
        echo_each(mig.notes, str)
        echo_each(
            mig.relogin,
            lambda r: f"Cannot import {r[0]} ({r[1]}); log in again: {login_command(r[0])}",
        )
    for name, helper_report in report.from_helpers.items():
        _print_from_helper(name, helper_report)
    for note in report.notes:
        click.echo(note)
    if report.replaced_creds_store:
        old = shown(report.replaced_creds_store)
        back = (
            "recorded: credhelper uninstall puts it back"
            if valid_name(report.replaced_creds_store)
            else "not a plain helper name: uninstall will not put it back"
        )
        click.echo(f'Replaced "credsStore": "{old}" ({back}).')
    kept = sorted(report.kept_with_helper.items())
    for name in sorted({helper for _server, helper in kept}):
        servers = [server for server, helper in kept if helper == name]
        click.echo(
            f"{len(servers)} registr{'y' if len(servers) == 1 else 'ies'} stay with "
            f"docker-credential-{name} (credHelpers), so docker keeps using those logins; "
            f"to move them into credhelper, run: credhelper migrate --from-helper {name}"
        )
    for server, helper in sorted(report.other_helpers.items()):
        if server not in report.kept_with_helper:
            click.echo(
                f"Note: {shown(server)} still uses docker-credential-{helper} (credHelpers)."
            )
    if report.config_changed:
        click.echo(f"Updated {report.config_path}: docker now uses docker-credential-credhelper.")
    else:
        click.echo(f"{report.config_path} already uses credhelper; nothing to change.")
    for backup in report.backups:
        click.echo(f"Backup: {backup}")
    if mig is not None and mig.relogin:
        click.echo("For the entries that could not be imported, run: credhelper doctor")


def _print_from_helper(name: str, mig: MigrationReport) -> None:
    echo_each(mig.imported, lambda s: f"Imported the login for {s} from docker-credential-{name}.")
    echo_each(mig.unchanged, lambda s: f"{s}: the same login was already in the store.")
    echo_each(
        mig.replaced,
        lambda s: (
            f"Replaced the stored login for {s} with docker-credential-{name}'s "
            "(the one docker was using); the store backup keeps the old one."
        ),
    )
    echo_each(mig.notes, str)
    echo_each(mig.relogin, lambda r: f"Not imported: {r[0]} ({r[1]}); run: {login_command(r[0])}")
    echo_each(
        mig.unverified,
        lambda s: (
            f"Verify failed: {s}: the stored login differs from the helper's; "
            f"run: {login_command(s)}"
        ),
    )


def _interactive() -> bool:
    return bool(sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty())


def _choose_helpers(path: str, given: tuple[str, ...], as_json: bool) -> tuple[str, ...]:
    """--from-helper as given; else, on a terminal, ask for each other helper docker used."""
    if given or as_json or not _interactive():
        return given
    chosen = []
    for name, count, problem in offers(path):
        if problem is not None:
            click.echo(problem, err=True)
        elif count and click.confirm(
            f"import {count} login{'' if count == 1 else 's'} from docker-credential-{name}?",
            default=True,
            err=True,
        ):
            chosen.append(name)
    return tuple(chosen)


def _warn_if_not_ours(found: str) -> None:
    """Docker runs the first docker-credential-credhelper on PATH: say so if that is
    another installation's."""
    from credhelper.install import helper_dirs

    ours = [os.path.join(d, "docker-credential-credhelper") for d in helper_dirs()]
    if ours and all(not os.path.samefile(found, exe) for exe in ours):
        click.echo(
            f"WARNING: docker will run {found} (first on PATH), not {ours[0]} of this "
            "credhelper; put its directory first on PATH if that one is older",
            err=True,
        )


@click.command("install")
@click.option(
    "--key-provider",
    type=click.Choice(["file", "keyring", "env", "vault"]),
    default=None,
    help="Where the AES key lives: a 0600 file, the OS keyring, the environment, or "
    "wrapped by a Vault/OpenBao transit key (VAULT_ADDR, VAULT_TOKEN). Default: the "
    "store's own; for a new store env when CREDHELPER_AESKEY or CREDHELPER_AESKEY_FILE "
    "is set, else file.",
)
@click.option(
    "--vault-key",
    metavar="NAME",
    help="With --key-provider vault: the transit key that wraps the data key "
    "(default: credhelper, or the one already recorded).",
)
@click.option(
    "--vault-mount",
    metavar="PATH",
    help="With --key-provider vault: where the transit engine is mounted (default: transit).",
)
@click.option(
    "--from-helper",
    "from_helper",
    metavar="NAME",
    multiple=True,
    help="First import every login docker-credential-NAME holds (as migrate "
    "--from-helper does); on a terminal install asks instead.",
)
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
def install_command(
    key_provider: str | None,
    vault_key: str | None,
    vault_mount: str | None,
    from_helper: tuple[str, ...],
    docker_config: str | None,
    as_json: bool,
) -> None:
    """Make docker use credhelper: key, credsStore, plaintext logins moved in.

    \b
    Creates the key if needed, sets "credsStore": "credhelper" in Docker's
    config.json (every other key kept, a 0600 backup written first), and moves
    plaintext logins (and openEuler AES entries its aeskey opens) into the
    encrypted store, leaving docker's usual {} entries. Running it again
    changes nothing.

    \b
    Refused (exit 9, nothing changed) when docker-credential-credhelper is
    not on PATH. When docker used another helper (credsStore "pass", ...),
    install asks on a terminal whether to import its logins; --from-helper
    NAME imports without asking. Without either, that helper's registries
    stay with it through credHelpers entries. What install replaces is
    recorded; credhelper uninstall puts it back.

    \b
    Examples:
      credhelper install
      credhelper install --key-provider keyring
      credhelper install --from-helper pass
      CREDHELPER_AESKEY_FILE=/run/secrets/aeskey credhelper install --key-provider env
      credhelper install --docker-config /etc/ci/docker
      VAULT_ADDR=https://vault:8200 credhelper install --key-provider vault
    """
    path = use_docker_config(docker_config)
    from credhelper.helper_import import check_name
    from credhelper.install import current_provider, require_helper_on_path

    # A rerun keeps the provider the store uses: never a silent switch to file.
    key_provider = key_provider or current_provider()
    if (vault_key or vault_mount) and key_provider != "vault":
        raise click.UsageError("--vault-key and --vault-mount need --key-provider vault")

    for name in from_helper:
        check_name(name)
    _warn_if_not_ours(require_helper_on_path())  # before any question or change
    options = {"vault_key": vault_key, "vault_mount": vault_mount}
    chosen = _choose_helpers(path, from_helper, as_json)
    report = install(
        key_provider, path, options if key_provider == "vault" else None, import_helpers=chosen
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_install(report)
    if report.failed():
        unverified = any(r.unverified for r in report.from_helpers.values())
        code = ExitCode.ERROR if unverified else ExitCode.NEEDS_LOGIN
        click.get_current_context().exit(int(code))


def _print_uninstall(report: UninstallReport, restore: bool) -> None:
    if report.config_changed:
        click.echo(f"Removed credhelper from {report.config_path}.")
    else:
        click.echo(f"{report.config_path} does not use credhelper; nothing to change.")
    for server in report.restored:
        click.echo(
            f"Wrote the login for {shown(server)} to {report.config_path} as plaintext base64."
        )
    for server, helper in sorted(report.restored_to_helper.items()):
        click.echo(
            f"Handed the login for {shown(server)} to docker-credential-{helper} (docker "
            "asks it for that registry; nothing written as plaintext)."
        )
    for server, why in report.not_restored:
        click.echo(f"Not restored: {shown(server)} ({why}); log in again with docker login.")
    if report.restored_creds_store:
        click.echo(
            f'Put back "credsStore": "{shown(report.restored_creds_store)}" (docker used it '
            "before)."
        )
    for server, helper in sorted(report.restored_helpers.items()):
        click.echo(f'Put back "credHelpers": {{"{shown(server)}": "{shown(helper)}"}}.')
    for helper in report.missing_helpers:
        click.echo(
            f"WARNING: docker-credential-{helper} is not on PATH: docker will fail for those "
            f"registries until it is installed (Debian: sudo apt-get install "
            f"golang-docker-credential-helpers) or the entry is removed from {report.config_path}",
            err=True,
        )
    for note in report.notes:
        click.echo(note, err=True)
    for backup in report.backups:
        click.echo(f"Backup: {backup}")
    click.echo(
        f"The encrypted store {report.store_path} is kept; delete it yourself when you no "
        "longer need it."
    )
    if not restore:
        where = (
            f"uses docker-credential-{report.restored_creds_store} again"
            if report.restored_creds_store
            else "will ask for logins again (docker login), or use pass/secretservice if installed"
        )
        click.echo(
            f"Docker {where}. To hand the stored logins back instead: credhelper uninstall "
            "--restore-credentials"
        )


@click.command("uninstall")
@click.option(
    "--restore-credentials",
    is_flag=True,
    help=(
        "Hand every usable stored login back: to the helper docker then uses for it "
        "(its own store), else into config.json as PLAINTEXT base64."
    ),
)
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
def uninstall_command(restore_credentials: bool, docker_config: str | None, as_json: bool) -> None:
    """Stop docker from using credhelper; docker works on its own again.

    \b
    Removes "credsStore": "credhelper" and credHelpers entries naming
    credhelper (backup first; every other key kept) and puts back what
    install recorded it replaced (e.g. "credsStore": "pass"), with a
    warning if that helper is no longer on PATH. The encrypted store is
    kept. Logins are handed back only with --restore-credentials: to the
    helper put back (through its own store) for the registries docker
    sends to it, else as plaintext base64 that anyone who can read
    config.json can use.

    \b
    Examples:
      credhelper uninstall
      credhelper uninstall --restore-credentials
    """
    path = use_docker_config(docker_config)
    if restore_credentials:
        click.echo(
            f"WARNING: --restore-credentials writes your registry passwords to {path} as "
            "plaintext base64; anyone who can read that file can use them.",
            err=True,
        )
    report = uninstall(path, restore_credentials)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_uninstall(report, restore_credentials)


commands = (install_command, uninstall_command)
