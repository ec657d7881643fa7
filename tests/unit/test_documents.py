"""The documents: every template in both languages, escaping of case text, PDFs, the register;
documents and register rows made again only when what they are made from changed."""

from __future__ import annotations

import copy
import datetime as dt
import html.parser
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from pypdf import PdfReader

from provisioner import documents
from provisioner.records import TRIAL_HISTORY, write_atomic
from tests import fleet
from tests.conftest import example

WITA = dt.timezone(dt.timedelta(hours=8))
HOSTILE_TITLE = "Sistem <script>alert('x')</script> & | *tebal*"


@pytest.fixture
def records(tmp_path: Path, write_case) -> Path:
    """A records folder as apply leaves it: one passed case, one case with an incident."""
    root = tmp_path / "records"
    for name, ip, passed in (("sikesda", "198.19.0.30", True), ("simpeg", "198.19.0.31", False)):
        data = copy.deepcopy(example(name))
        if name == "sikesda":
            data["application"]["title"] = HOSTILE_TITLE
            data["contact"]["name"] = "Budi <b>Santoso</b>"
        fleet.write_records(root, write_case(data, f"{name}.yml"), ip, passed)
    return root


@pytest.mark.parametrize("case_id", ["2026-014", "2026-020"])
def test_every_document_renders_in_both_languages(records: Path, case_id: str) -> None:
    written = documents.render_case(records, case_id)
    names = {(p.parent.name, p.name) for p in written}
    wanted = ["konfigurasi", "dokumentasi", "laporan"] + (["insiden"] if case_id == "2026-020" else [])
    assert names == {(lang, f"{doc}.{ext}") for lang in ("id", "en") for doc in wanted for ext in ("md", "html", "pdf")}


def test_by_default_pdfs_are_made_in_indonesian_and_english_ones_on_demand(records: Path) -> None:
    folder = records / "2026-014" / "dokumen"
    written = documents.render_cases(records, ["2026-014"])
    assert {p.relative_to(folder).as_posix() for p in written if p.suffix == ".pdf"} == {
        f"id/{doc}.pdf" for doc in ("konfigurasi", "dokumentasi", "laporan")}
    assert not list((folder / "en").glob("*.pdf")) and (folder / "en" / "laporan.html").exists()
    indonesian = _stamps(folder, "pdf")
    on_demand = documents.render_cases(records, ["2026-014"], pdf_langs=documents.LANGS)  # as `report` does
    assert {p.parent.name for p in on_demand if p.suffix == ".pdf"} == {"id", "en"}
    assert _written_again(folder, "pdf", indonesian) == {f"en/{doc}.pdf" for doc in ("konfigurasi", "dokumentasi",
                                                                                      "laporan")}


def test_an_english_pdf_made_on_demand_goes_when_its_document_changes(records: Path) -> None:
    folder = records / "2026-014" / "dokumen"
    documents.render_cases(records, ["2026-014"], pdf_langs=documents.LANGS)
    (records / "documents.yml").write_text("pelaksana: Siti Aminah\n")
    documents.render_cases(records, ["2026-014"])
    assert "Siti Aminah" in (folder / "en" / "laporan.html").read_text()
    assert not (folder / "en" / "laporan.pdf").exists()  # it would say the old name
    assert "Siti Aminah" in " ".join(p.extract_text() for p in PdfReader(folder / "id" / "laporan.pdf").pages)


def test_the_setting_makes_pdfs_in_both_languages_and_is_not_part_of_the_look(records: Path) -> None:
    folder = records / "2026-014" / "dokumen"
    documents.render_cases(records, ["2026-014"])
    indonesian = _stamps(folder, "pdf")
    (records / "documents.yml").write_text("pdf_languages: id, en\n")
    documents.render_cases(records, ["2026-014"])
    assert _written_again(folder, "pdf", indonesian) == {f"en/{doc}.pdf" for doc in ("konfigurasi", "dokumentasi",
                                                                                      "laporan")}


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
    assert "| Lama langkah 9 | 5 menit dari standar 90 menit |" in text
    assert "Rina Wulandari" in text and "Ahmad Fauzi" in text
    html = (records / "2026-014" / "dokumen" / "en" / "laporan.html").read_text()
    assert "DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN, Kota Tarakan" in html


def test_incident_log_lists_what_failed_and_what_was_undone(records: Path) -> None:
    documents.render_case(records, "2026-020")
    text = (records / "2026-020" / "dokumen" / "en" / "insiden.md").read_text()
    assert "- check 'trial[0] GET /': 500" in text
    assert "database: database, user, grant" in text


def test_register_lists_every_case_with_its_result_and_step(records: Path) -> None:
    page = documents.render_register(records)[0].read_text()
    assert page.count('<tr class="case') == 2
    assert "lulus (Jumat, 27 November 2026, 10.05 WITA)" in page
    assert '<tr class="case failed" data-case="2026-020">' in page


