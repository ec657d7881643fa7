"""The trial history verify appends to, and when a failing trial is a new incident."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from provisioner import records as rec
from provisioner import site
from provisioner.case import load_case
from provisioner.inventory import load_inventory
from provisioner.trial import Check
from tests.conftest import EXAMPLES, LOCAL_INVENTORY

INV = load_inventory(LOCAL_INVENTORY)
SITE = site.build(load_case(next(EXAMPLES.glob("*ppid*.yml"))), site.Placement("198.19.0.10", "localhost"), INV,
                 password_file=None)
PASSED = [Check("dns A on localhost", True, "ok", 0.001), Check("virtual host enabled", True, "ok", 0.0)]
FAILED = [Check("dns A on localhost", True, "ok", 0.001), Check("virtual host enabled", False, "missing", 0.0)]


def _at(hour: int) -> str:
    return f"2026-11-28T{hour:02d}:00:00+08:00"


@pytest.fixture
def records(tmp_path: Path) -> rec.Records:
    return rec.Records(tmp_path)


def _last(records: rec.Records) -> dict[str, Any]:
    last = records.last_trial(SITE.id)
    assert last is not None
    return last


def _verify(records: rec.Records, checks: list[Check], hour: int) -> bool:
    """What verify records for one case: was it a new incident?"""
    previous = records.last_trial(SITE.id)
    records.write_trial_history(SITE, INV, checks, "verify", _at(hour))
    return rec.newly_failed(previous, all(c.ok for c in checks))


def test_each_trial_is_one_line_appended(records: rec.Records) -> None:
    first = records.write_trial_history(SITE, INV, PASSED, "verify", _at(9))
    second = records.write_trial_history(SITE, INV, FAILED, "verify", _at(10))
    assert first == second == records.root / SITE.id / "uji-coba-riwayat.jsonl"
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    assert [(line["tested_at"], line["command"], line["passed"]) for line in lines] == [
        (_at(9), "verify", True), (_at(10), "verify", False)]
    assert lines[1]["checks"][1] == {"id": "vhost.enabled", "name": "virtual host enabled", "ok": False,
                                     "detail": "missing", "duration_s": 0.0,
                                     "texts": {"en": {"name": "virtual host enabled", "detail": "missing"},
                                               "id": {"name": "virtual host aktif", "detail": "missing"}}}
    assert not (records.root / SITE.id / "uji-coba.json").exists()


def test_a_first_failure_is_new(records: rec.Records) -> None:
    assert _verify(records, FAILED, 9)


def test_failing_after_passing_is_new_failing_again_is_not(records: rec.Records) -> None:
    assert not _verify(records, PASSED, 9)
    assert _verify(records, FAILED, 10)
    assert not _verify(records, FAILED, 11)
    assert not _verify(records, PASSED, 12)
    assert _verify(records, FAILED, 13)


def test_without_history_the_installations_trial_report_counts(records: rec.Records) -> None:
    records.write_trial(SITE, INV, PASSED, _at(8))
    assert _verify(records, FAILED, 9)


def test_an_apply_that_passed_after_a_failing_verify_makes_the_next_failure_new(records: rec.Records) -> None:
    assert _verify(records, FAILED, 9)
    records.write_trial(SITE, INV, PASSED, _at(10))  # apply restored it
    assert _last(records)["passed"] is True
    assert _verify(records, FAILED, 11)


def test_a_history_newer_than_the_report_wins(records: rec.Records) -> None:
    records.write_trial(SITE, INV, PASSED, _at(8))
    records.write_trial_history(SITE, INV, FAILED, "verify", _at(9))
    assert _last(records)["passed"] is False


def test_a_line_torn_by_a_crash_is_passed_over_and_not_continued(records: rec.Records) -> None:
    path = records.write_trial_history(SITE, INV, PASSED, "verify", _at(9))
    with path.open("a") as handle:
        handle.write('{"tested_at": "2026-11-28T10:00:00+08:00", "passed": fal')
    assert _last(records)["tested_at"] == _at(9)
    records.write_trial_history(SITE, INV, FAILED, "verify", _at(11))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["tested_at"] == _at(11)
    assert _last(records)["passed"] is False


def test_the_last_line_of_a_long_history_is_read_from_its_end(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for index in range(300):
        rec.append_line(path, json.dumps({"n": index, "padding": "x" * index}))
    assert rec.last_json_line(path, block=64) == {"n": 299, "padding": "x" * 299}
    assert rec.last_json_line(tmp_path / "none.jsonl") is None


def _append_many(path: str, writer: int) -> None:
    for index in range(100):
        rec.append_line(Path(path), json.dumps({"writer": writer, "n": index, "padding": "y" * 20_000}))


def test_lines_of_writers_at_the_same_time_never_mix(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    workers = [multiprocessing.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((line["writer"], line["n"]) for line in lines) == [(w, n) for w in range(4) for n in range(100)]
