"""The documents people print, sign and file, rendered from a case's records.

Each document is a Jinja2 Markdown template per language (``templates/id``, ``templates/en``);
Markdown is written for diffs in git, then the same text becomes self-contained HTML with the
agency's heading (``templates/layout.html.j2``) and PDF (WeasyPrint). Text that comes from a
case is escaped for Markdown and HTML alike by the ``md`` filter, so it can never become markup.

Inputs, all in ``records/<case-id>/``: ``case.yml``, ``konfigurasi.yml``, ``uji-coba.json``,
``insiden/*.yml``, ``trail.yml``. Outputs: ``dokumen/<lang>/<document>.{md,html,pdf}``, and the
register ``records/index.html`` (``index.en.html`` in English).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import re
import statistics
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markdown
import yaml

from provisioner import sop, trail
from provisioner.case import Case, load_case
from provisioner.records import write_atomic

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGS = ("id", "en")
DOCUMENTS = {
    "konfigurasi": {"id": "Data Konfigurasi Aplikasi", "en": "Application Configuration Data"},
    "dokumentasi": {"id": "Dokumentasi Aplikasi", "en": "Application Documentation"},
    "laporan": {"id": "Laporan Instalasi dan Uji Coba", "en": "Installation and Trial Report"},
    "insiden": {"id": "Dokumentasi Kejadian", "en": "Incident Documentation"},
}
DEFAULT_SETTINGS = {
    "government": "PEMERINTAH KOTA TARAKAN",
    "heading": "DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN, Kota Tarakan",
    "division": "Bidang Aplikasi Informatika",
    "pelaksana": "(nama pelaksana)",
    "kepala_bidang": "(nama Kepala Bidang Aplikasi Informatika)",
}
SETTINGS_FILE = "documents.yml"
PARALLEL_FROM = 4  # cases; below this, one process renders faster than starting workers

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#<>&])")


def md_text(value: Any) -> str:
    """Escape text for a Markdown table cell that also becomes HTML: no markup survives."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(m.group(1), "\\" + m.group(1)),
                           text)


def settings(records: Path) -> dict[str, str]:
    """The agency's heading and the names in signature blocks: ``records/documents.yml``."""
    path = records / SETTINGS_FILE
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    return {**DEFAULT_SETTINGS, **{k: str(v) for k, v in (data or {}).items() if k in DEFAULT_SETTINGS}}


def environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(TEMPLATES / lang), str(TEMPLATES)]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=jinja2.select_autoescape(["html.j2"]))
    env.filters["md"] = md_text
    return env


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


def read_case(records: Path, case_id: str) -> CaseData:
    folder = records / case_id
    case = load_case(folder / "case.yml")
    config_path, trial_path = folder / "konfigurasi.yml", folder / "uji-coba.json"
    incidents = [yaml.safe_load(p.read_text()) for p in sorted((folder / "insiden").glob("*.yml"))]
    return CaseData(
        case=case,
        config=yaml.safe_load(config_path.read_text()) if config_path.exists() else None,
        trial=json.loads(trial_path.read_text()) if trial_path.exists() else None,
        incidents=incidents,
        rows=trail.rows(records, case),
    )


