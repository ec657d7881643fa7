"""The command line: thin Click verbs over provisioner.commands and provisioner.lab.

Every verb builds a Context, calls one function and prints its Report; exit codes follow
CASE-FORMAT.md's table (README, "Commands"). Each verb imports its command when it runs, so
``--help`` and ``check`` do not pay for Ansible, testinfra and the PDF renderer.
Tracebacks appear only with --debug.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provisioner import __version__, click_texts, display, language, playbook_process
from provisioner.click_texts import option
from provisioner.errors import EXIT_INVALID, ProvisionerError
from provisioner.inventory import TOPOLOGIES
from provisioner.language import N_, _

if TYPE_CHECKING:
    from rich.console import Console

    from provisioner.commands.base import Context
    from provisioner.report import Report
    from provisioner.vault import VaultIdentities

CASES = click.argument("cases", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
JSON = option("--json", "as_json", is_flag=True, help=N_("Print exactly one JSON object on stdout."))
BY = option("--by", default="", help=N_("Who does the work, for steps 9-11 of the SOP trail. Default: "
                  "PROVISIONER_OPERATOR, SUDO_USER, the records' documents.yml pelaksana, the login name."))


def console(stderr: bool = False) -> Console:
    """Rich output; wide tables when writing to a file or a pipe, where no terminal sets the width."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)


def inventory_option(required: bool) -> Callable:
    return option("-i", "--inventory", "inventory", type=click.Path(path_type=Path),
                        envvar="PROVISIONER_INVENTORY", required=required,
                  help=N_("Inventory directory or file, read by Ansible (inventories/local, a site's "
                          "hosts.ini)."))


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


@click.group(cls=click_texts.RootGroup, context_settings={"help_option_names": ["-h", "--help"]},
             help=N_("Install, trial and record approved application cases (SOP step 9)."))
@option("--records", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="PROVISIONER_RECORDS",
              help=N_("Where the records of each case are written. Default: the inventory's provisioner_records_dir, "
                   "else <provisioner_state_dir>/records; without an inventory, ./records."))
@option("--vault-id", "vault_ids", multiple=True, metavar="[LABEL@]SOURCE",
              help=N_("A vault password: a file, a script printing it, or 'prompt' (repeatable; after "
                   "ANSIBLE_VAULT_IDENTITY_LIST)."))
@option("--vault-password-file", "vault_password_files", multiple=True, metavar="FILE",
              help=N_("A vault password file or script (repeatable; ANSIBLE_VAULT_PASSWORD_FILE is also read)."))
@option("--debug", is_flag=True, help=N_("Show tracebacks of unexpected errors."))
@option("--lang", "message_lang", type=click.Choice(language.LANGUAGES), default=None,
              help=N_("Language of messages and tables (default: the locale's, LANG=id_ID.UTF-8 is Indonesian; "
                   "else English). --json keys and field paths never change."))
@click_texts.version_option(__version__)
def cli(records: Path | None, vault_ids: tuple[str, ...], vault_password_files: tuple[str, ...], debug: bool,
        message_lang: str | None) -> None:
    """The language was chosen before parsing (click_texts.RootGroup), --lang included."""


@cli.command("check",
             help=N_("Validate case files; with -i, also look for conflicts on the live servers. Changes "
                     "nothing."))
@CASES
@inventory_option(required=False)
@JSON
def check_cmd(cases: tuple[Path, ...], inventory: Path | None, as_json: bool) -> None:
    from provisioner.commands import check

    _run(lambda ctx: check.run(ctx, list(cases)), inventory, as_json)


@cli.command("plan",
             help=N_("Show what apply would add or change, per case. Changes nothing (--export: also writes the "
                     "run)."))
@CASES
@inventory_option(required=True)
@option("--diff", is_flag=True, help=N_("Also show the file differences Ansible computed."))
@option("--export", "export_to", type=click.Path(path_type=Path, file_okay=False), default=None,
              help=N_("Also write the run into this folder, for ansible-playbook, ansible-navigator or AWX."))
@JSON
def plan_cmd(cases: tuple[Path, ...], inventory: Path, diff: bool, export_to: Path | None, as_json: bool) -> None:
    from provisioner.commands import plan

    _run(lambda ctx: plan.run(ctx, list(cases), diff, export_to), inventory, as_json)


