"""What people see: the live progress of a run on stderr, then the summary on stdout.

With ``--json`` the summary is replaced by exactly one JSON object on stdout; progress still
goes to stderr, so scripts can read stdout alone.
"""

from __future__ import annotations

import io
import json
import sys
from typing import TYPE_CHECKING, Any

from provisioner import language
from provisioner.language import N_, _

if TYPE_CHECKING:  # rich is imported where something is printed with it: `--json` does not need it
    from rich.console import Console

    from provisioner.commands.case import Trail
    from provisioner.report import Report


def whole_writes() -> None:
    """Make stdout and stderr write all they are given. Unbuffered (``PYTHONUNBUFFERED``, ``-u``),
    Python writes straight to the file and drops the rest of a write that a signal cut short: a
    pipeline stopped (Ctrl-Z) and continued while its pipe was full lost the middle of ``--json``.
    A BufferedWriter writes on until all is out; lines still go out as they are written."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        raw = getattr(stream, "buffer", None)
        if isinstance(raw, io.FileIO) and isinstance(stream, io.TextIOWrapper):
            setattr(sys, name, io.TextIOWrapper(io.BufferedWriter(raw), encoding=stream.encoding,
                                                errors=stream.errors, line_buffering=True))


class LiveDisplay:
    """Turns ansible-runner events into one line per task that did something."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def progress(self, message: str) -> None:
        from rich.markup import escape

        self.console.print(f"[bold]»[/bold] {escape(message)}")

    def __call__(self, event: dict[str, Any]) -> None:
        from rich.markup import escape

        kind = event.get("event", "")
        data = event.get("event_data", {})
        res = data.get("res") or {}
        task = escape(str(data.get("task", "")))
        host = escape(str(data.get("host", "")))
        changed, ok = _("changed"), _("ok")
        if kind == "playbook_on_play_start":
            self.console.print(f"[bold cyan]{escape(str(data.get('play', '')))}[/bold cyan]")
        elif kind == "runner_on_ok":
            if res.get("changed"):
                self.console.print(f"  [yellow]{changed}[/yellow] {task} [dim]{host}[/dim]")
            else:
                padding = " " * max(len(changed) - len(ok) + 1, 1)
                self.console.print(f"  [green]{ok}[/green]{padding}{task} [dim]{host}[/dim]", highlight=False)
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            message = escape(str(res.get("msg", "")).strip()[:300])
            self.console.print(f"  [bold red]{_('FAILED')}[/bold red]  {task} [dim]{host}[/dim] {message}")


STATUS_WORDS = {"ok": N_("ok"), "failed": N_("failed"), "invalid": N_("invalid"), "refused": N_("refused")}
# A report of more cases than this shows a case whose checks all passed as one line, and the table
# of checks only for a case that failed or warned: 500 cases' tables were 10,000 rows (and 5 s).
TABLES_UP_TO = 10


def print_report(report: Report, console: Console) -> None:
    """The report for people, in the chosen language (provisioner/language.py); checks by their
    catalogue texts in that language."""
    from rich.markup import escape

    lang = language.current()
    compact = len(report.cases) > TABLES_UP_TO
    for case in report.cases:
        where = _("on {server}").format(server=case.server) if case.server else ""
        title = "  ".join(str(part) for part in (case.id, case.fqdn, case.public_ip, where) if part)
        if compact and case.checks and all(c.ok and not c.warning for c in case.checks):
            console.print(f"{title}  [green]{_('ok')}[/green] " + _("{count} checks passed").format(
                count=len(case.checks)))
        elif case.checks:
            from rich.table import Table  # only a trial's checks are a table

            table = Table(title=title, title_justify="left", show_lines=False)
            table.add_column(_("check"))
            table.add_column(_("result"))
            table.add_column(_("detail"), overflow="fold")
            for check in case.checks:
                result = ("[bold red]" + _("FAILED") + "[/bold red]" if not check.ok
                          else "[yellow]" + _("warning") + "[/yellow]" if check.warning
                          else "[green]" + _("ok") + "[/green]")
                said = check.texts(lang)
                table.add_row(escape(said["name"]), result, escape(said["detail"]))
            console.print(table)
        else:
            console.print(title + (f"  ({escape(_(case.note))})" if case.note else ""))
        if case.plan is not None:
            for change in case.plan:
                sign = {"add": "[green]+[/green]", "change": "[yellow]~[/yellow]"}.get(change.action, "[red]-[/red]")
                console.print(f"  {sign} {escape(change.role)}: {escape(change.thing)}")
            if not case.plan:
                console.print("  " + _("no changes"))
        elif report.command in ("apply", "destroy"):
            console.print("  " + _("changed: {count}").format(count=case.changed))
        for path in case.records:
            console.print("  " + _("record: {path}").format(path=escape(path)))
    for diff in report.diffs or []:
        console.print(escape(diff))
    if report.metrics:
        console.print(_("metrics: {path}").format(path=escape(report.metrics)))
    for warning in report.warnings:
        console.print("[yellow]" + _("warning") + f"[/yellow] {escape(warning)}")
    for error in report.errors:
        console.print("[red]" + _("error") + f"[/red] {escape(str(error))}")
    colour = "green" if report.exit_code == 0 else "red"
    status = _(STATUS_WORDS.get(report.status, report.status))
    console.print(f"[bold {colour}]{status}[/bold {colour}] {escape(report.message)}")