def test_sla_summary_counts_steps_over_the_standard(records: Path) -> None:
    cases = [documents.read_case(records, case_id) for case_id in documents.case_ids(records)]
    summary = {row["number"]: row for row in documents.sla_summary(cases)}
    assert summary[9]["count"] == 1 and summary[9]["median"] == "5 menit" and summary[9]["over"] == 0


# --- made again only when what they are made from changed -----------------------------------

def _stamps(folder: Path, ext: str) -> dict[str, tuple[int, int]]:
    """Inode and mtime of each file: a file written again (through a rename) has a new inode."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob(f"*.{ext}"))}


def _written_again(folder: Path, ext: str, before: dict[str, tuple[int, int]]) -> set[str]:
    return {name for name, stamp in _stamps(folder, ext).items() if before.get(name) != stamp}


def test_rendering_again_writes_nothing_and_names_the_same_documents(records: Path) -> None:
    first = documents.render_case(records, "2026-020")
    folder = records / "2026-020" / "dokumen"
    before = {ext: _stamps(folder, ext) for ext in ("md", "html", "pdf")}
    assert documents.render_case(records, "2026-020") == first
    assert {ext: _stamps(folder, ext) for ext in ("md", "html", "pdf")} == before


def test_a_changed_trial_renders_its_report_again_and_only_it(records: Path) -> None:
    documents.render_case(records, "2026-014", ("en",))
    folder = records / "2026-014" / "dokumen"
    before = _stamps(folder, "pdf")
    trial = records / "2026-014" / "uji-coba.json"
    trial.write_text(json.dumps({**json.loads(trial.read_text()), "tested_at": "2026-11-28T09:00:00+08:00"}))
    documents.render_case(records, "2026-014", ("en",))
    assert _written_again(folder, "pdf", before) == {"en/laporan.pdf"}


def test_a_changed_heading_renders_every_pdf_again_with_it(records: Path) -> None:
    """The heading is in the layout, not in the Markdown: the settings alone must make the PDFs again."""
    documents.render_case(records, "2026-014", ("en",))
    folder = records / "2026-014" / "dokumen"
    before = _stamps(folder, "pdf")
    (records / "documents.yml").write_text(yaml.safe_dump({"heading": "DINAS UJI COBA"}))
    documents.render_case(records, "2026-014", ("en",))
    assert _written_again(folder, "pdf", before) == set(before)
    assert "DINAS UJI COBA" in PdfReader(folder / "en" / "konfigurasi.pdf").pages[0].extract_text()


Rendered = tuple[Path, Path, dict[str, tuple[int, int]]]  # templates, a case's dokumen folder, its PDFs' stamps


@pytest.fixture
def own_templates(records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rendered:
    """A copy of the templates for the test to change, 2026-014's English documents rendered from
    it: (templates, the case's dokumen folder, its PDFs' stamps)."""
    templates = tmp_path / "templates"
    shutil.copytree(documents.TEMPLATES, templates)
    monkeypatch.setattr(documents, "TEMPLATES", templates)
    documents.render_case(records, "2026-014", ("en",))
    folder = records / "2026-014" / "dokumen"
    return templates, folder, _stamps(folder, "pdf")


def test_a_changed_layout_renders_every_pdf_again(records: Path, own_templates: Rendered) -> None:
    templates, folder, before = own_templates
    layout = templates / "layout.html.j2"
    layout.write_text(layout.read_text().replace("font-size: 10.5pt", "font-size: 11pt"))
    documents.render_case(records, "2026-014", ("en",))
    assert _written_again(folder, "pdf", before) == set(before)


def test_a_deleted_pdf_is_rendered_again_and_only_it(records: Path) -> None:
    documents.render_case(records, "2026-014", ("en",))
    folder = records / "2026-014" / "dokumen"
    before = _stamps(folder, "pdf")
    (folder / "en" / "konfigurasi.pdf").unlink()
    documents.render_case(records, "2026-014", ("en",))
    assert _written_again(folder, "pdf", before) == {"en/konfigurasi.pdf"}


def test_documents_made_before_digests_were_recorded_are_kept(records: Path) -> None:
    documents.render_case(records, "2026-014", ("en",))
    folder = records / "2026-014" / "dokumen"
    before = _stamps(folder, "pdf")
    (folder / "en" / documents.RENDERED_FILE).unlink()
    documents.render_case(records, "2026-014", ("en",))
    assert _written_again(folder, "pdf", before) == set()


def test_pdfs_written_by_worker_processes_are_the_same(records: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Fonts subset by fontTools (WeasyPrint without HarfBuzz's subsetter) carry the time of
    # writing in their head table, to the second: two renders a second apart differ there and
    # nowhere else. Pinned (the workers inherit it), every other byte is compared.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    other = tmp_path / "other"
    shutil.copytree(records, other)
    documents.render_case(records, "2026-014", ("en",))
    monkeypatch.setattr(documents, "PARALLEL_FROM", 1)
    documents.render_case(other, "2026-014", ("en",))
    for doc in ("konfigurasi", "dokumentasi", "laporan"):
        name = f"2026-014/dokumen/en/{doc}.pdf"
        assert (other / name).read_bytes() == (records / name).read_bytes(), doc


def test_a_pdf_is_rendered_by_a_worker_while_the_next_pages_are_still_being_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "PARALLEL_FROM", 1)
    page = "<html><body><p>Uji coba</p></body></html>"
    first = tmp_path / "first.pdf"
    with documents._pdf_writer(2) as pdf_of:
        pdf_of(page, first)
        deadline = time.monotonic() + 60
        while not first.exists() and time.monotonic() < deadline:  # the block has not ended
            time.sleep(0.05)
        assert first.read_bytes().startswith(b"%PDF")
        pdf_of(page, tmp_path / "second.pdf")
    assert (tmp_path / "second.pdf").read_bytes().startswith(b"%PDF")


def test_a_pdf_a_worker_could_not_write_fails_the_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "PARALLEL_FROM", 1)
    with pytest.raises(OSError), documents._pdf_writer(2) as pdf_of:
        pdf_of("<p>a</p>", tmp_path / "missing" / "a.pdf")
        pdf_of("<p>b</p>", tmp_path / "b.pdf")


def _pass_the_trial(records: Path, case_id: str) -> None:
    trial = records / case_id / "uji-coba.json"
    trial.write_text(json.dumps({**json.loads(trial.read_text()), "passed": True}))


def test_register_reads_again_only_the_cases_that_changed(records: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    documents.render_register(records)
    read: list[str] = []
    read_case = documents.read_case
    monkeypatch.setattr(documents, "read_case", lambda root, case_id: read.append(case_id) or read_case(root, case_id))
    _pass_the_trial(records, "2026-020")
    documents.render_register(records)
    assert read == ["2026-020"]


@pytest.mark.parametrize("change", ["same size, same time", "history line", "incident"])
def test_register_sees_every_kind_of_change_without_reading_the_files(records: Path, change: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The register knows a case's records by their states (size, time, inode): a rewrite of the
    same size with the old time put back is still a new file (write_atomic renames one in)."""
    documents.render_register(records)
    read: list[str] = []
    read_case = documents.read_case
    monkeypatch.setattr(documents, "read_case", lambda root, case_id: read.append(case_id) or read_case(root, case_id))
    folder = records / "2026-020"
    if change == "same size, same time":
        path = folder / "uji-coba.json"
        before = path.stat()
        text = path.read_text()
        write_atomic(path, text.replace('"passed": false', '"passed": true ') if '"passed": false' in text
                     else text.replace('"passed": true', '"passed": false'))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert path.stat().st_size == before.st_size and path.read_text() != text
    elif change == "history line":
        with (folder / TRIAL_HISTORY).open("a") as history:
            history.write('{"tested_at": "2026-12-01T08:00:00+08:00", "passed": true}\n')
    else:
        (folder / "insiden").mkdir(exist_ok=True)
        (folder / "insiden" / "2026-12-01T08-00-00.yml").write_text("kind: verify\n")
    documents.render_register(records)
    assert read == ["2026-020"]
    read.clear()
    documents.render_register(records)  # nothing changed since
    assert read == []


