"""The documents people print, sign and file, rendered from a case's records.

Each document is a Jinja2 Markdown template per language (``templates/id``, ``templates/en``);
Markdown is written for diffs in git, then the same text becomes self-contained HTML with the
agency's heading (``templates/layout.html.j2``) and PDF (WeasyPrint). Text that comes from a
case is escaped for Markdown and HTML alike by the ``md`` filter, so it can never become markup;
it escapes only what would otherwise be read as markup there, so that the Markdown reads as
plain text ("e_kinerja", "->", "trial[0]" stay as they are). Dates, durations and numbers are
written as people write them (provisioner/dates.py); the words a check says come from the
catalogue of check texts in the document's language (provisioner/check_texts.py).

Inputs, all in ``records/<case-id>/``: ``case.yml``, ``konfigurasi.yml``, ``uji-coba.json``,
``insiden/*.yml``, ``trail.yml``. Outputs: ``dokumen/<lang>/<document>.{md,html,pdf}``, and the
register ``records/index.html`` (``index.en.html`` in English).

Documents cost what they are worth. The Markdown is rendered each time (it is cheap) and compared
with the file on disk; the HTML and PDF (~0.14 s of CPU a PDF) are made again only when
the Markdown, the settings, the layout (its CSS and ``templates/pdf-base.css`` included) or the
renderers changed, or a file is
missing or older than its Markdown: ``dokumen/<lang>/.rendered.json`` records, per document, the
sha256 of what its HTML and PDF were made from. The register keeps each case's rows in
``dokumen/.register.json``, with the sha256 of the records (and code) they were read from, so a
register over hundreds of cases reads again only the cases that changed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import statistics
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from provisioner import check_texts, dates, sop, trail, user_cache, working_calendar, yamlfile
from provisioner.case import Case, load_case
from provisioner.records import TRIAL_HISTORY, Records, write_atomic

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGS = ("id", "en")
DOCUMENTS = {
    "konfigurasi": {"id": "Data Konfigurasi Aplikasi", "en": "Application Configuration Data"},
    "dokumentasi": {"id": "Dokumentasi Aplikasi", "en": "Application Documentation"},
    "laporan": {"id": "Laporan Instalasi dan Uji Coba", "en": "Installation and Trial Report"},
    "insiden": {"id": "Dokumentasi Kejadian", "en": "Incident Documentation"},
}
# The document's code in its number (nomor), as "LIU/2026-014/2026".
DOCUMENT_CODES = {"konfigurasi": "DKA", "dokumentasi": "DOK", "laporan": "LIU", "insiden": "DKJ"}
# The words of a case's fields and records, as each language says them; a value not here is data.
TERMS: dict[str, dict[str, tuple[str, str]]] = {  # kind -> value -> (Indonesian, English)
    "approval": {"approved": ("disetujui", "approved"), "pending": ("menunggu keputusan", "pending"),
                 "rejected": ("ditolak", "rejected")},
    "tls": {"none": ("tanpa TLS (hanya http)", "none (http only)"),
            "self-signed": ("sertifikat swatanda (self-signed)", "self-signed certificate"),
            "provided": ("sertifikat yang disediakan", "provided certificate"),
            "acme": ("sertifikat ACME, diperbarui otomatis", "ACME certificate, renewed automatically")},
    "runtime": {"static": ("situs statis", "static site"), "php": ("PHP (php-fpm)", "PHP (php-fpm)"),
                "proxy": ("diteruskan (reverse proxy)", "reverse proxy")},
    "source": {"vendor": ("vendor", "vendor"), "inhouse": ("dikembangkan sendiri", "built in-house")},
    "category": {"umum": ("umum", "general"), "khusus": ("khusus", "special-purpose")},
    "stage": {"preflight": ("pemeriksaan awal", "preflight"), "provisioning": ("pemasangan", "provisioning"),
              "trial": ("uji coba", "trial"), "verify": ("verifikasi", "verify"), "stopped": ("dihentikan", "stopped"),
              "removal": ("penghapusan", "removal"), "renewal": ("pembaruan sertifikat", "certificate renewal"),
              "restore": ("pemulihan dari cadangan", "restore from a backup"),
              "unexpected": ("kesalahan tak terduga", "unexpected error")},
    "version": {"unknown": ("tidak diketahui", "unknown")},
}
DEFAULT_SETTINGS = {
    "government": "PEMERINTAH KOTA TARAKAN",
    "heading": "DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN, Kota Tarakan",
    "division": "Bidang Aplikasi Informatika",
    "pelaksana": "(nama pelaksana)",
    "kepala_bidang": "(nama Kepala Bidang Aplikasi Informatika)",
    # A document's number (nomor): {document} its code (DOCUMENT_CODES), {case} the case id, {year}.
    "document_number": "{document}/{case}/{year}",
    # Languages whose PDFs apply, verify and destroy make (comma-separated). The Indonesian ones are
    # the records that are signed and filed; the others are written as Markdown and HTML, and
    # `provisioner report` makes their PDFs on demand. A PDF costs about 0.15 s of CPU: for a
    # 500-case batch each language is nearly two minutes of rendering on two cores.
    "pdf_languages": "id",
}
# Settings that say what is rendered, not how a document looks: outside a document's digest.
RENDERING_SETTINGS = ("pdf_languages",)
SETTINGS_FILE = "documents.yml"
PDF_BASE = "pdf-base.css"  # how the PDF renderer draws our HTML's elements, before the layout's own style
RENDERED_FILE = ".rendered.json"  # in dokumen/<lang>/: {document: sha256 of what its HTML and PDF were made from}
REGISTER_FILE = ".register.json"  # in dokumen/: the case's register rows, and the sha256 of their sources
CASE_RECORDS = ("case.yml", "konfigurasi.yml", "uji-coba.json", trail.TRAIL_FILE)  # and insiden/*.yml
PDF_OPTIONS: dict[str, Any] = {}  # WeasyPrint's defaults: fonts subset, compressed (~15 KiB a PDF)
# PDFs to write; below this, one process is as fast: a worker costs ~0.1 s of CPU to start (fork, fonts),
# and one case, both languages, is 6 to 8 PDFs.
PARALLEL_FROM = 16
MAX_WORKERS = 4  # each holds ~100 MB
EXTENSIONS = ("md", "html", "pdf")

# What Markdown (with HTML inside it) would read as markup in running text or a table cell, and only
# that: a backslash before punctuation, code and emphasis marks (an underscore only at a word's
# edge: within a word it is plain text), a link's "](" or "][", a tag or an entity, a pipe.
_MD_MARKUP = re.compile(r"\\(?=[^\w\s])|[`*]|(?<![^\W_])_|_(?![^\W_])|\](?=[(\[:])|<(?=[A-Za-z/!?])"
                        r"|&(?=#?\w+;)")
_MD_LINE_START = re.compile(r"^(\s*)(?:([#>]|[-+](?=\s)|-(?=--))|(\d+)(?=\.\s))")  # heading, quote, list, rule
_MD_REPLACEMENT = {"<": "&lt;", "&": "&amp;"}


def md_text(value: Any, in_table: bool = True) -> str:
    """Escape text for a Markdown table cell (or, ``in_table`` false, a list item or a line) that
    also becomes HTML: no markup survives, and text that is no markup is left as it is."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = _MD_MARKUP.sub(lambda m: _MD_REPLACEMENT.get(m.group(0), "\\" + m.group(0)), text)
    if in_table:
        text = text.replace("|", "\\|")
    return _MD_LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\"),
                              text)


