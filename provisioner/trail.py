"""A case's trail through the SOP's 11 steps, and the time each took against its standard.

Where it is kept: ``records/<case-id>/trail.yml`` (steps the engineer or the tool recorded), on
top of the ``sop:`` list of the case file. Steps 9 to 11 are recorded by ``apply`` itself.

How time is counted (the rule the documents and ``case show`` follow):
- A step's time runs from the moment the step it depends on was done (or from its own recorded
  start, as step 9 has) to the moment it was done. Step 1 has no measured time.
- A standard in minutes counts wall-clock time.
- A standard in days counts working days: only time falling on a working day of the WITA (UTC+8)
  calendar counts; Saturday and Sunday, Indonesia's national holidays and cuti bersama, and the
  days in the division's own list (``records/hari-libur.yml``) do not
  (provisioner/working_calendar.py).
- A step is over time when its time exceeds its standard.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner import dates, sop, working_calendar, yamlfile
from provisioner.case import Case
from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _
from provisioner.records import write_atomic

WITA = dt.timezone(dt.timedelta(hours=8), "WITA")
TRAIL_FILE = "trail.yml"


@dataclass(frozen=True)
class Entry:
    step: int
    done: dt.datetime
    started: dt.datetime | None = None
    by: str = ""
    note: str = ""
    source: str = "engineer"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "done": self.done.isoformat()}
        if self.started:
            out["started"] = self.started.isoformat()
        out.update({k: v for k, v in (("by", self.by), ("note", self.note)) if v})
        out["source"] = self.source
        return out


@dataclass(frozen=True)
class Row:
    """One step of ``case show``: when it was done, how long it took against its standard.

    ``value`` is in the unit of the step's standard: minutes, or working days.
    """

    step: sop.Step
    applies: bool
    entry: Entry | None
    value: float | None
    over: bool | None

    def text(self, lang: str = "id") -> str:
        """The time taken as a person says it: "2,5 hari kerja", "1 hari 12 jam", "36 menit"."""
        return value_text(self.step, self.value, lang)


def value_text(step: sop.Step, value: float | None, lang: str = "id") -> str:
    """A time in the unit of the step's standard (working days, or minutes), for people."""
    if value is None:
        return "-"
    return dates.working_days_text(value, lang) if step.days else dates.duration_text(value, lang)


def working_days(start: dt.datetime, end: dt.datetime, calendar: working_calendar.Calendar | None = None) -> float:
    """Days elapsed between two moments, counting working days (WITA calendar) only."""
    return (calendar or working_calendar.Calendar()).working_days(start, end)


def _path(records: Path, case_id: str) -> Path:
    return records / case_id / TRAIL_FILE


def load(records: Path, case: Case) -> dict[int, Entry]:
    """The case file's ``sop:`` entries, overridden by what the trail file records."""
    entries = {number: Entry(number, when, source="case") for number, when in case.sop}
    path = _path(records, case.id)
    if path.exists():
        data = yamlfile.load(path.read_text()) or {}
        for item in data.get("steps", []):
            entries[int(item["step"])] = Entry(
                step=int(item["step"]), done=dt.datetime.fromisoformat(item["done"]),
                started=dt.datetime.fromisoformat(item["started"]) if item.get("started") else None,
                by=item.get("by", ""), note=item.get("note", ""), source=item.get("source", "engineer"))
    return entries