def test_register_shows_a_case_changed_since_it_was_last_written(records: Path) -> None:
    documents.render_register(records)
    _pass_the_trial(records, "2026-020")
    page = documents.render_register(records)[0].read_text()
    assert '<tr class="case" data-case="2026-020">' in page


@pytest.mark.parametrize(("undone", "says_undone"),
                         [([], False), (["2026-014: database: database, user, grant"], True)])
def test_the_impact_says_changes_were_undone_only_when_some_were(records: Path, undone: list[str],
                                                                 says_undone: bool) -> None:
    from provisioner.records import Records

    path = Records(records).write_incident("2026-014", "sikesda.tarakankota.go.id", "apply", "trial",
                                           ["check 'dns A on ns1': refused"], undone)
    incident = yaml.safe_load(path.read_text())
    assert ("perubahan yang dibuat proses ini dibatalkan" in incident["impact_id"]) is says_undone
    assert ("what this run changed was undone" in incident["impact_en"]) is says_undone


def test_what_failed_and_what_was_undone_are_lists(records: Path) -> None:
    documents.render_case(records, "2026-020")
    for lang in ("id", "en"):
        html = (records / "2026-020" / "dokumen" / lang / "insiden.html").read_text()
        assert html.count("<ul>") == 2 and "<li>check 'trial[0] GET /': 500</li>" in html


