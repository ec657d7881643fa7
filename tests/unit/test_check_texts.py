"""The catalogue of check texts, and the Indonesian documents of the example cases in Indonesian only.

The documents get every check the catalogue knows (with every detail it knows), as a trial would
record them, and an incident of failed checks; then no English text of the catalogue may appear in
an Indonesian document, nor an ISO timestamp, nor a Markdown or HTML escape.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import string
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from provisioner import check_texts, documents
from provisioner.check_texts import CHECKS, DETAILS, WORDS, Phrase, recognize
from provisioner.records import Records
from provisioner.trial import Check
from tests import fleet
from tests.conftest import EXAMPLES, ROOT

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yml"))


def _fields(phrase: Phrase) -> set[str]:
    return {name for lang in ("en", "id") for _, name, _, _ in string.Formatter().parse(getattr(phrase, lang))
            if name}


def _sample(phrase: Phrase) -> dict[str, str]:
    """Values that are data (the same in both languages) and cannot be mistaken for words."""
    values = {name: f"198.19.0.{index + 7}" for index, name in enumerate(sorted(_fields(phrase)))}
    return values | ({"index": "2", "number": "3"} if "index" in values else {})


def _leaks(fragments: list[str], text: str) -> list[str]:
    """The fragments found in ``text`` as words (not inside a longer word)."""
    def pattern(fragment: str) -> str:
        before = r"(?<![\w-])" if re.match(r"\w", fragment) else ""
        after = r"(?![\w-])" if re.search(r"\w$", fragment) else ""
        return before + re.escape(fragment) + after

    return [f for f in fragments if re.search(pattern(f), text)]


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_every_check_has_its_name_in_both_languages(check_id: str) -> None:
    phrase = CHECKS[check_id]
    said = phrase(**_sample(phrase))
    assert said.en.strip() and said.id.strip() and said.en != said.id


@pytest.mark.parametrize("detail_id", sorted(DETAILS))
def test_every_detail_has_both_languages(detail_id: str) -> None:
    phrase = DETAILS[detail_id]
    said = phrase(**_sample(phrase))
    assert said.en.strip() and said.id.strip()


def _used_ids(module: Path, function: str, position: int = 0) -> set[str]:
    """The string constants given to ``function`` at ``position`` in a module."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function \
                and len(node.args) > position:
            given = node.args[position]
            choices = [given.body, given.orelse] if isinstance(given, ast.IfExp) else [given]
            found |= {c.value for c in choices if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return found


def test_every_check_the_trial_runs_is_in_the_catalogue_and_every_entry_is_used() -> None:
    sources = [ROOT / "provisioner" / "trial.py", ROOT / "provisioner" / "commands" / "verify.py"]
    checks = set().union(*(_used_ids(path, "timed") | _used_ids(path, "of") for path in sources))
    details = set().union(*(_used_ids(path, "detail") for path in sources))
    assert checks == set(CHECKS)
    assert details == set(DETAILS)


def _english_fragments() -> list[str]:
    """The English words of the catalogue that its Indonesian texts do not share."""
    fragments = set()
    for phrase in [*CHECKS.values(), *DETAILS.values()]:
        for piece in re.split(r"\{[^}]*\}", phrase.en):
            piece = piece.strip(" :;,()")
            if len(re.sub(r"[^A-Za-z]", "", piece)) >= 3 and piece not in re.sub(r"\{[^}]*\}", " ", phrase.id):
                fragments.add(piece)
    fragments |= {said.en for said in WORDS.values() if said.en != said.id}
    return sorted(fragments)


def _catalogue_checks() -> list[Check]:
    """Every check of the catalogue, each with a detail of the catalogue, some failing."""
    details = itertools.cycle(sorted(DETAILS))
    checks = []
    for index, check_id in enumerate(sorted(CHECKS)):
        for _ in range(2 if index == 0 else 1):  # as many details as checks: all of them appear
            detail_id = next(details)
            found = DETAILS[detail_id](**{**_sample(DETAILS[detail_id]), "names": check_texts.word("none")}
                                       if "names" in _fields(DETAILS[detail_id]) else _sample(DETAILS[detail_id]))
            checks.append(Check.of(check_id, CHECKS[check_id](**_sample(CHECKS[check_id])), index % 3 != 0, found,
                                   0.012))
    while len(checks) < len(DETAILS):
        detail_id = next(details)
        checks.append(Check.of("dns.a", CHECKS["dns.a"](server="ns1"), True,
                               DETAILS[detail_id](**_sample(DETAILS[detail_id])), 0.001))
    return checks


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The records of every example case with the catalogue's checks and an incident, rendered."""
    root = tmp_path_factory.mktemp("records")
    checks = _catalogue_checks()
    for index, path in enumerate(EXAMPLE_FILES):
        fleet.write_records(root, path, f"198.19.0.{40 + index}", True, checks)
    records = Records(root)
    for case_id in documents.case_ids(root):
        case_fqdn = documents.read_case(root, case_id).case.fqdn
        records.write_incident(case_id, case_fqdn, "verify", "verify",
                               [c.failure() for c in checks if not c.ok], [])
        documents.render_case(root, case_id)
    return root


def _texts(root: Path, lang: str, ext: str) -> dict[str, str]:
    found = {}
    for path in sorted(root.glob(f"*/dokumen/{lang}/*.{ext}")):
        if ext == "pdf":
            found[str(path)] = "\n".join(page.extract_text() for page in PdfReader(path).pages)
        else:
            found[str(path)] = path.read_text(encoding="utf-8")
    return found


@pytest.mark.parametrize("ext", ["md", "pdf"])
def test_indonesian_documents_carry_no_english_check_text(rendered: Path, ext: str) -> None:
    fragments = _english_fragments()
    texts = _texts(rendered, "id", ext)
    assert len(texts) == 4 * len(EXAMPLE_FILES)
    leaks = {path: _leaks(fragments, text) for path, text in texts.items()}
    assert {path: found for path, found in leaks.items() if found} == {}


def test_english_documents_carry_the_english_check_texts(rendered: Path) -> None:
    text = "\n".join(_texts(rendered, "en", "md").values())
    assert "dns A on 198.19.0.7" in text and "tls certificate names the site" in text


@pytest.mark.parametrize("lang", ["id", "en"])
def test_documents_show_no_iso_timestamp_and_no_escape(rendered: Path, lang: str) -> None:
    for path, text in _texts(rendered, lang, "md").items():
        assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text), path
        assert not re.search(r"\\[\\`*_{}\[\]()#+\-.!|<>]", text), path
        assert not re.search(r"&(lt|gt|amp|quot|#\d+);", text), path