def md_line(value: Any) -> str:
    """``md_text`` for a list item or a line of its own, where a pipe is plain text."""
    return md_text(value, in_table=False)


def md_code(value: Any) -> str:
    """Text for inside a code span, where Markdown escapes do not work: one line, no backtick."""
    return str(value).replace("\r", " ").replace("\n", " ").replace("`", "'")


def settings(records: Path) -> dict[str, str]:
    """The agency's heading and the names in signature blocks: ``records/documents.yml``."""
    path = records / SETTINGS_FILE
    data = yamlfile.load(path.read_text()) if path.exists() else {}
    return {**DEFAULT_SETTINGS, **{k: str(v) for k, v in (data or {}).items() if k in DEFAULT_SETTINGS}}


def environment(lang: str) -> jinja2.Environment:
    return _environment(TEMPLATES, lang)


@functools.cache
def _environment(templates: Path, lang: str) -> jinja2.Environment:
    """One per language and process: Jinja compiles each template once, not once per case."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(templates / lang), str(templates)]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=jinja2.select_autoescape(["html.j2"]))
    env.filters["md"] = md_text
    env.filters["md_line"] = md_line
    env.filters["code"] = md_code
    env.filters["term"] = functools.partial(term, lang=lang)
    env.filters["when"] = functools.partial(dates.datetime_text, lang=lang)
    env.filters["day"] = functools.partial(dates.date_text, lang=lang)
    env.filters["number"] = functools.partial(dates.number_text, lang=lang)
    env.filters["said"] = functools.partial(check_text, lang=lang)
    env.bytecode_cache = _bytecode_cache(env)
    return env


def _bytecode_cache(env: jinja2.Environment) -> jinja2.BytecodeCache | None:
    """The compiled templates, kept between commands (0.3 s of each command that renders).

    Jinja keys an entry by the template's name and checks its source; what else the generated code
    depends on (the syntax settings, how each filter is called, Jinja's release) names the files.
    """
    if os.environ.get("PROVISIONER_TEMPLATE_CACHE", "1") == "0":
        return None  # turned off: not even the folder is made
    folder = user_cache.owned_folder("jinja-documents")
    if folder is None:
        return None
    settings = (jinja2.__version__, env.trim_blocks, env.lstrip_blocks, env.keep_trailing_newline, env.newline_sequence,
                env.block_start_string, env.variable_start_string, env.comment_start_string, env.autoescape is False,
                sorted((name, repr(getattr(f, "jinja_pass_arg", None))) for name, f in env.filters.items()))
    key = hashlib.sha256(repr(settings).encode()).hexdigest()[:16]
    return jinja2.FileSystemBytecodeCache(str(folder), pattern=f"{key}-%s.cache")


def term(value: Any, kind: str, lang: str = "id") -> str:
    """A field's value as the language says it (``approved``: "disetujui"); other values as they are."""
    said = TERMS.get(kind, {}).get("" if value is None else str(value))
    if said is None:
        return "-" if value is None else str(value)
    return said[0] if lang == "id" else said[1]


def check_text(check: dict[str, Any], field: str, lang: str = "id") -> str:
    """A recorded check's name or detail in the language; for records written before the checks
    spoke both languages, as far as the catalogue recognizes their English."""
    texts = (check.get("texts") or {}).get(lang)
    if texts:
        return str(texts.get(field, check.get(field, "")))
    _, title, found = check_texts.recognize(str(check.get("name", "")), str(check.get("detail", "")))
    return (title if field == "name" else found)(lang)


@dataclass
class CaseData:
    case: Case
    config: dict[str, Any] | None
    trial: dict[str, Any] | None
    incidents: list[dict[str, Any]]
    rows: list[trail.Row]

    @property
    def url(self) -> str:
        scheme = "https" if self.case.tls != "none" else "http"
        return f"{scheme}://{self.case.fqdn}/"


def _load_yaml(path: Path) -> Any:
    return yamlfile.load(path.read_text(encoding="utf-8"))


def read_case(records: Path, case_id: str) -> CaseData:
    folder = records / case_id
    case = load_case(folder / "case.yml")
    config_path, trial_path = folder / "konfigurasi.yml", folder / "uji-coba.json"
    incidents = [_load_yaml(p) for p in sorted((folder / "insiden").glob("*.yml"))]
    return CaseData(
        case=case,
        config=_load_yaml(config_path) if config_path.exists() else None,
        trial=json.loads(trial_path.read_text()) if trial_path.exists() else None,
        incidents=incidents,
        rows=trail.rows(records, case),
    )


def _context(data: CaseData, lang: str, doc_settings: dict[str, str]) -> dict[str, Any]:
    install = next(r for r in data.rows if r.step.number == sop.INSTALL_STEP)
    pool = (data.config or {}).get("web", {}).get("php_fpm_pool") or ""
    php = re.search(r"/php/([0-9.]+)/", pool)
    return {
        "lang": lang,
        "case": data.case, "config": data.config, "trial": data.trial, "incidents": data.incidents,
        "url": data.url, "settings": doc_settings, "php_version": php.group(1) if php else "",
        "passed_count": sum(1 for c in (data.trial or {}).get("checks", []) if c["ok"]),
        "install": {"taken": install.text(lang), "standard": install.step.standard(lang), "over": bool(install.over)},
    }


def _wanted(data: CaseData) -> list[str]:
    wanted = []
    if data.config:
        wanted += ["konfigurasi", "dokumentasi"]
    if data.trial:
        wanted.append("laporan")
    if data.incidents:
        wanted.append("insiden")
    return wanted


HEADER_LABELS = {"id": ("Nomor", "Tanggal", "Perihal"), "en": ("Number", "Date", "Subject")}


def _dated(data: CaseData, name: str) -> str:
    """The date a document carries: when what it records happened."""
    if name == "laporan":
        return str((data.trial or {}).get("tested_at", ""))
    if name == "insiden":
        return str(data.incidents[-1].get("when", "")) if data.incidents else ""
    return str((data.config or {}).get("applied_at", ""))


def _header(data: CaseData, name: str, lang: str, doc_settings: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Nomor, tanggal and perihal, as an official letter carries them."""
    dated = _dated(data, name)
    year = dated[:4] if dated[:4].isdigit() else str(data.case.letter_date)[:4]
    try:
        number = doc_settings["document_number"].format(document=DOCUMENT_CODES[name], case=data.case.id, year=year)
    except (KeyError, IndexError, ValueError):  # a pattern with an unknown field: the default's form
        number = f"{DOCUMENT_CODES[name]}/{data.case.id}/{year}"
    labels = HEADER_LABELS[lang]
    return ((labels[0], number), (labels[1], dates.date_text(dated, lang) if dated else "-"),
            (labels[2], f"{DOCUMENTS[name][lang]}: {data.case.app_title}"))


def render_html(body_markdown: str, title: str, lang: str, doc_settings: dict[str, str], footer: str,
                name: str = "", header: Sequence[tuple[str, str]] = ()) -> str:
    import markdown  # only a command that renders needs it (verify imports this module)

    body = markdown.markdown(body_markdown, extensions=["tables"], output_format="html")
    return environment(lang).get_template("layout.html.j2").render(
        body=body, title=title, lang=lang, settings=doc_settings, footer=footer, name=name, header=header)


def preload() -> threading.Thread:
    """Import WeasyPrint (half a second) in the background while the run waits on Ansible."""
    thread = threading.Thread(target=importlib.import_module, args=("weasyprint",), daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Document:
    """One document of a case in one language, as Markdown; its HTML and PDF are made from it."""

    folder: Path
    name: str
    lang: str
    title: str
    footer: str
    text: str
    header: tuple[tuple[str, str], ...] = ()

    def path(self, ext: str) -> Path:
        return self.folder / f"{self.name}.{ext}"

    def html(self, doc_settings: dict[str, str]) -> str:
        return render_html(self.text, self.title, self.lang, doc_settings, self.footer, self.name, self.header)


def documents_of(records: Path, case_id: str, langs: tuple[str, ...], doc_settings: dict[str, str]) -> list[Document]:
    """Every document the case's records call for, in each language, rendered as Markdown."""
    data = read_case(records, case_id)
    found = []
    for lang in langs:
        env = environment(lang)
        context = _context(data, lang, doc_settings)
        for name in _wanted(data):
            found.append(Document(
                folder=records / case_id / "dokumen" / lang, name=name, lang=lang,
                title=f"{DOCUMENTS[name][lang]}: {data.case.app_title}", footer=f"provisioner · {case_id} · {name}",
                text=env.get_template(f"{name}.md.j2").render(**context),
                header=_header(data, name, lang, doc_settings)))
    return found


@functools.cache
def _renderers() -> str:
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("markdown", "weasyprint"))


def _basis(lang: str, doc_settings: dict[str, str]) -> str:
    """What, besides its Markdown, makes a document's HTML and PDF: settings, layout and CSS, renderers."""
    env = environment(lang)
    assert env.loader is not None
    layout = env.loader.get_source(env, "layout.html.j2")[0]
    looks = {k: v for k, v in doc_settings.items() if k not in RENDERING_SETTINGS}
    return json.dumps({"settings": looks, "layout": layout, "renderers": _renderers(), "pdf": PDF_OPTIONS,
                       "pdf_base": (TEMPLATES / PDF_BASE).read_text()}, sort_keys=True)


def pdf_languages(doc_settings: dict[str, str]) -> tuple[str, ...]:
    """The languages whose PDFs are made with the other records (setting ``pdf_languages``)."""
    return tuple(lang for lang in LANGS if lang in {x.strip() for x in doc_settings["pdf_languages"].split(",")})


def _digest(doc: Document, basis: str) -> str:
    return hashlib.sha256("\0".join((basis, doc.lang, doc.title, doc.footer, doc.text, json.dumps(doc.header)))
                          .encode()).hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    """A sidecar of ours; missing or damaged, it is empty and what it vouched for is made again."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_current(doc: Document, digest: str, recorded: str | None, doc_settings: dict[str, str],
                with_pdf: bool = True) -> bool:
    """The document's files are there, its Markdown unchanged, and its HTML (and its PDF, when one
    is wanted) were made from it."""
    md, html, pdf = (doc.path(ext) for ext in EXTENSIONS)
    try:
        if md.read_text(encoding="utf-8") != doc.text:
            return False
        written = md.stat().st_mtime_ns
        if html.stat().st_mtime_ns < written or (with_pdf and pdf.stat().st_mtime_ns < written):
            return False
        if recorded is None:  # made before digests were recorded: the HTML on disk tells
            return html.read_text(encoding="utf-8") == doc.html(doc_settings)
    except FileNotFoundError:
        return False
    return recorded == digest


@functools.cache
def _font_config() -> Any:
    """One per process: Pango's font caches then serve every PDF, which makes each a quarter faster."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@functools.cache