def _context(data: CaseData, lang: str, doc_settings: dict[str, str]) -> dict[str, Any]:
    install = next(r for r in data.rows if r.step.number == sop.INSTALL_STEP)
    pool = (data.config or {}).get("web", {}).get("php_fpm_pool") or ""
    php = re.search(r"/php/([0-9.]+)/", pool)
    return {
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


def render_html(body_markdown: str, title: str, lang: str, doc_settings: dict[str, str], footer: str) -> str:
    body = markdown.markdown(body_markdown, extensions=["tables"], output_format="html")
    return environment(lang).get_template("layout.html.j2").render(
        body=body, title=title, lang=lang, settings=doc_settings, footer=footer)


def preload() -> threading.Thread:
    """Import WeasyPrint (half a second) in the background while the run waits on Ansible."""
    thread = threading.Thread(target=importlib.import_module, args=("weasyprint",), daemon=True)
    thread.start()
    return thread


def render_case(records: Path, case_id: str, langs: tuple[str, ...] = LANGS) -> list[Path]:
    """Every document of one case, in both languages, as Markdown, HTML and PDF."""
    import weasyprint  # imported here: it takes half a second and only rendering needs it

    data = read_case(records, case_id)
    doc_settings = settings(records)
    written = []
    for lang in langs:
        out = records / case_id / "dokumen" / lang
        out.mkdir(parents=True, exist_ok=True)
        env = environment(lang)
        context = _context(data, lang, doc_settings)
        for name in _wanted(data):
            title = f"{DOCUMENTS[name][lang]}: {data.case.app_title}"
            text = env.get_template(f"{name}.md.j2").render(**context)
            footer = f"provisioner · {case_id} · {name}"
            page = render_html(text, title, lang, doc_settings, footer)
            paths = [out / f"{name}.{ext}" for ext in ("md", "html", "pdf")]
            # An unchanged document is not rendered again: its PDF is the costly part.
            if not (all(p.exists() for p in paths) and paths[1].read_text(encoding="utf-8") == page):
                write_atomic(paths[0], text)
                write_atomic(paths[1], page)
                write_atomic(paths[2], weasyprint.HTML(string=page).write_pdf())
            written += paths
    return written


def render_cases(records: Path, case_ids: list[str]) -> list[Path]:
    """Several cases at once; PDF rendering is CPU-bound, so larger batches use every core."""
    if len(case_ids) < PARALLEL_FROM:
        return [p for case_id in case_ids for p in render_case(records, case_id)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        results = pool.map(render_case, [records] * len(case_ids), case_ids)
        return [p for paths in results for p in paths]


# --- the register --------------------------------------------------------------------------

REGISTER_TEXT: dict[str, dict[str, Any]] = {
    "id": {"title": "Register Aplikasi", "search": "Cari: ", "placeholder": "kasus, OPD, aplikasi, alamat…",
           "columns": ["Kasus", "OPD", "Aplikasi", "Nama domain", "Alamat IP", "Basis data", "Uji coba terakhir",
                       "Langkah SOP"],
           "passed": "lulus", "failed": "gagal", "none": "belum diuji", "done": "selesai", "next": "berikutnya",
           "sla_title": "Ringkasan waktu per langkah SOP",
           "sla_rule": "Standar dalam menit dihitung jam dinding; standar dalam hari dihitung hari kerja "
                       "(Senin sampai Jumat, WITA).",
           "sla_columns": ["Langkah", "Nama", "Standar", "Kasus tercatat", "Median", "Terlama", "Melebihi standar"]},
    "en": {"title": "Application Register", "search": "Search: ", "placeholder": "case, OPD, application, address…",
           "columns": ["Case", "OPD", "Application", "Domain name", "IP address", "Database", "Last trial",
                       "SOP step"],
           "passed": "passed", "failed": "failed", "none": "not tested", "done": "done", "next": "next",
           "sla_title": "Time per SOP step",
           "sla_rule": "Standards in minutes count wall-clock time; standards in days count working days "
                       "(Monday to Friday, WITA).",
           "sla_columns": ["Step", "Name", "Standard", "Cases recorded", "Median", "Worst", "Over the standard"]},
}


def _register_row(records: Path, data: CaseData, lang: str) -> dict[str, str]:
    t = REGISTER_TEXT[lang]
    config = data.config or {}
    database = config.get("database") or {}
    result = "none" if data.trial is None else ("passed" if data.trial["passed"] else "failed")
    done = [r.step.number for r in data.rows if r.entry is not None]
    current = max(done) if done else None
    upcoming = next((r.step.number for r in data.rows if r.applies and r.step.number > (current or 0)), None)
    step = (f"{current} ({t['done']})" if upcoming is None
            else f"{current or '-'} ({t['next']}: {upcoming})")
    return {"id": data.case.id, "opd": data.case.opd_code, "title": data.case.app_title, "fqdn": data.case.fqdn,
            "address": str(config.get("public_ip", "-")),
            "database": f"{database['engine']}: {database['name']}" if database else "-",
            "result": result, "result_text": t[result] + (f" ({data.trial['tested_at']})" if data.trial else ""),
            "step": step, "link": f"{data.case.id}/dokumen/{lang}/" + ("laporan.html" if data.trial else
                                                                     "dokumentasi.html")}


def _format(value: float, step: sop.Step, lang: str) -> str:
    if step.days:
        return f"{value:.2f} {'hari kerja' if lang == 'id' else 'working days'}"
    return f"{value:.1f} {'menit' if lang == 'id' else 'min'}"


def sla_summary(cases: list[CaseData], lang: str = "id") -> list[dict[str, Any]]:
    """Per SOP step: how many cases recorded a time, the median and worst, how many went over."""
    summary = []
    for step in sop.STEPS:
        rows = [r for data in cases for r in data.rows if r.step.number == step.number and r.value is not None]
        values = [r.value for r in rows if r.value is not None]
        summary.append({
            "number": step.number, "name": step.name(lang), "standard": step.standard(lang), "count": len(values),
            "median": _format(statistics.median(values), step, lang) if values else "-",
            "worst": _format(max(values), step, lang) if values else "-",
            "over": sum(1 for r in rows if r.over),
        })
    return summary


def case_ids(records: Path) -> list[str]:
    return sorted(p.parent.name for p in records.glob("*/case.yml"))


def render_register(records: Path, with_sla: bool = True) -> list[Path]:
    """``records/index.html`` (and ``index.en.html``): every case, sortable and searchable offline."""
    cases = [read_case(records, case_id) for case_id in case_ids(records)]
    doc_settings = settings(records)
    written = []
    for lang in LANGS:
        page = environment(lang).get_template("register.html.j2").render(
            lang=lang, t=REGISTER_TEXT[lang], settings=doc_settings,
            rows=[_register_row(records, data, lang) for data in cases],
            sla=sla_summary(cases, lang) if with_sla else [])
        name = "index.html" if lang == "id" else f"index.{lang}.html"
        records.mkdir(parents=True, exist_ok=True)
        written.append(write_atomic(records / name, page))
    return written
