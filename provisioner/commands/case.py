"""``provisioner case new|step|show|list``: the case's trail through the 11 SOP steps (records only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import documents, trail
from provisioner import records as rec
from provisioner.case import Case
from provisioner.commands.base import Context, case_of, operator, reporting
from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _
from provisioner.report import CaseReport, Report
from provisioner.scaffold import scaffold


def new(ctx: Context, output: Path, fields: dict[str, str]) -> Report:
    with reporting("case new") as report:
        if output.exists():
            raise InvalidInput(_("{path} exists already").format(path=output),
                               [FieldError("--output", _("choose a new file name"))])
        output.write_text(scaffold(fields), encoding="utf-8")
        report.cases = [CaseReport(fields["id"], records=[str(output)])]
        report.message = _("case file written: {path} (approval pending)").format(path=output)
    return report


def step(ctx: Context, ref: str, number: int, done: str | None, by: str, note: str) -> Report:
    with reporting("case step") as report:
        case = case_of(ctx, ref)
        when = None
        if done:
            try:
                when = dt.datetime.fromisoformat(done)
            except ValueError:
                raise InvalidInput(_("--done {value} is not a time").format(value=done),
                                   [FieldError("--done", _("write 2026-10-02T09:00:00+08:00"))]) from None
        if not (ctx.records_dir / case.id / "case.yml").exists() and case.source is not None:
            rec.Records(ctx.records_dir).case_dir(case.id)
            (ctx.records_dir / case.id / "case.yml").write_text(case.source.read_text(), encoding="utf-8")
        entry = trail.record(ctx.records_dir, case, number, when, operator(ctx.records_dir, by), note)
        report.cases = [CaseReport(case.id, case.fqdn,
                                   records=[str(ctx.records_dir / case.id / trail.TRAIL_FILE)])]
        report.message = _("step {number} of case {case} recorded as done at {when}").format(
            number=number, case=case.id, when=entry.done.isoformat())
    return report


@dataclass
class Trail:
    case: Case
    rows: list[trail.Row]
    current_step: int | None
    next_step: int | None
    missing: list[int]


def trail_of(ctx: Context, ref: str) -> Trail:
    case = case_of(ctx, ref)
    records = ctx.records_dir
    return Trail(case, trail.rows(records, case), trail.current_step(records, case),
                 trail.next_step(records, case), trail.missing_steps(records, case))


def all_trails(ctx: Context) -> list[Trail]:
    return [trail_of(ctx, case_id) for case_id in documents.case_ids(ctx.records_dir)]


def trail_data(shown: Trail) -> dict[str, Any]:
    """A case's trail for ``--json``: language-neutral data, English keys, ISO 8601 times."""
    steps = []
    for row in shown.rows:
        entry = row.entry
        steps.append({
            "step": row.step.number, "name": row.step.name("en"), "actor": row.step.actor("en"),
            "applies": row.applies, "done": entry.done.isoformat() if entry else None,
            "started": entry.started.isoformat() if entry and entry.started else None,
            "by": entry.by if entry else None, "note": entry.note if entry else None,
            "source": entry.source if entry else None,
            "unit": "working_days" if row.step.days else "minutes",
            "standard": row.step.days or row.step.minutes,
            "value": None if row.value is None else round(row.value, 4), "over": row.over,
        })
    return {"current_step": shown.current_step, "next_step": shown.next_step, "missing": shown.missing,
            "steps": steps}


def show(ctx: Context, ref: str) -> Report:
    """``case show --json``: one case's trail."""
    with reporting("case show") as report:
        shown = trail_of(ctx, ref)
        report.cases = [CaseReport(shown.case.id, shown.case.fqdn, trail=trail_data(shown))]
        report.message = (_("case {case}: step {step} done, next step {next}") if shown.next_step
                          else _("case {case}: step {step} done, every step done")).format(
            case=shown.case.id, step=shown.current_step or "-", next=shown.next_step)
    return report


def listing(ctx: Context) -> Report:
    """``case list --json``: every case's trail."""
    with reporting("case list") as report:
        trails = all_trails(ctx)
        report.cases = [CaseReport(t.case.id, t.case.fqdn, trail=trail_data(t)) for t in trails]
        report.message = _("{count} case(s) in {records}").format(count=len(trails), records=ctx.records_dir)
    return report