def _html_class(base_sheet: str) -> Any:
    """WeasyPrint's HTML, drawing the elements by ``base_sheet`` (``templates/pdf-base.css``) instead
    of its user-agent sheet for all of HTML: matching that one's rules against every table cell was
    a seventh of a PDF's CPU time. Made once per process and sheet."""
    import weasyprint  # imported here: it takes half a second and only rendering needs it

    base = weasyprint.CSS(string=base_sheet)

    class DocumentHTML(weasyprint.HTML):
        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [base]

    return DocumentHTML


_PAGE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


@functools.lru_cache(maxsize=8)
def _page_sheet(text: str) -> Any:
    """The layout's own style sheet, parsed once per process and text (two: one per language)."""
    import weasyprint

    return weasyprint.CSS(string=text, font_config=_font_config())


def _clear_caches() -> None:
    """What a forked worker must make again for itself: Pango's fonts, and the sheets bound to them."""
    _font_config.cache_clear()
    _page_sheet.cache_clear()


def write_pdf(page: str, target: Path) -> Path:
    """The PDF of an HTML page. The page's ``<style>`` goes to WeasyPrint parsed (``_page_sheet``):
    parsing it took 15 ms of each PDF's 0.19 s. It is then a user sheet instead of an author one,
    which changes nothing here: it is the page's only sheet besides the base one, and neither holds
    ``!important`` (tests/unit/test_documents.py compares the pages drawn both ways)."""
    style = _PAGE_STYLE.search(page)
    sheets = []
    if style:
        page = page[:style.start()] + page[style.end():]
        sheets.append(_page_sheet(style.group(1)))
    html = _html_class((TEMPLATES / PDF_BASE).read_text())(string=page)
    return write_atomic(target, html.write_pdf(stylesheets=sheets, font_config=_font_config(), **PDF_OPTIONS))