def print_json(report: Report) -> None:
    print(json.dumps(report.as_dict(), ensure_ascii=False))


TRAIL_COLUMNS = {"id": ("langkah", "nama", "pelaksana", "selesai", "oleh", "waktu", "standar", ""),
                 "en": ("step", "name", "actor", "done", "by", "time", "standard", "")}
TRAIL_TEXT = {
    "id": {"not_applicable": "tidak berlaku", "over": "MELEBIHI", "ok": "ok", "done": "selesai: langkah 11 sudah",
           "next": "langkah berikutnya: {number}, {name}", "missing": "belum dicatat:",
           "missing_hint": "langkah {steps} (catat dengan `provisioner case step {case} N --done ...`)"},
    "en": {"not_applicable": "n/a", "over": "OVER", "ok": "ok", "done": "done: step 11 is done",
           "next": "next step: {number}, {name}", "missing": "not recorded:",
           "missing_hint": "steps {steps} (record them with `provisioner case step {case} N --done ...`)"},
}


def print_trail(shown: Trail, lang: str, console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from provisioner.dates import datetime_text

    case = shown.case
    table = Table(title=f"{case.id}  {escape(case.app_title)}  ({escape(case.opd_code)})", title_justify="left")
    t = TRAIL_TEXT["en" if lang == "en" else "id"]
    for column in TRAIL_COLUMNS["en" if lang == "en" else "id"]:
        table.add_column(column)
    for row in shown.rows:
        if not row.applies:
            table.add_row(str(row.step.number), escape(row.step.name(lang)), escape(row.step.actor(lang)),
                          t["not_applicable"], "", "", "", "")
            continue
        flag = f"[bold red]{t['over']}[/bold red]" if row.over else (t["ok"] if row.over is False else "")
        done = datetime_text(row.entry.done, lang) if row.entry else "-"
        table.add_row(str(row.step.number), escape(row.step.name(lang)), escape(row.step.actor(lang)), done,
                      escape(row.entry.by) if row.entry else "", row.text(lang), row.step.standard(lang), flag)
    console.print(table)
    if shown.next_step is None:
        console.print(t["done"])
    else:
        name = next(r.step.name(lang) for r in shown.rows if r.step.number == shown.next_step)
        console.print(t["next"].format(number=shown.next_step, name=escape(name)))
    if shown.missing:
        console.print(f"[yellow]{t['missing']}[/yellow] "
                      + t["missing_hint"].format(steps=", ".join(map(str, shown.missing)), case=shown.case.id))


def print_case_list(trails: list[Trail], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=_("cases"), title_justify="left")
    for column in (_("case"), _("application"), "OPD", "fqdn", _("current step"), _("next step"), _("status")):
        table.add_column(column)
    for shown in trails:
        over = sum(1 for r in shown.rows if r.over)
        status = _("done") if shown.next_step is None else _("in progress")
        status += ", " + _("{count} over time").format(count=over) if over else ""
        missing = ", ".join(map(str, shown.missing))
        status += ", " + _("steps {steps} not recorded").format(steps=missing) if shown.missing else ""
        table.add_row(shown.case.id, escape(shown.case.app_title), escape(shown.case.opd_code), shown.case.fqdn,
                      str(shown.current_step or "-"), str(shown.next_step or "-"), status)
    console.print(table)
