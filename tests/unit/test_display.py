"""The report for people: a trial's checks as a table per case, and a fleet's in brief."""

from __future__ import annotations

from rich.console import Console

from provisioner.display import TABLES_UP_TO, print_report
from provisioner.report import CaseReport, Report
from provisioner.trial import Check


def _case(number: int, *, failed: bool = False, warned: bool = False) -> CaseReport:
    item = CaseReport(f"2026-{number:03d}", f"app{number}.tarakankota.go.id", f"198.19.0.{number}")
    item.checks = [Check("HTTP answers", True, "200 in 0.01 s", 0.01),
                   Check("DNS A record", not failed, "198.19.0.9, not the case's" if failed else "ok", 0.01),
                   Check("certificate", True, "expires in 9 days" if warned else "90 days", 0.0, warning=warned)]
    return item


def _printed(cases: list[CaseReport]) -> str:
    report = Report("verify", message="done")
    report.cases = cases
    console = Console(record=True, width=160)
    print_report(report, console)
    return console.export_text()


def test_a_fleet_shows_a_passing_case_in_one_line_and_a_table_for_what_failed_or_warned() -> None:
    cases = [_case(n) for n in range(1, TABLES_UP_TO + 1)] + [_case(90, failed=True), _case(91, warned=True)]
    text = _printed(cases)
    assert "2026-001  app1.tarakankota.go.id  198.19.0.1  ok 3 checks passed\n" in text
    assert text.count("checks passed") == TABLES_UP_TO
    assert "HTTP answers" in text and text.count("HTTP answers") == 2  # the two tables only
    assert "198.19.0.9, not the case's" in text and "FAILED" in text
    assert "expires in 9 days" in text and "warning" in text


def test_a_few_cases_show_every_check() -> None:
    text = _printed([_case(n) for n in range(1, TABLES_UP_TO + 1)])
    assert "checks passed" not in text
    assert text.count("HTTP answers") == TABLES_UP_TO
