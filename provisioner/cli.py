"""The command line: thin Click verbs over provisioner.commands and provisioner.lab.

Every verb builds a Context, calls one function and prints its Report; exit codes follow
CASE-FORMAT.md's table (README, "Commands"). Each verb imports its command when it runs, so
``--help`` and ``check`` do not pay for Ansible, testinfra and the PDF renderer.
Exit codes follow
CASE-FORMAT.md. Tracebacks appear only with --debug.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provisioner import __version__, language
from provisioner.errors import EXIT_INVALID, ProvisionerError
from provisioner.inventory import TOPOLOGIES
from provisioner.language import _

if TYPE_CHECKING:
    from rich.console import Console

    from provisioner.commands.base import Context
    from provisioner.report import Report
    from provisioner.vault import VaultIdentities

CASES = click.argument("cases", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
JSON = click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
BY = click.option("--by", default="", help="Who does the work, for steps 9-11 of the SOP trail. Default: "
                  "PROVISIONER_OPERATOR, SUDO_USER, the records' documents.yml pelaksana, the login name.")


def console(stderr: bool = False) -> Console:
    """Rich output; wide tables when writing to a file or a pipe, where no terminal sets the width."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)


def inventory_option(required: bool) -> Callable:
    return click.option("-i", "--inventory", "inventory", type=click.Path(path_type=Path),
                        envvar="PROVISIONER_INVENTORY", required=required,
                        help="Inventory directory or file, read by Ansible (inventories/local, a site's hosts.ini).")


def _run(command: Callable[[Context], Report], inventory: Path | None, as_json: bool, by: str = "") -> None:
    from provisioner.commands.base import Context
    from provisioner.display import LiveDisplay, print_json, print_report

    params = click.get_current_context().find_root().params
    shown: list[LiveDisplay] = []

    def live() -> LiveDisplay:
        """The progress display, made at its first line: `check --json` then never imports rich."""
        if not shown:
            shown.append(LiveDisplay(console(stderr=True)))
        return shown[0]

    ctx = Context(inventory_path=inventory, records=params["records"], vault=_vault(params), by=by,
                  on_event=lambda event: live()(event), on_progress=lambda message: live().progress(message))
    report = command(ctx)
    if as_json:
        print_json(report)
    else:
        print_report(report, console())
    sys.exit(report.exit_code)


def _vault(params: dict[str, Any]) -> VaultIdentities:
    """The root options' vault identities, after those of the environment as Ansible orders them."""
    from provisioner.vault import VaultIdentities

    return VaultIdentities.from_options(params["vault_ids"], params["vault_password_files"])