@cli.command("apply", help=N_("Provision the cases, run the trial and write the records."))
@CASES
@inventory_option(required=True)
@option("--full", is_flag=True,
              help=N_("Run the whole playbook and the trial for every case, also those already as their case says."))
@BY
@JSON
def apply_cmd(cases: tuple[Path, ...], inventory: Path, full: bool, by: str, as_json: bool) -> None:
    from provisioner.commands import apply

    _run(lambda ctx: apply.run(ctx, list(cases), full=full), inventory, as_json, by)


@cli.command("verify", help=N_("Run the trial checks again against what is live. Changes nothing on the servers."))
@CASES
@option("--all", "all_cases", is_flag=True, help=N_("Every case installed on the inventory."))
@inventory_option(required=True)
@option("--metrics", type=click.Path(dir_okay=False, path_type=Path),
        help=N_("Also write the cases' metrics to FILE (Prometheus textfile collector format)."))
@JSON
def verify_cmd(cases: tuple[Path, ...], all_cases: bool, inventory: Path, metrics: Path | None, as_json: bool) -> None:
    if cases and all_cases:
        raise click.UsageError(_("give case files or --all, not both"))
    from provisioner.commands import verify

    _run(lambda ctx: verify.run(ctx, list(cases), all_cases, metrics_file=metrics), inventory, as_json)


@cli.command("renew", help=N_("Renew the installed cases' ACME certificates that are due, then reload Apache once."))
@inventory_option(required=True)
@option("--days", type=click.IntRange(min=1), default=30, show_default=True,
        help=N_("Renew every ACME certificate that expires within this many days."))
@JSON
def renew_cmd(inventory: Path, days: int, as_json: bool) -> None:
    from provisioner.commands import renew

    _run(lambda ctx: renew.run(ctx, days), inventory, as_json)


@cli.command("backup", help=N_("Copy installed cases' databases and data folders to the controller, with a "
                                "manifest; keep the last N."))
@CASES
@option("--all", "all_cases", is_flag=True, help=N_("Every case installed on the inventory."))
@inventory_option(required=True)
@option("--keep", type=click.IntRange(min=1), default=None,
        help=N_("Backups kept per case, the newest (default: provisioner_backup_keep, else 7)."))
@option("--keep-days", type=click.IntRange(min=1), default=None,
        help=N_("Also remove backups older than this many days (the newest always stays)."))
@JSON
def backup_cmd(cases: tuple[Path, ...], all_cases: bool, inventory: Path, keep: int | None, keep_days: int | None,
               as_json: bool) -> None:
    if cases and all_cases:
        raise click.UsageError(_("give case files or --all, not both"))
    from provisioner.commands import backup

    _run(lambda ctx: backup.backup(ctx, list(cases), all_cases, keep, keep_days), inventory, as_json)


@cli.command("restore", help=N_("Put an installed case's database and data folders back from one of its backups, "
                                "then run its trial."))
@click.argument("case", type=click.Path(path_type=Path))
@option("--from", "source", required=True, type=click.Path(exists=True, path_type=Path),
        help=N_("The backup: its folder, or its manifest.json."))
@inventory_option(required=True)
@JSON
def restore_cmd(case: Path, source: Path, inventory: Path, as_json: bool) -> None:
    from provisioner.commands import backup

    _run(lambda ctx: backup.restore(ctx, case, source), inventory, as_json)


@cli.command("rollback",
             help=N_("Apply again the case file each case (file or id) was applied from before its current one."))
@click.argument("cases", nargs=-1, required=True)
@inventory_option(required=True)
@BY
@JSON
def rollback_cmd(cases: tuple[str, ...], inventory: Path, by: str, as_json: bool) -> None:
    from provisioner.commands import rollback

    _run(lambda ctx: rollback.run(ctx, list(cases)), inventory, as_json, by)


@cli.command("doctor",
             help=N_("Check an inventory before use: hosts reachable, services running, zones served, the TSIG "
                     "key signing updates, the pool free (exit 1 naming each problem)."))
@inventory_option(required=True)
@JSON
def doctor_cmd(inventory: Path, as_json: bool) -> None:
    from provisioner.commands import doctor

    _run(doctor.run, inventory, as_json)


