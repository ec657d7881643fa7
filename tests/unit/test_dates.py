"""Dates, durations and numbers as people write them, and the working-day calendar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from provisioner import dates, trail, working_calendar
from provisioner.errors import InvalidInput

WITA = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        ("2026-11-28T06:24:32+08:00", "id", "Sabtu, 28 November 2026, 06.24 WITA"),
        ("2026-11-28T06:24:32+07:00", "id", "Sabtu, 28 November 2026, 06.24 WIB"),
        ("2026-08-17T10:00:00+09:00", "id", "Senin, 17 Agustus 2026, 10.00 WIT"),
        ("2026-11-28T06:24:32+00:00", "id", "Sabtu, 28 November 2026, 06.24 UTC+0"),
        ("2026-11-28T06:24:32+08:00", "en", "Saturday 28 November 2026, 06:24 WITA"),
        ("not a time", "id", "not a time"),
    ],
)
def test_moments_are_written_as_letters_write_them(value: str, lang: str, text: str) -> None:
    assert dates.datetime_text(value, lang) == text


@pytest.mark.parametrize(("value", "lang", "text"), [("2026-10-02", "id", "2 Oktober 2026"),
                                                     (dt.date(2026, 10, 2), "en", "2 October 2026")])
def test_days_are_written_in_words(value: str | dt.date, lang: str, text: str) -> None:
    assert dates.date_text(value, lang) == text


@pytest.mark.parametrize(
    ("minutes", "lang", "text"),
    [(2179.0, "id", "1 hari 12 jam"), (36, "id", "36 menit"), (5.0, "id", "5 menit"), (0.5, "id", "30 detik"),
     (90, "id", "1 jam 30 menit"), (20175.0, "id", "14 hari"), (2179.0, "en", "1 day 12 hours"),
     (1, "en", "1 minute")],
)
def test_durations_take_their_two_largest_units(minutes: float, lang: str, text: str) -> None:
    assert dates.duration_text(minutes, lang) == text


@pytest.mark.parametrize(("value", "lang", "text"), [(2.5, "id", "2,5"), (1250, "id", "1.250"), (2.456, "id", "2,46"),
                                                     (1250.5, "en", "1,250.5")])
def test_numbers_carry_the_language_separators(value: float, lang: str, text: str) -> None:
    assert dates.number_text(value, lang) == text


def test_working_days_are_written_with_a_decimal_comma() -> None:
    assert dates.working_days_text(2.5) == "2,5 hari kerja"


def test_the_written_out_names_and_patterns_are_babels() -> None:
    """dates.py writes CLDR's names itself (Babel's locale data costs ~30 ms to load): every day of
    a leap year, in both languages and at several offsets, and numbers of every shape, as Babel
    writes them."""
    from babel.dates import format_date, format_datetime
    from babel.numbers import format_decimal

    patterns = {"id": "EEEE, d MMMM y, HH.mm", "en": "EEEE d MMMM y, HH:mm"}
    start = dt.datetime(2028, 1, 1, 0, 7, tzinfo=WITA)
    for lang, locale in dates.LOCALES.items():
        for n in range(366):
            moment = start + dt.timedelta(days=n, hours=n % 24, minutes=n)
            want = f"{format_datetime(moment, patterns[lang], locale=locale)} {dates.zone_name(moment)}"
            assert dates.datetime_text(moment, lang) == want
            assert dates.date_text(moment.date(), lang) == format_date(moment.date(), "d MMMM y", locale=locale)
        for value in (0, -0.0, 0.004, 0.005, 1, 2.5, 2.456, 999.999, 1000, 1250.5, 12345.678, -1234567.891, 1e9):
            for decimals in (0, 1, 2):
                pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
                want = format_decimal(round(value, decimals), format=pattern, locale=locale)
                assert dates.number_text(value, lang, decimals) == want, (value, lang, decimals)


def test_an_unknown_language_is_written_in_indonesian() -> None:
    assert dates.datetime_text("2026-11-28T06:24:32+08:00", "fr") == "Sabtu, 28 November 2026, 06.24 WITA"
    assert dates.number_text(1250.5, "fr") == "1.250,5"


# --- the working-day calendar -------------------------------------------------------------------

def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=WITA)


def test_independence_day_is_no_working_day() -> None:
    # Friday 14 August 09:00 to Tuesday 18 August 09:00: Friday's 15 hours, Monday 17 August
    # (Hari Kemerdekaan) not, Tuesday's 9 hours.
    assert trail.working_days(at(8, 14), at(8, 18)) == pytest.approx(1.0)


def test_cuti_bersama_is_no_working_day() -> None:
    # Wednesday 23 to Monday 28 December: 24 December is cuti bersama Natal, 25 December Christmas.
    assert trail.working_days(at(12, 23), at(12, 28)) == pytest.approx(1.0)


def test_the_divisions_own_holidays_are_no_working_days(tmp_path: Path) -> None:
    (tmp_path / working_calendar.HOLIDAYS_FILE).write_text(yaml.safe_dump(
        {"holidays": [{"date": "2026-12-31", "name": "Cuti bersama akhir tahun"}, "2026-06-15"]}))
    calendar = working_calendar.load(tmp_path)
    assert calendar.holiday(dt.date(2026, 12, 31)) == "Cuti bersama akhir tahun"
    assert not calendar.is_working_day(dt.date(2026, 6, 15))
    # 30 December from 09:00 counts, the division's 31 December does not.
    assert calendar.working_days(at(12, 30), at(12, 31, 23)) == pytest.approx(15 / 24)
    # National holidays still count as holidays beside the division's list.
    assert calendar.working_days(at(8, 14), at(8, 19)) == pytest.approx(2.0)


def test_the_trail_counts_against_the_divisions_calendar(tmp_path: Path) -> None:
    from provisioner.case import load_case
    from tests.conftest import EXAMPLES

    case = load_case(EXAMPLES / "2026-020-simpeg-proxy.yml")
    now = at(12, 31, 12)
    for number in range(1, 7):
        trail.record(tmp_path, case, number, at(12, 21), now=now)
    trail.record(tmp_path, case, 7, at(12, 30), now=now)  # Monday 21 to Wednesday 30 December
    seven = next(r for r in trail.rows(tmp_path, case) if r.step.number == 7)
    assert seven.value == pytest.approx(5.0)  # 21, 22, 23, 28, 29: not 24 (cuti bersama) or 25 (Natal)
    (tmp_path / working_calendar.HOLIDAYS_FILE).write_text("holidays:\n  - {date: 2026-12-29, name: libur daerah}\n")
    seven = next(r for r in trail.rows(tmp_path, case) if r.step.number == 7)
    assert seven.value == pytest.approx(4.0) and seven.text() == "4 hari kerja"


def test_a_holiday_that_is_no_date_is_named_with_its_path(tmp_path: Path) -> None:
    (tmp_path / working_calendar.HOLIDAYS_FILE).write_text("holidays:\n  - {date: besok}\n")
    with pytest.raises(InvalidInput) as info:
        working_calendar.load(tmp_path)
    assert info.value.errors[0].path == "holidays[0].date"