def _save(records: Path, case: Case, entries: dict[int, Entry]) -> Path:
    path = _path(records, case.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    own = [e.as_dict() for e in sorted(entries.values(), key=lambda e: e.step) if e.source != "case"]
    text = (f"# Jejak SOP kasus {case.id} (SOP trail), written by provisioner\n"
            + yaml.safe_dump({"case": case.id, "steps": own}, sort_keys=False, allow_unicode=True))
    return write_atomic(path, text)


def record(records: Path, case: Case, number: int, done: dt.datetime | None = None, by: str = "",
           note: str = "", now: dt.datetime | None = None) -> Entry:
    """Record a step done by people; refuse a step out of order or in the future."""
    now = now or dt.datetime.now(WITA)
    done = done or now
    errors = []
    if number not in sop.BY_NUMBER:
        raise InvalidInput(_("there is no step {number}").format(number=number),
                           [FieldError("STEP", _("a step number 1-11"))])
    if done.tzinfo is None:
        errors.append(FieldError("--done", _("needs an offset, e.g. 2026-10-02T09:00:00+08:00")))
    elif done > now + dt.timedelta(minutes=1):
        errors.append(FieldError("--done", _("{when} is in the future (now {now})").format(when=done.isoformat(),
                                                                                        now=now.isoformat())))
    if not sop.applies(number, case.source_kind):
        errors.append(FieldError("STEP", _("step {number} applies to applications from a vendor only").format(
            number=number)))
    entries = load(records, case)
    before = sop.depends_on(number, case.source_kind)
    if before is not None and not errors:
        previous = entries.get(before)
        if previous is None:
            not_yet = _("step {number} depends on step {before}, which is not recorded yet")
            errors.append(FieldError("STEP", not_yet.format(number=number, before=before)))
        elif previous.done > done:
            too_early = _("step {number} done at {when} is before step {before} ({then}), which it depends on")
            errors.append(FieldError("--done", too_early.format(number=number, when=done.isoformat(), before=before,
                                                                then=previous.done.isoformat())))
    if errors:
        raise InvalidInput(_("step {number} of case {case} cannot be recorded").format(number=number, case=case.id),
                           errors)
    entry = Entry(number, done, by=by, note=note)
    entries[number] = entry
    _save(records, case, entries)
    return entry


def record_install(records: Path, case: Case, started: dt.datetime, ended: dt.datetime, by: str) -> None:
    """Steps 9 to 11, as ``apply`` does them: the install-and-trial, its report, the work complete."""
    entries = load(records, case)
    entries[sop.INSTALL_STEP] = Entry(sop.INSTALL_STEP, ended, started=started, by=by, source="provisioner",
                                      note="provisioner apply: instalasi dan uji coba lulus")
    entries[sop.REPORT_STEP] = Entry(sop.REPORT_STEP, ended, by=by, source="provisioner",
                                     note="laporan dan dokumentasi ditulis ke records/")
    entries[sop.DONE_STEP] = Entry(sop.DONE_STEP, ended, by=by, source="provisioner")
    _save(records, case, entries)


def _taken(step: sop.Step, start: dt.datetime, end: dt.datetime,
           calendar: working_calendar.Calendar) -> tuple[float, bool]:
    if step.days:
        days = calendar.working_days(start, end)
        return days, days > step.days
    minutes = (end - start).total_seconds() / 60
    return minutes, minutes > step.minutes


def rows(records: Path, case: Case) -> list[Row]:
    entries = load(records, case)
    calendar = working_calendar.load(records)
    out = []
    for step in sop.STEPS:
        applies = sop.applies(step.number, case.source_kind)
        entry = entries.get(step.number)
        value, over = None, None
        if entry is not None:
            before = sop.depends_on(step.number, case.source_kind)
            start = entry.started or (entries[before].done if before in entries else None)
            if start is not None:
                value, over = _taken(step, start, entry.done, calendar)
        out.append(Row(step, applies, entry, value, over))
    return out


def current_step(records: Path, case: Case) -> int | None:
    """The furthest step recorded as done."""
    entries = load(records, case)
    return max(entries) if entries else None


def next_step(records: Path, case: Case) -> int | None:
    """The first applicable step after the furthest one done; None when step 11 is done."""
    current = current_step(records, case) or 0
    return next((s.number for s in sop.STEPS if s.number > current and sop.applies(s.number, case.source_kind)),
                None)


def missing_steps(records: Path, case: Case) -> list[int]:
    """Applicable steps before the furthest one done that have no record: a gap in the paper trail."""
    entries = load(records, case)
    current = max(entries) if entries else 0
    return [s.number for s in sop.STEPS
            if s.number < current and sop.applies(s.number, case.source_kind) and s.number not in entries]