@cli.command("destroy", help=N_("Remove what apply made for the cases; databases and files are kept unless asked."))
@CASES
@inventory_option(required=True)
@option("--drop-database", is_flag=True, help=N_("Also drop the case's database (asks first)."))
@option("--remove-files", is_flag=True, help=N_("Also remove the document root, logs and system user."))
@option("--yes", is_flag=True, help=N_("Do not ask for confirmation."))
@JSON
def destroy_cmd(cases: tuple[Path, ...], inventory: Path, drop_database: bool, remove_files: bool, yes: bool,
                as_json: bool) -> None:
    if (drop_database or remove_files) and not yes:
        what = _(" and ").join(w for w, on in ((_("its database"), drop_database), (_("its files"), remove_files))
                               if on)
        if not sys.stdin.isatty():
            raise click.UsageError(_("removing {what} needs confirmation: add --yes").format(what=what))
        click.confirm(_("Remove {what} for good?").format(what=what), abort=True, err=True)
    from provisioner.commands import destroy

    _run(lambda ctx: destroy.run(ctx, list(cases), drop_database, remove_files), inventory, as_json)


LANG = option("--lang", type=click.Choice(["id", "en", "all"]), default="all", show_default=True,
                    help=N_("Language of the documents: Indonesian, English, or both."))


@cli.command("report", help=N_("Render the documents of the cases (files or ids) again from their records."))
@click.argument("cases", nargs=-1)
@option("--all", "all_cases", is_flag=True, help=N_("Every case in the records, the register and the SLA summary."))
@LANG
@JSON
def report_cmd(cases: tuple[str, ...], all_cases: bool, lang: str, as_json: bool) -> None:
    langs = ("id", "en") if lang == "all" else (lang,)
    from provisioner.commands import report

    _run(lambda ctx: report.run(ctx, list(cases), all_cases, langs), None, as_json)


@cli.command("schema", help=N_("Print the case file's JSON Schema (for editors and other tools)."))
def schema_cmd() -> None:
    from provisioner.case_schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@cli.group("case", help=N_("The case's trail through the 11 SOP steps (records only)."))
def case_group() -> None:
    """Only a name for its subcommands."""


@case_group.command("new", help=N_("Scaffold a valid case file (approval pending) from flags or prompts."))
@option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help=N_("Where to write the case file."))
@option("--id", "case_id", prompt="Nomor agenda (id)", help=N_("Agenda number from SOP step 2."))
@option("--opd-code", prompt="Kode OPD")
@option("--opd-name", prompt="Nama OPD")
@option("--letter-number", prompt="Nomor surat")
@option("--letter-date", prompt="Tanggal surat (YYYY-MM-DD)")
@option("--name", prompt="Nama singkat aplikasi", help="[a-z][a-z0-9-]{1,30}")
@option("--title", prompt="Judul aplikasi")
@option("--category", type=click.Choice(["umum", "khusus"]), prompt="Kategori")
@option("--source", type=click.Choice(["vendor", "inhouse"]), prompt="Sumber")
@option("--vendor", default="", help=N_("Required when the source is vendor."))
@option("--runtime", type=click.Choice(["static", "php", "proxy"]), prompt="Jenis runtime")
@option("--upstream", default="", help=N_("proxy only: http(s) URL Apache forwards to."))
@option("--subdomain", default="", help=N_("Default: the application's name."))
@option("--zone", default="tarakankota.go.id", show_default=True)
@option("--engine", type=click.Choice(["mariadb", "postgresql", "none"]), prompt="Basis data")
@option("--contact-name", prompt="Narahubung OPD")
@option("--contact-email", prompt="E-mail narahubung")
def case_new(output: Path, **fields: str) -> None:
    fields["id"] = fields.pop("case_id")
    from provisioner.commands import case as case_cmd

    _run(lambda ctx: case_cmd.new(ctx, output, fields), None, False)