def test_the_sla_summary_speaks_in_days_hours_and_minutes() -> None:
    summary = {row["number"]: row for row in documents._sla([[(2, 2179.0, True), (7, 2.5, False)],
                                                             [(2, 36.0, True)]], "id")}
    assert (summary[2]["median"], summary[2]["worst"]) == ("18 jam 28 menit", "1 hari 12 jam")
    assert summary[7]["worst"] == "2,5 hari kerja"


def test_compiled_templates_are_kept_between_commands_and_keyed_by_how_filters_are_called(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled: list[str | None] = []
    compile_ = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name)
        return compile_(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)

    def render_once() -> str:  # as a new command does: a new environment
        documents._environment.cache_clear()
        return documents.environment("id").get_template("layout.html.j2").render(
            body="<p>isi</p>", title="Judul", lang="id", settings=documents.DEFAULT_SETTINGS, footer="", name="laporan",
            header=())

    try:
        first = render_once()
        assert compiled == ["layout.html.j2"]
        assert render_once() == first and compiled == ["layout.html.j2"]  # read back, not compiled
        with monkeypatch.context() as changed:  # a filter that now takes the context: other code
            changed.setattr(documents, "md_line", jinja2.pass_context(lambda context, value: value))
            render_once()
        assert compiled == ["layout.html.j2", "layout.html.j2"]
        monkeypatch.setenv("PROVISIONER_TEMPLATE_CACHE", "0")
        render_once()
        assert compiled == ["layout.html.j2"] * 3
    finally:
        documents._environment.cache_clear()


def test_a_changed_base_sheet_renders_every_pdf_again_and_draws_by_it(
        records: Path, own_templates: Rendered) -> None:
    """PDFs draw HTML's elements by templates/pdf-base.css, not WeasyPrint's own sheet: a change to it
    is a change of every PDF's look, and what it says is what the PDF shows."""
    templates, folder, before = own_templates
    assert "Servers" in PdfReader(folder / "en" / "konfigurasi.pdf").pages[0].extract_text()
    base = templates / documents.PDF_BASE
    base.write_text(base.read_text() + "\nh2 { display: none }\n")
    documents.render_case(records, "2026-014", ("en",))
    assert _written_again(folder, "pdf", before) == set(before)
    text = PdfReader(folder / "en" / "konfigurasi.pdf").pages[0].extract_text()
    assert "Servers" not in text and "Web (Apache)" in text


def test_the_base_sheet_names_every_element_the_documents_hold(records: Path) -> None:
    """An element pdf-base.css does not name would be drawn as bare inline text: every element of every
    document, in both languages, the incident documentation included, is named there."""
    elements: set[str] = set()

    class Elements(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: Any) -> None:
            elements.add(tag)

    for case_id in ("2026-014", "2026-020"):
        for page in documents.render_case(records, case_id):
            if page.suffix == ".html":
                Elements().feed(page.read_text())
    assert {"insiden"} <= {p.stem for p in (records / "2026-020" / "dokumen" / "id").glob("*.html")}
    assert {"table", "th", "td", "h1", "h2", "ul", "li", "code", "strong", "br"} <= elements
    sheet = (documents.TEMPLATES / documents.PDF_BASE).read_text()

    def named(tag: str, then: str = "") -> bool:  # in a rule's selectors (``then``: that rule's first property)
        return re.search(rf"(?<![\w-]){tag}(?![\w-])[^{{}}]*{{ {then}", sheet) is not None

    inline = {"strong", "code", "br", "span", "em", "a"}  # inline by default: bold, monospace, a line break
    assert {tag for tag in elements & inline if not named(tag)} == set()
    assert {tag for tag in elements - inline if not named(tag, "display")} == set()


def test_a_pdf_drawn_with_its_style_parsed_once_is_the_pdf_of_its_page_as_it_is(records: Path) -> None:
    """write_pdf gives WeasyPrint the page's <style> parsed (once per process and text) instead of
    inside the page: every document of both cases and languages, the incident's included, comes out
    byte for byte the PDF of the page as written."""
    documents._page_sheet.cache_clear()
    pages = [p for case_id in ("2026-014", "2026-020") for p in documents.render_case(records, case_id)
             if p.suffix == ".html"]
    assert len(pages) == 14 and all("<style>" in p.read_text() for p in pages)
    whole = documents._html_class((documents.TEMPLATES / documents.PDF_BASE).read_text())
    for page in pages:
        as_written = whole(string=page.read_text()).write_pdf(font_config=documents._font_config())
        assert documents.write_pdf(page.read_text(), page.with_suffix(".again.pdf")).read_bytes() == as_written, page
    assert documents._page_sheet.cache_info().currsize == 2  # one sheet per language
