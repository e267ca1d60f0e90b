"""`credhelper install` and `credhelper uninstall`: wire docker to credhelper, and back."""

from __future__ import annotations

import json
import os

import click

from credhelper import dockerconfig
from credhelper.advice import login_command
from credhelper.install import InstallReport, UninstallReport, install, uninstall

DOCKER_CONFIG_HELP = (
    "Docker's configuration directory (default: $DOCKER_CONFIG or ~/.docker). Unless "
    "CREDHELPER_HOME is set, the store goes in DIR/credhelper, where the helper looks "
    "when docker runs with DOCKER_CONFIG=DIR."
)


def use_docker_config(directory: str | None) -> str:
    """Point this process at DIR the way docker would point the helper at it."""
    if directory:
        os.environ["DOCKER_CONFIG"] = os.path.abspath(directory)
    return dockerconfig.default_path()


def _print_install(report: InstallReport) -> None:
    mig = report.migration
    if report.key_created:
        click.echo(f"Created a new key ({report.key_provider} key provider).")
    else:
        click.echo(f"Using the existing key ({report.key_provider} key provider).")
    if mig is not None:
        for server in mig.imported:
            click.echo(f"Moved the login for {server} into the encrypted store.")
        for server in mig.kept_existing:
            click.echo(
                f"Kept the stored login for {server} (docker was using it); removed a "
                "different plaintext copy from Docker's config (the sealed backup keeps it)."
            )
        for server in mig.replaced:
            click.echo(
                f"Replaced the stored login for {server} with the one docker was using "
                "(the plaintext copy in Docker's config); the store backup keeps the old one."
            )
        for note in mig.notes:
            click.echo(note)
        for server, why in mig.relogin:
            click.echo(f"Cannot import {server} ({why}); log in again: {login_command(server)}")
    if report.replaced_creds_store:
        click.echo(
            f'Replaced "credsStore": "{report.replaced_creds_store}"; logins kept by '
            f"docker-credential-{report.replaced_creds_store} are no longer used by docker: "
            "log in again with credhelper login."
        )
    for server, helper in sorted(report.other_helpers.items()):
        click.echo(f"Note: {server} still uses docker-credential-{helper} (credHelpers).")
    if report.config_changed:
        click.echo(f"Updated {report.config_path}: docker now uses docker-credential-credhelper.")
    else:
        click.echo(f"{report.config_path} already uses credhelper; nothing to change.")
    for backup in report.backups:
        click.echo(f"Backup: {backup}")
    if mig is not None and mig.relogin:
        click.echo("Run credhelper doctor for the entries that could not be imported.")


@click.command("install")
@click.option(
    "--key-provider",
    type=click.Choice(["file", "keyring", "env", "vault"]),
    default="file",
    show_default=True,
    help="Where the AES key lives: a 0600 file, the OS keyring, the environment, or "
    "wrapped by a Vault/OpenBao transit key (VAULT_ADDR, VAULT_TOKEN).",
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
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
def install_command(
    key_provider: str,
    vault_key: str | None,
    vault_mount: str | None,
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
    Examples:
      credhelper install
      credhelper install --key-provider keyring
      CREDHELPER_AESKEY_FILE=/run/secrets/aeskey credhelper install --key-provider env
      credhelper install --docker-config /etc/ci/docker
      VAULT_ADDR=https://vault:8200 credhelper install --key-provider vault
    """
    if (vault_key or vault_mount) and key_provider != "vault":
        raise click.UsageError("--vault-key and --vault-mount need --key-provider vault")
    path = use_docker_config(docker_config)
    options = {"vault_key": vault_key, "vault_mount": vault_mount}
    report = install(key_provider, path, options if key_provider == "vault" else None)
    if dockerconfig.which_helper(dockerconfig.HELPER_NAME) is None:
        click.echo(
            "WARNING: docker-credential-credhelper is not on PATH: docker will fail with "
            "'executable file not found' until its directory is added to PATH "
            "(see: credhelper doctor)",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_install(report)


def _print_uninstall(report: UninstallReport, restore: bool) -> None:
    if report.config_changed:
        click.echo(f"Removed credhelper from {report.config_path}.")
    else:
        click.echo(f"{report.config_path} does not use credhelper; nothing to change.")
    for server in report.restored:
        click.echo(f"Wrote the login for {server} to {report.config_path} as plaintext base64.")
    for server, why in report.not_restored:
        click.echo(f"Not restored: {server} ({why}); log in again with docker login.")
    for backup in report.backups:
        click.echo(f"Backup: {backup}")
    click.echo(
        f"The encrypted store {report.store_path} is kept; delete it yourself when you no "
        "longer need it."
    )
    if not restore:
        click.echo(
            "Docker will ask for logins again (docker login), or use pass/secretservice if "
            "installed. To hand the stored logins back instead: credhelper uninstall "
            "--restore-credentials"
        )


@click.command("uninstall")
@click.option(
    "--restore-credentials",
    is_flag=True,
    help="Write every usable stored login back into config.json as PLAINTEXT base64.",
)
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
def uninstall_command(restore_credentials: bool, docker_config: str | None, as_json: bool) -> None:
    """Stop docker from using credhelper; docker works on its own again.

    \b
    Removes "credsStore": "credhelper" and credHelpers entries naming
    credhelper (backup first; every other key kept). The encrypted store is
    kept. Logins are handed back only with --restore-credentials, and then
    as plaintext base64 that anyone who can read config.json can use.

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
