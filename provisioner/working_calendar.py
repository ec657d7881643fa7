"""Which days are working days: Monday to Friday, less Indonesia's holidays and the division's own.

Standards in days (SOP steps 7 and 8) count working days. A day is not one when it is a Saturday
or a Sunday, a national holiday or a *cuti bersama* day as the ``holidays`` package knows them
(country ID, its public and government categories), or a day in the list the division keeps:
``records/hari-libur.yml``, for the cuti bersama of years the package does not know yet, a
change announced late, and local holidays::

    # Hari libur dan cuti bersama yang dicatat Bidang Aplikasi (di luar libur nasional)
    holidays:
      - {date: 2026-12-31, name: Cuti bersama akhir tahun}
      - {date: 2026-06-15, name: Hari libur daerah}

Days are days of the WITA calendar (UTC+8), where Kota Tarakan is.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from provisioner import user_cache
from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _

WITA = dt.timezone(dt.timedelta(hours=8), "WITA")
HOLIDAYS_FILE = "hari-libur.yml"
CATEGORIES = ("public", "government")  # national holidays, and cuti bersama
CACHE_FORMAT = 1


@functools.cache
def _national(year: int) -> Mapping[dt.date, str]:
    """The package's holidays of the year, kept in the user's cache: importing the package takes
    0.15 to 0.2 s (it loads every country), a command's whole budget. An entry is named by the
    year, the categories and the package's files that say them."""
    entry = _cache_entry(year)
    if entry and (text := user_cache.read("holidays", entry)) is not None:
        try:
            return {dt.date.fromisoformat(day): str(name) for day, name in json.loads(text).items()}
        except (ValueError, AttributeError, TypeError):
            pass  # damaged: asked again below
    import holidays

    days = dict(holidays.country_holidays("ID", years=year, categories=CATEGORIES, language="id"))
    if entry:
        user_cache.write("holidays", entry, json.dumps({day.isoformat(): name for day, name in days.items()}))
    return days


def _cache_entry(year: int) -> str | None:
    spec = importlib.util.find_spec("holidays")
    if spec is None or not spec.origin:
        return None
    package = Path(spec.origin).parent
    files = (package / "__init__.py", package / "version.py", package / "countries" / "indonesia.py")
    try:
        found = [path.stat() for path in files]
    except OSError:
        return None
    stats = [(path.name, info.st_size, info.st_mtime_ns) for path, info in zip(files, found, strict=True)]
    key = hashlib.sha256(repr((CACHE_FORMAT, year, CATEGORIES, "id", str(package), stats)).encode()).hexdigest()
    return f"ID-{year}-{key[:24]}.json"


@dataclass(frozen=True)
class Calendar:
    """Working days: weekdays that are neither a national holiday nor one of ``extra``."""

    extra: Mapping[dt.date, str] = field(default_factory=dict)
    national: bool = True

    def holiday(self, day: dt.date) -> str | None:
        """The holiday's name, or None on a day that is no holiday (weekends aside)."""
        if day in self.extra:
            return self.extra[day]
        return _national(day.year).get(day) if self.national else None

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None

    def working_days(self, start: dt.datetime, end: dt.datetime) -> float:
        """Days elapsed between two moments, counting only the time that falls on working days."""
        start, end = start.astimezone(WITA), end.astimezone(WITA)
        if end <= start:
            return 0.0
        seconds = 0.0
        cursor = start
        while cursor < end:
            midnight = (cursor + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            upto = min(midnight, end)
            if self.is_working_day(cursor.date()):
                seconds += (upto - cursor).total_seconds()
            cursor = upto
        return seconds / 86400


def load(records: Path) -> Calendar:
    """The national calendar plus the division's list in ``records/hari-libur.yml``, if there is one."""
    path = records / HOLIDAYS_FILE
    if not path.is_file():
        return Calendar()
    return _read(path, path.stat().st_mtime_ns)


@functools.cache
def _read(path: Path, _mtime: int) -> Calendar:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(_("{path} is not readable YAML").format(path=path),
                           [FieldError(str(path), str(exc))]) from None
    items = data.get("holidays", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InvalidInput(_("{path} has no list of holidays").format(path=path),
                           [FieldError("holidays", _("a list of {example}").format(
                               example="{date: YYYY-MM-DD, name: ...}"))])
    extra: dict[dt.date, str] = {}
    errors = []
    for index, item in enumerate(items):
        entry = item if isinstance(item, dict) else {"date": item}
        day = entry.get("date")
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day)
            except ValueError:
                day = None
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            errors.append(FieldError(f"holidays[{index}].date", _("a date, YYYY-MM-DD")))
            continue
        extra[day] = str(entry.get("name") or "libur")
    if errors:
        raise InvalidInput(_("{path}: some holidays are not dates").format(path=path), errors)
    return Calendar(extra)
