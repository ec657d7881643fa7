"""provisioner case new|step|show|list and report, through the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from provisioner.case import load_case
from provisioner.cli import cli
from tests.conftest import EXAMPLES

NEW = ["--id", "2026-100", "--opd-code", "DISDIK", "--opd-name", "Dinas Pendidikan", "--letter-number",
       "421/1/DISDIK/2026", "--letter-date", "2026-11-20", "--name", "sipendik", "--title", "Sistem Pendidikan",
       "--category", "khusus", "--source", "vendor", "--vendor", "PT Contoh", "--runtime", "php",
       "--engine", "mariadb", "--contact-name", "Ani", "--contact-email", "ani@example.go.id"]


def _cli(tmp_path: Path, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--records", str(tmp_path / "records"), *args], input=stdin)


def test_case_new_writes_a_valid_pending_case(tmp_path: Path) -> None:
    out = tmp_path / "new.yml"
    result = _cli(tmp_path, "case", "new", "-o", str(out), *NEW)
    assert result.exit_code == 0, result.output
    case = load_case(out)
    assert (case.id, case.approval_status, case.fqdn) == ("2026-100", "pending", "sipendik.tarakankota.go.id")


def test_case_new_asks_for_what_the_flags_did_not_give(tmp_path: Path) -> None:
    out = tmp_path / "asked.yml"
    flags = NEW[:-2]  # no --contact-email: it is prompted for
    result = _cli(tmp_path, "case", "new", "-o", str(out), *flags, stdin="ani@example.go.id\n")
    assert result.exit_code == 0, result.output
    assert "E-mail narahubung" in result.output
    assert load_case(out).contact_email == "ani@example.go.id"


def test_case_new_refuses_an_invalid_answer_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bad.yml"
    flags = [*NEW]
    flags[flags.index("sipendik")] = "Si Pendik"
    result = _cli(tmp_path, "case", "new", "-o", str(out), *flags)
    assert result.exit_code == 2
    assert "application.name" in result.output
    assert not out.exists()


def test_case_step_records_in_order_and_show_lists_the_trail(tmp_path: Path) -> None:
    case = str(EXAMPLES / "2026-020-simpeg-proxy.yml")
    assert _cli(tmp_path, "case", "step", case, "1", "--done", "2026-10-09T08:00:00+08:00").exit_code == 0
    refused = _cli(tmp_path, "case", "step", case, "3", "--done", "2026-10-09T09:00:00+08:00")
    assert refused.exit_code == 2 and "depends on step 2" in refused.output
    assert _cli(tmp_path, "case", "step", "2026-020", "2", "--done", "2026-10-09T08:02:00+08:00",
                "--by", "Bagian Umum").exit_code == 0
    shown = _cli(tmp_path, "case", "show", "2026-020", "--lang", "id")
    assert shown.exit_code == 0
    assert "Bagian Umum" in shown.output and "langkah berikutnya: 3" in shown.output
    assert "next step: 3" in _cli(tmp_path, "case", "show", "2026-020", "--lang", "en").output
    listed = _cli(tmp_path, "case", "list")
    assert "2026-020" in listed.output


def test_case_step_refuses_a_time_in_the_future(tmp_path: Path) -> None:
    result = _cli(tmp_path, "case", "step", str(EXAMPLES / "2026-020-simpeg-proxy.yml"), "1",
                  "--done", "2099-01-01T08:00:00+08:00")
    assert result.exit_code == 2 and "in the future" in result.output


def test_report_of_an_unknown_case_is_invalid(tmp_path: Path) -> None:
    result = _cli(tmp_path, "report", "2026-404")
    assert result.exit_code == 2


def test_case_step_show_and_list_speak_json(tmp_path: Path) -> None:
    import json

    case = str(EXAMPLES / "2026-020-simpeg-proxy.yml")
    stepped = _cli(tmp_path, "case", "step", case, "1", "--done", "2026-10-09T08:00:00+08:00", "--by", "Rina",
                   "--json")
    assert stepped.exit_code == 0 and json.loads(stepped.output)["command"] == "case step"
    shown = json.loads(_cli(tmp_path, "case", "show", "2026-020", "--json").output)
    assert (shown["command"], shown["status"], shown["exit_code"]) == ("case show", "ok", 0)
    trail = shown["cases"][0]["trail"]
    assert (trail["current_step"], trail["next_step"]) == (1, 2)
    assert trail["steps"][0] == {"step": 1, "name": "Request letter from the OPD", "actor": "OPD", "applies": True,
                                 "done": "2026-10-09T08:00:00+08:00", "started": None, "by": "Rina", "note": "",
                                 "source": "engineer", "unit": "minutes", "standard": 2, "value": None,
                                 "over": None}
    listed = json.loads(_cli(tmp_path, "case", "list", "--json").output)
    assert [c["id"] for c in listed["cases"]] == ["2026-020"] and listed["cases"][0]["trail"]["next_step"] == 2


def test_case_show_json_of_an_unknown_case_is_invalid(tmp_path: Path) -> None:
    import json

    result = _cli(tmp_path, "case", "show", "2026-999", "--json")
    assert result.exit_code == 2 and json.loads(result.output)["status"] == "invalid"