@contextlib.contextmanager
def _pdf_writer(count: int) -> Iterator[Callable[[str, Path], Any]]:
    """What writes each of ``count`` PDFs. PDF rendering is CPU-bound: enough of them are shared
    among processes, one per core, each handed over as soon as its page is made, so that the
    workers render while this process makes the next pages (500 cases: 1,500 pages of Markdown,
    12 s, were made before the first PDF began). Every PDF is written when the block ends; the
    first failure is raised, and what was not begun is dropped."""
    workers = min(MAX_WORKERS, os.cpu_count() or 1, count)
    if count < PARALLEL_FROM or workers < 2:
        yield write_pdf
        return
    importlib.import_module("weasyprint")  # once, before the workers fork, rather than once in each
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, initializer=_clear_caches)
    futures: list[concurrent.futures.Future[Path]] = []
    try:
        yield lambda page, target: futures.append(pool.submit(write_pdf, page, target))
        for future in futures:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def render_case(records: Path, case_id: str, langs: tuple[str, ...] = LANGS,
                pdf_langs: tuple[str, ...] | None = LANGS) -> list[Path]:
    """Every document of one case, in both languages, as Markdown, HTML and PDF."""
    return render_cases(records, [case_id], langs, pdf_langs)


def render_cases(records: Path, case_ids: list[str], langs: tuple[str, ...] = LANGS,
                 pdf_langs: tuple[str, ...] | None = None) -> list[Path]:
    """The documents of several cases; only those that changed are made again (see the module's doc).
    PDFs in ``pdf_langs`` (None: the setting ``pdf_languages``); a document in another language
    gets Markdown and HTML, and loses a PDF of an earlier content (it would contradict them).

    Returns the paths of every document of the cases, made again or not.
    """
    doc_settings = settings(records)
    with_pdf = set(pdf_languages(doc_settings) if pdf_langs is None else pdf_langs)
    bases = {lang: _basis(lang, doc_settings) for lang in langs}
    recorded: dict[Path, dict[str, Any]] = {}
    paths: list[Path] = []
    stale: list[tuple[Document, str]] = []
    adopted: set[Path] = set()  # folders of documents made before digests were recorded
    for case_id in case_ids:
        for doc in documents_of(records, case_id, langs, doc_settings):
            pdf = doc.lang in with_pdf
            paths += [doc.path(ext) for ext in EXTENSIONS if pdf or ext != "pdf"]
            known = recorded.setdefault(doc.folder, _read_json(doc.folder / RENDERED_FILE))
            digest = _digest(doc, bases[doc.lang])
            if not _is_current(doc, digest, known.get(doc.name), doc_settings, with_pdf=pdf):
                stale.append((doc, digest))
            elif doc.name not in known:
                known[doc.name] = digest
                adopted.add(doc.folder)
    with _pdf_writer(sum(1 for doc, _ in stale if doc.lang in with_pdf)) as pdf_of:
        for doc, _ in stale:
            doc.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(doc.path("md"), doc.text)
            page = doc.html(doc_settings)
            write_atomic(doc.path("html"), page)
            if doc.lang in with_pdf:
                pdf_of(page, doc.path("pdf"))
            else:
                doc.path("pdf").unlink(missing_ok=True)
    for doc, digest in stale:  # only now: a PDF that failed is made again next time
        recorded[doc.folder][doc.name] = digest
    for folder in adopted | {doc.folder for doc, _ in stale}:
        write_atomic(folder / RENDERED_FILE, json.dumps(recorded[folder], indent=1, sort_keys=True) + "\n")
    return paths