@case_group.command("step", help=N_("Record that step NUMBER of CASE (file or id) was done."))
@click.argument("case")
@click.argument("number", type=int)
@option("--done", "done", help=N_("When it was done, with offset (2026-10-02T09:00:00+08:00); default now."))
@option("--by", default="", help=N_("Who did it."))
@option("--note", default="", help=N_("A remark for the trail."))
@JSON
def case_step(case: str, number: int, done: str | None, by: str, note: str, as_json: bool) -> None:
    from provisioner.commands import case as case_cmd

    _run(lambda ctx: case_cmd.step(ctx, case, number, done, by, note), None, as_json)


@case_group.command("show",
                    help=N_("The 11 steps of CASE with actor, when done, time against the standard, and the "
                            "next step."))
@click.argument("case")
@LANG
@JSON
def case_show(case: str, lang: str, as_json: bool) -> None:
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


@case_group.command("list", help=N_("Every case in the records with its current step and status."))
@JSON
def case_list(as_json: bool) -> None:
    from provisioner.commands import case as case_cmd
    from provisioner.display import print_case_list

    if as_json:
        _run(case_cmd.listing, None, True)
    print_case_list(case_cmd.all_trails(_records_context()), console())


@cli.group("lab", help=N_("The embedded environment the examples and tests run against."))
def lab_group() -> None:
    """Only a name for its subcommands."""


def lab_options(command: Callable) -> Callable:
    """-i names any inventory; --topology picks one of the project's own labs."""
    command = option("--topology", type=click.Choice(sorted(TOPOLOGIES)), default=None,
                           help=N_("local: every service on this machine (inventories/local, the default); "
                                "multi: hosts web1, db1, ns1, ns2 over SSH (inventories/lab)."))(command)
    return JSON(inventory_option(required=False)(command))


def _lab_inventory(inventory: Path | None, topology: str | None) -> Path:
    if inventory is not None and topology is not None:
        raise click.UsageError(_("give -i or --topology, not both"))
    return inventory or TOPOLOGIES[topology or "local"]


@lab_group.command("up", help=N_("Install, configure and start the lab's services on this machine."))
@lab_options
def lab_up(inventory: Path | None, topology: str | None, as_json: bool) -> None:
    from provisioner import lab

    _run(lab.up, _lab_inventory(inventory, topology), as_json)


@lab_group.command("down",
                   help=N_("Remove the lab's cases, stop its services and remove what it added (packages stay)."))
@lab_options
def lab_down(inventory: Path | None, topology: str | None, as_json: bool) -> None:
    from provisioner import lab

    _run(lab.down, _lab_inventory(inventory, topology), as_json)


@lab_group.command("status", help=N_("Say whether each lab service is up."))
@lab_options
def lab_status(inventory: Path | None, topology: str | None, as_json: bool) -> None:
    from provisioner import lab

    _run(lab.status, _lab_inventory(inventory, topology), as_json)


def command_words(argv: list[str]) -> str:
    """The command an argument list names ("apply", "case step"), its groups' options and their
    values skipped: what the JSON of an error that stopped it before it ran says it was."""
    group: click.Group = cli
    words: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("-"):
            option = next((p for p in group.params if arg.split("=", 1)[0] in p.opts), None)
            if isinstance(option, click.Option) and not option.is_flag and "=" not in arg:
                next(args, None)  # its value
            continue
        words.append(arg)
        found = group.commands.get(arg)
        if not isinstance(found, click.Group):
            break
        group = found
    return " ".join(words)


def main() -> None:
    """Entry point: command-line errors exit 2, as JSON too when --json was asked for."""
    # A command lives for seconds and makes objects by the hundred thousand (cases, events, the
    # documents' layout): the garbage collector runs as for ansible-playbook (3 to 9 % of rendering).
    gc.set_threshold(*playbook_process.THRESHOLDS)
    display.whole_writes()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(_("aborted: nothing was changed"), err=True)
        sys.exit(EXIT_INVALID)
    except click.ClickException as exc:
        if "--json" in sys.argv:
            print(json.dumps({"command": command_words(sys.argv[1:]), "status": "invalid",
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
            print(json.dumps({"command": command_words(sys.argv[1:]), "status": "failed",
                              "exit_code": 1, "message": message, "cases": [],
                              "errors": [{"path": "", "message": message}], "duration_s": 0.0}))
        else:
            click.echo(_("failed") + " " + message, err=True)
        sys.exit(1)
