"""The plan reads like Terraform's: per case, what would be added or changed, from the roles' report."""

from __future__ import annotations

import json

from rich.console import Console

from provisioner.ansible import PlaybookResult, SiteChanges
from provisioner.commands.plan import planned_changes
from provisioner.display import print_json, print_report
from provisioner.report import CaseReport, PlannedChange, Report


def _result() -> PlaybookResult:
    result = PlaybookResult("provision.yml", 0, "successful")
    result.site_changes = {"2026-014": {
        "database": SiteChanges(changed=("database", "user"), created=("database",)),
        "apache_vhost": SiteChanges(changed=("vhost",)),
    }}
    return result


def test_everything_of_a_new_case_is_added() -> None:
    changes = planned_changes(_result(), "2026-014", installed=False)
    assert {c.action for c in changes} == {"add"}
    assert [(c.role, c.thing) for c in changes] == [("apache_vhost", "vhost"), ("database", "database"),
                                                     ("database", "user")]


def test_an_installed_case_adds_only_what_does_not_exist_yet() -> None:
    changes = planned_changes(_result(), "2026-014", installed=True)
    assert [(c.action, c.thing) for c in changes] == [("change", "vhost"), ("add", "database"), ("change", "user")]


def test_a_case_nothing_is_reported_for_has_no_changes() -> None:
    assert planned_changes(_result(), "2026-011", installed=True) == []


def _report() -> Report:
    report = Report("plan", message="apply would add 1 and change 1 item(s)")
    report.cases = [CaseReport("2026-014", "sikesda.tarakankota.go.id", "198.19.0.11", 2,
                               plan=[PlannedChange("add", "database", "database"),
                                     PlannedChange("change", "apache_vhost", "vhost")]),
                    CaseReport("2026-011", "ppid.tarakankota.go.id", "198.19.0.10", 0, plan=[])]
    return report


def test_the_plan_is_printed_as_a_list_per_case() -> None:
    console = Console(record=True, width=120)
    print_report(_report(), console)
    text = console.export_text()
    assert "  + database: database\n  ~ apache_vhost: vhost\n" in text
    assert "2026-011  ppid.tarakankota.go.id  198.19.0.10\n  no changes\n" in text
    assert "ansible" not in text.lower()


def test_the_json_plan_carries_the_same_list(capsys) -> None:
    print_json(_report())
    out = json.loads(capsys.readouterr().out)
    assert out["cases"][0]["plan"] == [{"action": "add", "role": "database", "thing": "database"},
                                       {"action": "change", "role": "apache_vhost", "thing": "vhost"}]
    assert out["cases"][1]["plan"] == []
    assert "diffs" not in out