# --- the register --------------------------------------------------------------------------

REGISTER_TEXT: dict[str, dict[str, Any]] = {
    "id": {"title": "Register Aplikasi", "search": "Cari: ", "placeholder": "kasus, OPD, aplikasi, alamat…",
           "columns": ["Kasus", "OPD", "Aplikasi", "Nama domain", "Alamat IP", "Basis data", "Uji coba terakhir",
                       "Langkah SOP"],
           "passed": "lulus", "failed": "gagal", "none": "belum diuji", "done": "selesai", "next": "berikutnya",
           "shared": "bersama",
           "sla_title": "Ringkasan waktu per langkah SOP",
           "sla_rule": "Standar dalam menit dihitung jam dinding; standar dalam hari dihitung hari kerja "
                       "(Senin sampai Jumat, WITA, di luar libur nasional, cuti bersama, dan hari libur yang "
                       "dicatat Bidang).",
           "sla_columns": ["Langkah", "Nama", "Standar", "Kasus tercatat", "Median", "Terlama", "Melebihi standar"]},
    "en": {"title": "Application Register", "search": "Search: ", "placeholder": "case, OPD, application, address…",
           "columns": ["Case", "OPD", "Application", "Domain name", "IP address", "Database", "Last trial",
                       "SOP step"],
           "passed": "passed", "failed": "failed", "none": "not tested", "done": "done", "next": "next",
           "shared": "shared",
           "sla_title": "Time per SOP step",
           "sla_rule": "Standards in minutes count wall-clock time; standards in days count working days "
                       "(Monday to Friday, WITA, less national holidays, cuti bersama and the division's own "
                       "holidays).",
           "sla_columns": ["Step", "Name", "Standard", "Cases recorded", "Median", "Worst", "Over the standard"]},
}


