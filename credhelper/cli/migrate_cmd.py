"""`credhelper migrate`: import logins from docker, openEuler docker or iSulad."""

from __future__ import annotations

import json

import click

from credhelper.advice import login_command
from credhelper.cli.install_cmd import DOCKER_CONFIG_HELP, use_docker_config
from credhelper.errors import ExitCode
from credhelper.migrate import MigrationReport, migrate_docker, migrate_isulad


def _print(report: MigrationReport) -> None:
    for server in report.imported:
        click.echo(f"Imported {server}.")
    for server in report.unchanged:
        click.echo(f"{server}: already in the store.")
    for server in report.kept_existing:
        click.echo(f"{server}: kept the login already in the store (a different one).")
    for server in report.replaced:
        click.echo(
            f"{server}: replaced the stored login with the one docker was using (plaintext)."
        )
    for server, why in report.relogin:
        click.echo(f"Needs a new login: {server} ({why}); run: {login_command(server)}")
    if report.config_changed:
        click.echo("Rewrote Docker's config: imported entries are now {}; credhelper serves them.")
    for backup in report.backups:
        click.echo(f"Backup: {backup}")
    for note in report.notes:
        click.echo(note)
    if not (
        report.imported
        or report.unchanged
        or report.kept_existing
        or report.replaced
        or report.relogin
    ):
        click.echo("Nothing to import.")


@click.command("migrate")
@click.option(
    "--from",
    "source",
    type=click.Choice(["docker", "openeuler", "isulad"]),
    default="docker",
    show_default=True,
    help="docker: plaintext auths in config.json; openeuler: openEuler docker's AES "
    "entries (+ DIR/aeskey); isulad: iSulad's auths.json (+ its aeskey).",
)
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option(
    "--isulad-dir",
    metavar="DIR",
    help="iSulad's directory with auths.json and aeskey (default: ~/.isulad).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
def command(source: str, docker_config: str | None, isulad_dir: str | None, as_json: bool) -> None:
    """Import logins into the encrypted store.

    \b
    Docker's and openEuler docker's config.json are rewritten (after a 0600
    backup) with docker's usual {} entries for what was imported, and docker
    is pointed at credhelper for those registries. iSulad's auths.json is
    left alone. Entries that cannot be decrypted (aeskey missing or wrong)
    are named with the login command to run; exit status 3 then.

    \b
    Examples:
      credhelper migrate --from docker
      sudo credhelper migrate --from openeuler --docker-config /root/.docker
      sudo credhelper migrate --from isulad --isulad-dir /root/.isulad
    """
    path = use_docker_config(docker_config)
    if source == "isulad":
        report = migrate_isulad(isulad_dir, path)
    else:
        report = migrate_docker(path, source=source)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    if report.relogin:
        click.get_current_context().exit(int(ExitCode.NEEDS_LOGIN))
