"""The register and the documents, as people open them: in a browser, from files, with no server."""

from __future__ import annotations

from pathlib import Path

import yaml
from selenium.webdriver.common.by import By

from tests.browser import chromium


def _cases(records: Path) -> list[str]:
    return sorted(p.parent.name for p in records.glob("*/case.yml"))


def test_apply_wrote_every_document_in_both_languages(records: Path, examples_applied: Path) -> None:
    """Every document as Markdown and HTML in both languages; PDFs in Indonesian (the records that
    are signed and filed: setting pdf_languages), the English PDFs on demand by `report`."""
    for case_id in ("2026-011", "2026-014", "2026-020"):
        folder = records / case_id / "dokumen"
        for lang in ("id", "en"):
            for doc in ("konfigurasi", "dokumentasi", "laporan"):
                for ext in ("md", "html", "pdf") if lang == "id" else ("md", "html"):
                    assert (folder / lang / f"{doc}.{ext}").stat().st_size > 0, (case_id, lang, doc, ext)
                assert lang == "id" or not (folder / lang / f"{doc}.pdf").exists()


def test_apply_recorded_steps_nine_to_eleven(records: Path, examples_applied: Path) -> None:
    steps = yaml.safe_load((records / "2026-014" / "trail.yml").read_text())["steps"]
    recorded = {s["step"]: s for s in steps}
    assert {9, 10, 11} <= set(recorded)
    assert recorded[9]["source"] == "provisioner" and recorded[9]["started"] <= recorded[9]["done"]


def test_a_failed_case_has_its_incident_document(records: Path, failed_case: str) -> None:
    text = (records / failed_case / "dokumen" / "id" / "insiden.md").read_text()
    assert "isi halaman tidak memuat" in text and "body lacks" not in text  # the check's Indonesian detail
    assert "body lacks" in (records / failed_case / "dokumen" / "en" / "insiden.md").read_text()


def test_register_lists_every_case_and_its_search_filters_them(records: Path, examples_applied: Path) -> None:
    cases = _cases(records)
    with chromium() as browser:
        browser.get((records / "index.html").as_uri())
        rows = browser.find_elements(By.CSS_SELECTOR, "#register tbody tr")
        assert sorted(r.get_attribute("data-case") for r in rows) == cases
        browser.find_element(By.ID, "search").send_keys("sikesda")
        visible = [r.get_attribute("data-case") for r in rows if r.is_displayed()]
        assert visible == ["2026-014"]
        assert browser.find_element(By.ID, "count").text == f"1 / {len(cases)}"


def test_register_sorts_by_a_column(records: Path, examples_applied: Path) -> None:
    with chromium() as browser:
        browser.get((records / "index.html").as_uri())
        header = browser.find_elements(By.CSS_SELECTOR, "#register thead th")[0]
        header.click()
        header.click()  # descending
        first = browser.find_elements(By.CSS_SELECTOR, "#register tbody tr")[0].get_attribute("data-case")
        assert first == sorted(_cases(records))[-1]