def _register_row(records: Path, data: CaseData, lang: str) -> dict[str, str]:
    t = REGISTER_TEXT[lang]
    config = data.config or {}
    database = config.get("database") or {}
    latest = Records(records).last_trial(data.case.id)  # the last verify, or the installation's trial
    result = "none" if latest is None else ("passed" if latest["passed"] else "failed")
    done = [r.step.number for r in data.rows if r.entry is not None]
    current = max(done) if done else None
    upcoming = next((r.step.number for r in data.rows if r.applies and r.step.number > (current or 0)), None)
    step = (f"{current} ({t['done']})" if upcoming is None
            else f"{current or '-'} ({t['next']}: {upcoming})")
    return {"id": data.case.id, "opd": data.case.opd_code, "title": data.case.app_title, "fqdn": data.case.fqdn,
            "address": str(config.get("public_ip", "-"))
            + (f" ({t['shared']})" if config.get("shared_address") else ""),
            "database": f"{database['engine']}: {database['name']}" if database else "-",
            "result": result,
            "result_text": t[result] + (f" ({dates.datetime_text(latest['tested_at'], lang)})" if latest else ""),
            "step": step, "link": f"{data.case.id}/dokumen/{lang}/" + ("laporan.html" if data.trial else
                                                                     "dokumentasi.html")}