def test_indonesian_dates_are_written_as_people_write_them(rendered: Path) -> None:
    text = (rendered / "2026-014" / "dokumen" / "id" / "laporan.md").read_text()
    assert "| Waktu uji | Jumat, 27 November 2026, 10.05 WITA |" in text


def test_the_result_column_never_breaks_a_word(rendered: Path) -> None:
    for path, text in _texts(rendered, "id", "pdf").items():
        if path.endswith("laporan.pdf"):
            words = re.findall(r"\S+", text)
            assert "lulus" in words and not {"lulu", "lul", "lu", "GAGA", "GAG"} & set(words), path


def test_the_result_column_never_breaks_a_word_as_pdftotext_lays_it_out(rendered: Path) -> None:
    """As the issue asks, with poppler's ``pdftotext -layout`` (scripts/bootstrap installs it): each
    check's result stays one word on its row, and no row of the checks table runs over a page."""
    for path in rendered.glob("*/dokumen/id/laporan.pdf"):
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        words = re.findall(r"\S+", text)
        assert "lulus" in words and not {"lulu", "lul", "lu", "GAGA", "GAG"} & set(words), path
        for page in text.split("\f")[1:]:  # a page after the first starts with a whole row, numbered
            rows = [line for line in page.splitlines() if line.strip()]
            if rows and rows[0].split()[0] == "No.":
                assert rows[1].split()[0].isdigit(), (path, rows[:3])


@pytest.mark.parametrize(("lang", "words"), [("id", ("Halaman 1 dari", "Nomor", "Tanggal", "Perihal")),
                                             ("en", ("Page 1 of", "Number", "Date", "Subject"))])
def test_pages_carry_their_number_and_the_letter_header(rendered: Path, lang: str, words: tuple[str, ...]) -> None:
    text = _texts(rendered, lang, "pdf")[str(rendered / "2026-014" / "dokumen" / lang / "laporan.pdf")]
    assert all(word in text for word in words), text[:400]
    assert "LIU/2026-014/2026" in text


# --- records written before checks spoke both languages ------------------------------------------

def _plain_sample(phrase: Phrase) -> dict[str, str]:
    return {name: ("3" if name in ("index", "count") else f"v{index}x")
            for index, name in enumerate(sorted(_fields(phrase)))}


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_an_english_check_name_is_recognized(check_id: str) -> None:
    values = _plain_sample(CHECKS[check_id])
    if "index" in values:
        values["number"] = "4"
    said = CHECKS[check_id](**values)
    assert check_texts.recognize(said.en, "")[:2] == (check_id, said)


@pytest.mark.parametrize("detail_id", sorted(set(DETAILS) - {"error", "server_said"}))
def test_an_english_detail_is_recognized(detail_id: str) -> None:
    said = DETAILS[detail_id](**_plain_sample(DETAILS[detail_id]))
    assert check_texts.recognize("", said.en)[2] == said


def test_old_records_render_in_indonesian(tmp_path: Path) -> None:
    """A trial recorded with English names and details only, as before ids and texts."""
    checks = [Check(c.name, c.ok, c.detail, c.duration_s) for c in _catalogue_checks()]
    fleet.write_records(tmp_path, EXAMPLE_FILES[1], "198.19.0.50", True, checks)
    report = tmp_path / "2026-014" / "uji-coba.json"
    data = json.loads(report.read_text())
    for check in data["checks"]:
        del check["texts"], check["id"]
    report.write_text(json.dumps(data))
    documents.render_case(tmp_path, "2026-014", ("id",))
    text = (tmp_path / "2026-014" / "dokumen" / "id" / "laporan.md").read_text()
    assert "rekaman DNS A di 198.19.0.7" in text
    assert _leaks(_english_fragments(), text) == []


def test_an_old_record_of_the_php_fpm_users_is_still_recognized() -> None:
    """Records written before a case's trial named only its own user listed every php-fpm user."""
    found = recognize("php-fpm runs as the application user", "php-fpm workers run as: root, sikesda, www-data")
    assert found[0] == "php.workers"
    assert found[2].id == "proses php-fpm berjalan sebagai: root, sikesda, www-data"
