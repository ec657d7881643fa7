"""The SOP trail: order of steps, times in the future, and the working-day arithmetic."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from provisioner import sop, trail
from provisioner.case import load_case
from provisioner.errors import InvalidInput
from tests.conftest import EXAMPLES

WITA = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=WITA)  # a Friday


def at(day: int, hour: int = 9, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=WITA)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (at(23), at(24), 1.0),          # Monday to Tuesday
        (at(20), at(23), 1.0),          # Friday 09:00 to Monday 09:00: the weekend does not count
        (at(21), at(23), 0.375),        # Saturday 09:00 to Monday 09:00: Monday 00:00-09:00 only
        (at(21), at(22, 20), 0.0),      # all weekend
        (at(16), at(27), 9.0),          # Monday to Friday of the next week
    ],
)
def test_working_days_skip_saturday_and_sunday(start: dt.datetime, end: dt.datetime, days: float) -> None:
    assert trail.working_days(start, end) == pytest.approx(days)


def test_working_days_use_the_wita_calendar() -> None:
    # Sunday 20:00 UTC is already Monday 04:00 WITA: those four hours are a working day.
    start = dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.UTC)
    assert trail.working_days(start, at(23, 8)) == pytest.approx(4 / 24)


def _case():  # type: ignore[no-untyped-def]
    return load_case(EXAMPLES / "2026-020-simpeg-proxy.yml")  # a vendor case with no sop entries


def test_steps_in_order_are_recorded_and_timed(tmp_path: Path) -> None:
    case = _case()
    trail.record(tmp_path, case, 1, at(2, 9, 10), now=NOW)
    trail.record(tmp_path, case, 2, at(2, 10, 10), by="Bagian Umum", now=NOW)
    rows = {r.step.number: r for r in trail.rows(tmp_path, case)}
    assert rows[2].value == pytest.approx(60.0) and rows[2].over is True  # 60 minutes against 3
    assert rows[2].entry is not None and rows[2].entry.by == "Bagian Umum"
    assert trail.next_step(tmp_path, case) == 3


def test_a_step_before_its_dependency_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        trail.record(tmp_path, _case(), 3, at(2), now=NOW)
    assert "depends on step 2, which is not recorded yet" in info.value.errors[0].message


def test_a_step_done_earlier_than_its_dependency_is_refused(tmp_path: Path) -> None:
    case = _case()
    trail.record(tmp_path, case, 1, at(2, 9, 10), now=NOW)
    with pytest.raises(InvalidInput) as info:
        trail.record(tmp_path, case, 2, at(1, 9, 10), now=NOW)
    assert info.value.errors[0].path == "--done"


def test_a_time_in_the_future_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        trail.record(tmp_path, _case(), 1, NOW + dt.timedelta(hours=2), now=NOW)
    assert "in the future" in info.value.errors[0].message


def test_the_vendor_step_is_skipped_for_inhouse_applications(tmp_path: Path) -> None:
    case = load_case(EXAMPLES / "2026-011-ppid-static.yml")  # in-house, step 1 in the case file
    assert sop.depends_on(7, case.source_kind) == 5
    with pytest.raises(InvalidInput):
        trail.record(tmp_path, case, 6, at(3, 9, 10), now=NOW)


def test_days_standard_counts_working_days(tmp_path: Path) -> None:
    case = _case()
    for number, when in ((1, at(2, 9, 11)), (2, at(2, 9, 11)), (3, at(2, 9, 11)), (4, at(2, 9, 11)),
                         (5, at(2, 9, 11)), (6, at(2, 9, 11)), (7, at(9, 9, 11))):
        trail.record(tmp_path, case, number, when, now=NOW)
    seven = next(r for r in trail.rows(tmp_path, case) if r.step.number == 7)
    assert seven.value == pytest.approx(5.0) and seven.over is True  # a calendar week is 5 working days > 3


class _Untouchable:
    """The holidays package as a module that fails when anything is asked of it."""

    def __init__(self, spec: object) -> None:
        self.__spec__ = spec

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"holidays.{name} asked again")


def test_national_holidays_are_read_from_the_cache_after_the_first_time(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing the holidays package costs a command 0.15 to 0.2 s; its answer per year is kept.
    from provisioner import working_calendar

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    working_calendar._national.cache_clear()
    try:
        first = working_calendar._national(2026)
        assert first[dt.date(2026, 8, 17)]  # Hari Kemerdekaan, from the package
        (entry,) = (tmp_path / "provisioner" / "holidays").iterdir()
        assert entry.name.startswith("ID-2026-")
        working_calendar._national.cache_clear()
        with monkeypatch.context() as without:
            without.setitem(sys.modules, "holidays", _Untouchable(sys.modules["holidays"].__spec__))
            assert working_calendar._national(2026) == first
        entry.write_text("{not json")
        working_calendar._national.cache_clear()
        assert working_calendar._national(2026) == first  # damaged: asked of the package again
        assert working_calendar._cache_entry(2027) != entry.name
    finally:
        working_calendar._national.cache_clear()