def _format(value: float, step: sop.Step, lang: str) -> str:
    return trail.value_text(step, value, lang)


StepTimes = Sequence[tuple[int, float, bool]]  # (step number, time in the step's unit, over its standard)


def _step_times(data: CaseData) -> list[tuple[int, float, bool]]:
    return [(r.step.number, r.value, bool(r.over)) for r in data.rows if r.value is not None]


def sla_summary(cases: list[CaseData], lang: str = "id") -> list[dict[str, Any]]:
    """Per SOP step: how many cases recorded a time, the median and worst, how many went over."""
    return _sla([_step_times(data) for data in cases], lang)


def _sla(cases: Iterable[StepTimes], lang: str) -> list[dict[str, Any]]:
    by_step: dict[int, list[tuple[float, bool]]] = {step.number: [] for step in sop.STEPS}
    for times in cases:
        for number, value, over in times:
            by_step[number].append((value, over))
    summary = []
    for step in sop.STEPS:
        values = [value for value, _ in by_step[step.number]]
        summary.append({
            "number": step.number, "name": step.name(lang), "standard": step.standard(lang), "count": len(values),
            "median": _format(statistics.median(values), step, lang) if values else "-",
            "worst": _format(max(values), step, lang) if values else "-",
            "over": sum(1 for _, over in by_step[step.number] if over),
        })
    return summary


