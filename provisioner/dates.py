"""Dates, times, durations and numbers as people write them, in Indonesian and English.

Records keep ISO 8601 (``2026-11-28T06:24:32+08:00``): exact, sortable, for machines and git.
Documents and tables say the same moment as a letter would: "Sabtu, 28 November 2026, 06.24
WITA" (the offset named as Indonesia's zones are: WIB +07, WITA +08, WIT +09; any other offset as
"UTC+5"). Durations in the two largest units that matter ("1 hari 12 jam", "36 menit"), numbers with
the language's separators ("2,5", "1.250").

The names and patterns are CLDR's for id_ID and en_GB, written out here: Babel's formatting loads
its locale data, ~30 ms a process, which every verify paid to write one date into the register.
tests/unit/test_dates.py holds these equal to Babel's for every day of a year and many numbers.
"""

from __future__ import annotations

import datetime as dt

ZONES = {7: "WIB", 8: "WITA", 9: "WIT"}
LOCALES = {"id": "id_ID", "en": "en_GB"}  # the CLDR locales the names below are of
# Monday first (datetime.weekday()), then January first.
DAY_NAMES = {"id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
             "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
MONTH_NAMES = {"id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
                      "Oktober", "November", "Desember"),
               "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December")}
# CLDR "EEEE, d MMMM y, HH.mm" (id) and "EEEE d MMMM y, HH:mm" (en); "d MMMM y"; "#,##0.##".
_DATETIME = {"id": "{weekday}, {date}, {hour:02d}.{minute:02d}", "en": "{weekday} {date}, {hour:02d}:{minute:02d}"}
_SEPARATORS = {"id": (".", ","), "en": (",", ".")}  # grouping, decimal
_UNITS = {  # singular, plural
    "id": {"day": ("hari", "hari"), "hour": ("jam", "jam"), "minute": ("menit", "menit"),
           "second": ("detik", "detik"), "working_day": ("hari kerja", "hari kerja")},
    "en": {"day": ("day", "days"), "hour": ("hour", "hours"), "minute": ("minute", "minutes"),
           "second": ("second", "seconds"), "working_day": ("working day", "working days")},
}


def _lang(lang: str) -> str:
    return lang if lang in LOCALES else "id"


def _date_words(day: dt.date, lang: str) -> str:
    return f"{day.day} {MONTH_NAMES[lang][day.month - 1]} {day.year}"


def zone_name(moment: dt.datetime) -> str:
    """WIB, WITA or WIT for Indonesia's offsets; otherwise UTC with the offset."""
    offset = moment.utcoffset()
    if offset is None:
        return ""
    minutes = int(offset.total_seconds() // 60)
    if minutes % 60 == 0 and minutes // 60 in ZONES:
        return ZONES[minutes // 60]
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _moment(value: dt.datetime | str) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def datetime_text(value: dt.datetime | str | None, lang: str = "id") -> str:
    """"Sabtu, 28 November 2026, 06.24 WITA"; a value that is not a time is given back as it is."""
    if value is None or value == "":
        return "-"
    moment = _moment(value)
    if moment is None:
        return str(value)
    lang = _lang(lang)
    text = _DATETIME[lang].format(weekday=DAY_NAMES[lang][moment.weekday()], date=_date_words(moment, lang),
                                  hour=moment.hour, minute=moment.minute)
    zone = zone_name(moment)
    return f"{text} {zone}" if zone else text


def date_text(value: dt.date | str | None, lang: str = "id") -> str:
    """"2 Oktober 2026"."""
    if value is None or value == "":
        return "-"
    if isinstance(value, dt.datetime):
        day: dt.date = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
    return _date_words(day, _lang(lang))


def number_text(value: float, lang: str = "id", decimals: int = 2) -> str:
    """The language's separators, at most ``decimals`` decimals, none when whole: "2,5", "1.250"."""
    grouping, decimal = _SEPARATORS[_lang(lang)]
    text = f"{round(value, decimals):,.{max(decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "\0").replace(".", decimal).replace("\0", grouping)


def _unit(lang: str, unit: str, count: int | str) -> str:
    singular, plural = _UNITS.get(lang, _UNITS["id"])[unit]
    return f"{count} {singular if count == 1 else plural}"


def duration_text(minutes: float, lang: str = "id") -> str:
    """A span of wall-clock time in its two largest units: "1 hari 12 jam", "36 menit", "45 detik"."""
    seconds = max(0, round(minutes * 60))
    if seconds < 60:
        return _unit(lang, "second", seconds)
    total = round(seconds / 60)
    days, rest = divmod(total, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    first = next(i for i, (count, _) in enumerate(parts) if count)
    shown = [(count, unit) for count, unit in parts[first:first + 2] if count]
    return " ".join(_unit(lang, unit, count) for count, unit in shown)


def working_days_text(days: float, lang: str = "id") -> str:
    """"2,5 hari kerja"."""
    count = number_text(days, lang)
    return _unit(lang, "working_day", 1 if count == "1" else count)
