"""The documents: every template in both languages, escaping of case text, PDFs, the register."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from provisioner import documents, trail
from provisioner.case import load_case
from provisioner.inventory import load_inventory
from provisioner.records import Records
from provisioner.site import build
from provisioner.trial import Check
from tests.conftest import LOCAL_INVENTORY, example

WITA = dt.timezone(dt.timedelta(hours=8))
HOSTILE_TITLE = "Sistem <script>alert('x')</script> & | *tebal*"


@pytest.fixture
def records(tmp_path: Path, write_case) -> Path:
    """A records folder as apply leaves it: one passed case, one case with an incident."""
    root = tmp_path / "records"
    inventory = load_inventory(LOCAL_INVENTORY)
    store = Records(root)
    for name, ip, passed in (("sikesda", "198.19.0.30", True), ("simpeg", "198.19.0.31", False)):
        data = copy.deepcopy(example(name))
        if name == "sikesda":
            data["application"]["title"] = HOSTILE_TITLE
            data["contact"]["name"] = "Budi <b>Santoso</b>"
        case = load_case(write_case(data, f"{name}.yml"))
        site = build(case, ip, inventory, password_file=Path("/nonexistent"))
        store.write_case(site)
        store.write_configuration(site, inventory, {"apache": "Apache/2.4.71"}, "2026-11-27T10:00:00+08:00")
        checks = [Check("dns A on ns1", True, f"-> {ip}", 0.001), Check("trial[0] GET /", passed, "200", 0.02)]
        store.write_trial(site, inventory, checks, "2026-11-27T10:05:00+08:00")
        if passed:
            trail.record_install(root, case, dt.datetime(2026, 11, 27, 10, 0, tzinfo=WITA),
                                 dt.datetime(2026, 11, 27, 10, 5, tzinfo=WITA), "penguji")
        else:
            store.write_incident(case.id, case.fqdn, "apply", "trial", ["check 'trial[0] GET /': 500"],
                                 [f"{case.id}: database: database, user, grant"])
    return root


@pytest.mark.parametrize("case_id", ["2026-014", "2026-020"])
def test_every_document_renders_in_both_languages(records: Path, case_id: str) -> None:
    written = documents.render_case(records, case_id)
    names = {(p.parent.name, p.name) for p in written}
    wanted = ["konfigurasi", "dokumentasi", "laporan"] + (["insiden"] if case_id == "2026-020" else [])
    assert names == {(lang, f"{doc}.{ext}") for lang in ("id", "en") for doc in wanted for ext in ("md", "html", "pdf")}


def test_pdf_text_carries_the_case_id_and_the_address(records: Path) -> None:
    documents.render_case(records, "2026-014")
    for lang in ("id", "en"):
        for doc in ("konfigurasi", "laporan"):
            text = " ".join(page.extract_text() for page in PdfReader(records / "2026-014" / "dokumen" / lang /
                                                                         f"{doc}.pdf").pages)
            assert "2026-014" in text and "198.19.0.30" in text, (lang, doc)


def test_text_from_the_case_is_escaped_in_html(records: Path) -> None:
    documents.render_case(records, "2026-014")
    page = (records / "2026-014" / "dokumen" / "id" / "dokumentasi.html").read_text()
    assert "<script>" not in page and "<b>Santoso" not in page
    assert "&lt;script&gt;alert" in page and "Budi &lt;b&gt;Santoso" in page
    register = documents.render_register(records)[0].read_text()
    assert "<script>alert" not in register and "&lt;script&gt;alert" in register


def test_report_shows_step_nine_against_its_standard_and_signatures(records: Path) -> None:
    (records / "documents.yml").write_text(yaml.safe_dump({"pelaksana": "Rina Wulandari",
                                                           "kepala_bidang": "Ahmad Fauzi"}))
    documents.render_case(records, "2026-014")
    text = (records / "2026-014" / "dokumen" / "id" / "laporan.md").read_text()
    assert "| Lama langkah 9 | 5.0 menit dari standar 90 menit |" in text
    assert "Rina Wulandari" in text and "Ahmad Fauzi" in text
    html = (records / "2026-014" / "dokumen" / "en" / "laporan.html").read_text()
    assert "DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN, Kota Tarakan" in html


def test_incident_log_lists_what_failed_and_what_was_undone(records: Path) -> None:
    documents.render_case(records, "2026-020")
    text = (records / "2026-020" / "dokumen" / "en" / "insiden.md").read_text()
    assert "check 'trial\\[0\\] GET /': 500" in text
    assert "database: database, user, grant" in text


def test_register_lists_every_case_with_its_result_and_step(records: Path) -> None:
    page = documents.render_register(records)[0].read_text()
    assert page.count('<tr class="case') == 2
    assert "lulus (2026-11-27T10:05:00+08:00)" in page
    assert '<tr class="case failed" data-case="2026-020">' in page


def test_sla_summary_counts_steps_over_the_standard(records: Path) -> None:
    cases = [documents.read_case(records, case_id) for case_id in documents.case_ids(records)]
    summary = {row["number"]: row for row in documents.sla_summary(cases)}
    assert summary[9]["count"] == 1 and summary[9]["median"] == "5.0 menit" and summary[9]["over"] == 0