def case_ids(records: Path) -> list[str]:
    return sorted(p.parent.name for p in records.glob("*/case.yml"))


def _state(path: str) -> str:
    """What tells a file's versions apart without reading it: size, modification time (ns), inode
    (write_atomic renames a new file in). "-" when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return "-"
    return f"{found.st_size}:{found.st_mtime_ns}:{found.st_ino}"


@functools.cache
def _code_version() -> str:
    """provisioner's source files as they are (an upgrade reads every case again once)."""
    package = Path(__file__).resolve().parent
    return "\0".join(f"{path.relative_to(package).as_posix()}={_state(str(path))}"
                      for path in sorted(package.rglob("*.py")))


def _records_digest(folder: Path) -> str:
    """The sha256 of the states of a case's records (not their bytes: a register of 500 cases read
    each case's files on every run) and of the code that reads them. Plain os calls: pathlib's
    cost ~0.15 s over 500 cases."""
    try:
        incidents = sorted(f"insiden/{entry.name}" for entry in os.scandir(f"{folder}/insiden")
                           if entry.name.endswith(".yml"))
    except FileNotFoundError:
        incidents = []
    # The register shows the latest trial (often a verify's), and counts working days against the calendar.
    names = [*CASE_RECORDS, *incidents, TRIAL_HISTORY, f"../{working_calendar.HOLIDAYS_FILE}"]
    states = "\0".join(f"{name}={_state(f'{folder}/{name}')}" for name in names)
    return hashlib.sha256(f"{_code_version()}\0{states}".encode()).hexdigest()


def register_entry(records: Path, case_id: str) -> dict[str, Any]:
    """A case's rows in the register and its step times, read again only when its records changed.

    Reading a case costs ~15 ms (its YAML, validated); the register of 500 cases paid that on every run.
    """
    folder = records / case_id
    digest = _records_digest(folder)
    path = folder / "dokumen" / REGISTER_FILE
    entry = _read_json(path)
    if entry.get("digest") != digest:
        data = read_case(records, case_id)
        entry = {"digest": digest, "rows": {lang: _register_row(records, data, lang) for lang in LANGS},
                 "times": _step_times(data)}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(entry, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    return entry


def render_register(records: Path, with_sla: bool = True) -> list[Path]:
    """``records/index.html`` (and ``index.en.html``): every case, sortable and searchable offline."""
    entries = [register_entry(records, case_id) for case_id in case_ids(records)]
    doc_settings = settings(records)
    written = []
    for lang in LANGS:
        page = environment(lang).get_template("register.html.j2").render(
            lang=lang, t=REGISTER_TEXT[lang], settings=doc_settings,
            rows=[entry["rows"][lang] for entry in entries],
            sla=_sla((entry["times"] for entry in entries), lang) if with_sla else [])
        name = "index.html" if lang == "id" else f"index.{lang}.html"
        records.mkdir(parents=True, exist_ok=True)
        written.append(write_atomic(records / name, page))
    return written