def _records_context() -> Context:
    from provisioner.commands.base import Context

    return Context(inventory_path=None, records=click.get_current_context().find_root().params["records"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--records", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="PROVISIONER_RECORDS",
              help="Where the records of each case are written. Default: the inventory's provisioner_records_dir, "
                   "else <provisioner_state_dir>/records; without an inventory, ./records.")
@click.option("--vault-id", "vault_ids", multiple=True, metavar="[LABEL@]SOURCE",
              help="A vault password: a file, a script printing it, or 'prompt' (repeatable; after "
                   "ANSIBLE_VAULT_IDENTITY_LIST).")
@click.option("--vault-password-file", "vault_password_files", multiple=True, metavar="FILE",
              help="A vault password file or script (repeatable; ANSIBLE_VAULT_PASSWORD_FILE is also read).")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.option("--lang", "message_lang", type=click.Choice(language.LANGUAGES), default=None,
              help="Language of messages and tables (default: the locale's, LANG=id_ID.UTF-8 is Indonesian; "
                   "else English). --json keys and field paths never change.")
@click.version_option(__version__)
def cli(records: Path | None, vault_ids: tuple[str, ...], vault_password_files: tuple[str, ...], debug: bool,
        message_lang: str | None) -> None:
    """Install, trial and record approved application cases (SOP step 9)."""
    asked = (click.get_current_context().obj or {}).get("lang")  # a subcommand's --lang, seen by main()
    language.choose(message_lang or asked)


@cli.command("check")
@CASES
@inventory_option(required=False)
@JSON
def check_cmd(cases: tuple[Path, ...], inventory: Path | None, as_json: bool) -> None:
    """Validate case files; with -i, also look for conflicts on the live servers. Changes nothing."""
    from provisioner.commands import check

    _run(lambda ctx: check.run(ctx, list(cases)), inventory, as_json)


@cli.command("plan")
@CASES
@inventory_option(required=True)
@click.option("--diff", is_flag=True, help="Also show the file differences Ansible computed.")
@click.option("--export", "export_to", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write the run into this folder, for ansible-playbook, ansible-navigator or AWX.")
@JSON
def plan_cmd(cases: tuple[Path, ...], inventory: Path, diff: bool, export_to: Path | None, as_json: bool) -> None:
    """Show what apply would add or change, per case. Changes nothing (--export: also writes the run)."""
    from provisioner.commands import plan

    _run(lambda ctx: plan.run(ctx, list(cases), diff, export_to), inventory, as_json)


@cli.command("apply")
@CASES
@inventory_option(required=True)
@click.option("--full", is_flag=True,
              help="Run the whole playbook and the trial for every case, also those already as their case says.")
@BY
@JSON
def apply_cmd(cases: tuple[Path, ...], inventory: Path, full: bool, by: str, as_json: bool) -> None:
    """Provision the cases, run the trial and write the records."""
    from provisioner.commands import apply

    _run(lambda ctx: apply.run(ctx, list(cases), full=full), inventory, as_json, by)


@cli.command("verify")
@CASES
@click.option("--all", "all_cases", is_flag=True, help="Every case installed on the inventory.")
@inventory_option(required=True)
@click.option("--metrics", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the cases' metrics to FILE (Prometheus textfile collector format).")
@JSON
def verify_cmd(cases: tuple[Path, ...], all_cases: bool, inventory: Path, metrics: Path | None, as_json: bool) -> None:
    """Run the trial checks again against what is live. Changes nothing on the servers."""
    if cases and all_cases:
        raise click.UsageError("give case files or --all, not both")
    from provisioner.commands import verify

    _run(lambda ctx: verify.run(ctx, list(cases), all_cases, metrics_file=metrics), inventory, as_json)


@cli.command("rollback")
@click.argument("cases", nargs=-1, required=True)
@inventory_option(required=True)
@BY
@JSON
def rollback_cmd(cases: tuple[str, ...], inventory: Path, by: str, as_json: bool) -> None:
    """Apply again the case file each case (file or id) was applied from before its current one."""
    from provisioner.commands import rollback

    _run(lambda ctx: rollback.run(ctx, list(cases)), inventory, as_json, by)


@cli.command("doctor")
@inventory_option(required=True)
@JSON
def doctor_cmd(inventory: Path, as_json: bool) -> None:
    """Check an inventory before use: hosts reachable, services running, zones served, the TSIG key
    signing updates, the pool free (exit 1 naming each problem)."""
    from provisioner.commands import doctor

    _run(doctor.run, inventory, as_json)


@cli.command("destroy")
@CASES
@inventory_option(required=True)
@click.option("--drop-database", is_flag=True, help="Also drop the case's database (asks first).")
@click.option("--remove-files", is_flag=True, help="Also remove the document root, logs and system user.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON
def destroy_cmd(cases: tuple[Path, ...], inventory: Path, drop_database: bool, remove_files: bool, yes: bool,
                as_json: bool) -> None:
    """Remove what apply made for the cases; databases and files are kept unless asked."""
    if (drop_database or remove_files) and not yes:
        what = " and ".join(w for w, on in (("its database", drop_database), ("its files", remove_files)) if on)
        if not sys.stdin.isatty():
            raise click.UsageError(f"removing {what} needs confirmation: add --yes")
        click.confirm(f"Remove {what} for good?", abort=True, err=True)
    from provisioner.commands import destroy

    _run(lambda ctx: destroy.run(ctx, list(cases), drop_database, remove_files), inventory, as_json)


LANG = click.option("--lang", type=click.Choice(["id", "en", "all"]), default="all", show_default=True,
                    help="Language of the documents: Indonesian, English, or both.")


@cli.command("report")
@click.argument("cases", nargs=-1)
@click.option("--all", "all_cases", is_flag=True, help="Every case in the records, the register and the SLA summary.")
@LANG
@JSON
def report_cmd(cases: tuple[str, ...], all_cases: bool, lang: str, as_json: bool) -> None:
    """Render the documents of the cases (files or ids) again from their records."""
    langs = ("id", "en") if lang == "all" else (lang,)
    from provisioner.commands import report

    _run(lambda ctx: report.run(ctx, list(cases), all_cases, langs), None, as_json)


@cli.command("schema")
def schema_cmd() -> None:
    """Print the case file's JSON Schema (for editors and other tools)."""
    from provisioner.case_schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@cli.group("case")
def case_group() -> None:
    """The case's trail through the 11 SOP steps (records only)."""


@case_group.command("new")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the case file.")
@click.option("--id", "case_id", prompt="Nomor agenda (id)", help="Agenda number from SOP step 2.")
@click.option("--opd-code", prompt="Kode OPD")
@click.option("--opd-name", prompt="Nama OPD")
@click.option("--letter-number", prompt="Nomor surat")
@click.option("--letter-date", prompt="Tanggal surat (YYYY-MM-DD)")
@click.option("--name", prompt="Nama singkat aplikasi", help="[a-z][a-z0-9-]{1,30}")
@click.option("--title", prompt="Judul aplikasi")
@click.option("--category", type=click.Choice(["umum", "khusus"]), prompt="Kategori")
@click.option("--source", type=click.Choice(["vendor", "inhouse"]), prompt="Sumber")
@click.option("--vendor", default="", help="Required when the source is vendor.")
@click.option("--runtime", type=click.Choice(["static", "php", "proxy"]), prompt="Jenis runtime")
@click.option("--upstream", default="", help="proxy only: http(s) URL Apache forwards to.")
@click.option("--subdomain", default="", help="Default: the application's name.")
@click.option("--zone", default="tarakankota.go.id", show_default=True)
@click.option("--engine", type=click.Choice(["mariadb", "postgresql", "none"]), prompt="Basis data")
@click.option("--contact-name", prompt="Narahubung OPD")
@click.option("--contact-email", prompt="E-mail narahubung")
def case_new(output: Path, **fields: str) -> None:
    """Scaffold a valid case file (approval pending) from flags or prompts."""
    fields["id"] = fields.pop("case_id")
    from provisioner.commands import case as case_cmd

    _run(lambda ctx: case_cmd.new(ctx, output, fields), None, False)


@case_group.command("step")
@click.argument("case")
@click.argument("number", type=int)
@click.option("--done", "done", help="When it was done, with offset (2026-10-02T09:00:00+08:00); default now.")
@click.option("--by", default="", help="Who did it.")
@click.option("--note", default="", help="A remark for the trail.")
@JSON
def case_step(case: str, number: int, done: str | None, by: str, note: str, as_json: bool) -> None:
    """Record that step NUMBER of CASE (file or id) was done."""
    from provisioner.commands import case as case_cmd

    _run(lambda ctx: case_cmd.step(ctx, case, number, done, by, note), None, as_json)


@case_group.command("show")
@click.argument("case")
@LANG
@JSON
def case_show(case: str, lang: str, as_json: bool) -> None:
    """The 11 steps of CASE with actor, when done, time against the standard, and the next step."""
    from provisioner.commands import case as case_cmd
    from provisioner.display import print_trail

    if lang in language.LANGUAGES:  # the trail's language is the messages' too
        language.choose(lang)
    if as_json:
        _run(lambda ctx: case_cmd.show(ctx, case), None, True)
    try:
        shown = case_cmd.trail_of(_records_context(), case)
    except ProvisionerError as exc:
        word = _("error")
        console(stderr=True).print(f"[red]{word}[/red] {exc.message}: " + "; ".join(map(str, exc.errors)))
        sys.exit(exc.exit_code)
    print_trail(shown, lang if lang in language.LANGUAGES else language.current(), console())


@case_group.command("list")
@JSON
def case_list(as_json: bool) -> None:
    """Every case in the records with its current step and status."""
    from provisioner.commands import case as case_cmd
    from provisioner.display import print_case_list

    if as_json:
        _run(case_cmd.listing, None, True)
    print_case_list(case_cmd.all_trails(_records_context()), console())


@cli.group("lab")
def lab_group() -> None:
    """The embedded environment the examples and tests run against."""


def lab_options(command: Callable) -> Callable:
    """-i names any inventory; --topology picks one of the project's own labs."""
    command = click.option("--topology", type=click.Choice(sorted(TOPOLOGIES)), default=None,
                           help="local: every service on this machine (inventories/local, the default); "
                                "multi: hosts web1, db1, ns1, ns2 over SSH (inventories/lab).")(command)
    return JSON(inventory_option(required=False)(command))


def _lab_inventory(inventory: Path | None, topology: str | None) -> Path:
    if inventory is not None and topology is not None:
        raise click.UsageError("give -i or --topology, not both")
    return inventory or TOPOLOGIES[topology or "local"]


@lab_group.command("up")
@lab_options
def lab_up(inventory: Path | None, topology: str | None, as_json: bool) -> None:
    """Install, configure and start the lab's services on this machine."""
    from provisioner import lab

    _run(lab.up, _lab_inventory(inventory, topology), as_json)


@lab_group.command("down")
@lab_options
def lab_down(inventory: Path | None, topology: str | None, as_json: bool) -> None:
    """Remove the lab's cases, stop its services and remove what it added (packages stay)."""
    from provisioner import lab

    _run(lab.down, _lab_inventory(inventory, topology), as_json)


@lab_group.command("status")
@lab_options
def lab_status(inventory: Path | None, topology: str | None, as_json: bool) -> None:
    """Say whether each lab service is up."""
    from provisioner import lab

    _run(lab.status, _lab_inventory(inventory, topology), as_json)


def _lang_asked(argv: list[str]) -> str | None:
    """``--lang id|en`` anywhere on the command line, for messages said before Click has parsed it."""
    for index, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else (
            argv[index + 1] if arg == "--lang" and index + 1 < len(argv) else None)
        if value in language.LANGUAGES:
            return value
    return None


def main() -> None:
    """Entry point: command-line errors exit 2, as JSON too when --json was asked for."""
    asked = _lang_asked(sys.argv[1:])
    language.choose(asked)
    try:
        cli.main(standalone_mode=False, obj={"lang": asked})
    except click.exceptions.Abort:
        click.echo(_("aborted: nothing was changed"), err=True)
        sys.exit(EXIT_INVALID)
    except click.ClickException as exc:
        if "--json" in sys.argv:
            print(json.dumps({"command": sys.argv[1] if len(sys.argv) > 1 else "", "status": "invalid",
                              "exit_code": EXIT_INVALID, "message": exc.format_message(), "cases": [],
                              "errors": [{"path": "command line", "message": exc.format_message()}],
                              "duration_s": 0.0}))
        else:
            exc.show()
        sys.exit(EXIT_INVALID)
    except Exception as exc:
        # apply and destroy undo and record their own; this is what any other command says of a bug.
        if "--debug" in sys.argv:
            raise
        message = _("unexpected error {kind}: {error}; this is a fault of provisioner: report it with the output "
                    "of the same command run with --debug").format(kind=type(exc).__name__, error=exc)
        if "--json" in sys.argv:
            print(json.dumps({"command": sys.argv[1] if len(sys.argv) > 1 else "", "status": "failed",
                              "exit_code": 1, "message": message, "cases": [],
                              "errors": [{"path": "", "message": message}], "duration_s": 0.0}))
        else:
            click.echo(_("failed") + " " + message, err=True)
        sys.exit(1)
