"""``provisioner case new|step|show|list``: the case's trail through the 11 SOP steps (records only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from provisioner import documents, trail
from provisioner import records as rec
from provisioner.case import Case
from provisioner.commands.base import Context, case_of, operator, reporting
from provisioner.errors import FieldError, InvalidInput
from provisioner.report import CaseReport, Report
from provisioner.scaffold import scaffold


def new(ctx: Context, output: Path, fields: dict[str, str]) -> Report:
    with reporting("case new") as report:
        if output.exists():
            raise InvalidInput(f"{output} exists already", [FieldError("--output", "choose a new file name")])
        output.write_text(scaffold(fields), encoding="utf-8")
        report.cases = [CaseReport(fields["id"], records=[str(output)])]
        report.message = f"case file written: {output} (approval pending)"
    return report


def step(ctx: Context, ref: str, number: int, done: str | None, by: str, note: str) -> Report:
    with reporting("case step") as report:
        case = case_of(ctx, ref)
        when = None
        if done:
            try:
                when = dt.datetime.fromisoformat(done)
            except ValueError:
                raise InvalidInput(f"--done {done} is not a time",
                                   [FieldError("--done", "write 2026-10-02T09:00:00+08:00")]) from None
        if not (ctx.records_dir / case.id / "case.yml").exists() and case.source is not None:
            rec.Records(ctx.records_dir).case_dir(case.id)
            (ctx.records_dir / case.id / "case.yml").write_text(case.source.read_text(), encoding="utf-8")
        entry = trail.record(ctx.records_dir, case, number, when, operator(ctx.records_dir, by), note)
        report.cases = [CaseReport(case.id, case.fqdn,
                                   records=[str(ctx.records_dir / case.id / trail.TRAIL_FILE)])]
        report.message = f"step {number} of case {case.id} recorded as done at {entry.done.isoformat()}"
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
