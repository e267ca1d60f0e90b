"""`credhelper migrate`: import logins from docker, openEuler docker, iSulad or
another credential helper (--from-helper NAME)."""

from __future__ import annotations

import json

import click

from credhelper.advice import login_command
from credhelper.cli.options import DOCKER_CONFIG_HELP, echo_each, use_docker_config
from credhelper.errors import ExitCode
from credhelper.isulad_import import migrate_isulad
from credhelper.migrate import MigrationReport, migrate_docker


def _print(report: MigrationReport) -> None:
    echo_each(report.imported, lambda s: f"Imported {s}.")
    echo_each(report.unchanged, lambda s: f"{s}: already in the store.")
    echo_each(
        report.kept_existing,
        lambda s: f"{s}: kept the login already in the store (a different one).",
    )
    where = "docker-credential-" + _helper_name(report) if report.helper else "plaintext"
    echo_each(
        report.replaced,
        lambda s: f"{s}: replaced the stored login with the one docker was using ({where}).",
    )
    echo_each(
        report.relogin,
        lambda r: f"Needs a new login: {r[0]} ({r[1]}); run: {login_command(r[0])}",
    )
    echo_each(
        report.unverified,
        lambda s: (
            f"Verify failed: {s}: credhelper's store does not return the login "
            f"the helper gave; run: credhelper login {s}"
        ),
    )
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


def _helper_name(report: MigrationReport) -> str:
    base = (report.helper or "").rsplit("/", 1)[-1]
    return base.removeprefix("docker-credential-")


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
@click.option(
    "--from-helper",
    "from_helper",
    metavar="NAME",
    help="Import every login docker-credential-NAME (on PATH) holds, e.g. pass or "
    "secretservice, through its list and get; each is read back to verify it.",
)
@click.option("--docker-config", "docker_config", metavar="DIR", help=DOCKER_CONFIG_HELP)
@click.option(
    "--isulad-dir",
    metavar="DIR",
    help="iSulad's directory with auths.json and aeskey (default: ~/.isulad).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
def command(
    source: str,
    from_helper: str | None,
    docker_config: str | None,
    isulad_dir: str | None,
    as_json: bool,
) -> None:
    """Import logins into the encrypted store.

    \b
    Docker's and openEuler docker's config.json are rewritten (after a 0600
    backup) with docker's usual {} entries for what was imported, and docker
    is pointed at credhelper for those registries. iSulad's auths.json is
    left alone. Entries that cannot be decrypted (aeskey missing or wrong)
    are named with the login command to run; exit status 3 then.

    \b
    --from-helper NAME runs docker-credential-NAME list, then get for each
    registry (the secret only crosses its stdout pipe), seals each login
    and reads it back. A different stored login is replaced only where
    docker was using NAME for that registry; docker is then pointed at
    credhelper for those registries. Exit status: 9 if the helper is not
    on PATH, 3 if it failed for some registries, 1 if a login read back
    differs.

    \b
    Examples:
      credhelper migrate --from docker
      sudo credhelper migrate --from openeuler --docker-config /root/.docker
      sudo credhelper migrate --from isulad --isulad-dir /root/.isulad
      credhelper migrate --from-helper pass
    """
    ctx = click.get_current_context()
    if from_helper is not None and (
        ctx.get_parameter_source("source") != click.core.ParameterSource.DEFAULT or isulad_dir
    ):
        raise click.UsageError("--from-helper cannot be combined with --from or --isulad-dir")
    path = use_docker_config(docker_config)
    if from_helper is not None:
        from credhelper.helper_import import check_name, migrate_helper

        check_name(from_helper)
        report = migrate_helper(from_helper, path)
    elif source == "isulad":
        report = migrate_isulad(isulad_dir, path)
    else:
        report = migrate_docker(path, source=source)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    if report.unverified:
        ctx.exit(int(ExitCode.ERROR))
    if report.relogin:
        ctx.exit(int(ExitCode.NEEDS_LOGIN))
