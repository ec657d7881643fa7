"""Messages in Indonesian on request: every marked message has its translation, and the command
line speaks Indonesian for ``--lang id`` or ``LANG=id_ID.UTF-8``, with paths and --json keys unchanged."""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from babel.messages.extract import extract_from_dir
from click.testing import CliRunner

from provisioner import click_texts, language, placement
from provisioner.case import Case, load_case
from provisioner.cli import cli
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, ROOT, example

MARKED = sorted({message for _, _, message, _, _ in extract_from_dir(
    str(ROOT / "provisioner"), keywords={"_": None, "N_": None}) if isinstance(message, str)})
# Click's own texts, from the installed Click (a new Click with new texts fails here): plurals by their singular.
CLICK_MARKED = sorted({message if isinstance(message, str) else message[0] for _, _, message, _, _ in
                       extract_from_dir(str(Path(click.__file__).parent), keywords={"_": None, "ngettext": (1, 2)})})
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
INDONESIAN = {"LANG": "id_ID.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    language.choose("en")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_messages_are_marked() -> None:
    assert len(MARKED) > 50 and "is required" in MARKED


@pytest.mark.parametrize("message", MARKED)
def test_every_message_has_its_indonesian_translation(message: str) -> None:
    translation = language.catalog("id").get(message)
    assert translation, f"no Indonesian for {message!r}: run scripts/messages and translate it"
    if "{" in message and _fields(message):  # a message formatted with fields keeps them
        assert _fields(translation) == _fields(message)


def test_clicks_texts_are_found() -> None:
    assert len(CLICK_MARKED) > 50 and "Show this message and exit." in CLICK_MARKED


@pytest.mark.parametrize("message", CLICK_MARKED)
def test_every_click_text_has_its_indonesian_translation(message: str) -> None:
    translation = language.catalog("id", click_texts.CLICK_DOMAIN).get(message)
    assert translation, f"no Indonesian for Click's {message!r}: run scripts/messages and translate it"
    if "{" in message and _fields(message):
        assert _fields(translation) <= _fields(message) | {"nargs", "len", "choices", "formats", "possibilities"}


@pytest.mark.parametrize(("environment", "lang"), [({"LANG": "id_ID.UTF-8"}, "id"), ({"LANG": "C.UTF-8"}, "en"),
                                                   ({"LC_ALL": "en_US.UTF-8", "LANG": "id_ID.UTF-8"}, "en"),
                                                   ({}, "en")])
def test_the_locale_chooses_the_language(environment: dict[str, str], lang: str) -> None:
    assert language.from_environment(environment) == lang


@pytest.fixture
def bad_case(write_case) -> Path:  # type: ignore[no-untyped-def]
    data = example("sikesda")
    del data["contact"]["email"]
    data["hosting"]["tls"] = "kadang"
    return write_case(data, "buruk.yml")


def _check(path: Path, *options: str, env: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
           json_output: bool = False):
    return CliRunner().invoke(cli, [*options, "check", str(path), *(["--json"] if json_output else [])],
                              env=env or {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""})


@pytest.mark.parametrize(("options", "env"), [(("--lang", "id"), None),
                                              ((), {"LANG": "id_ID.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""})])
def test_a_bad_case_file_is_told_in_indonesian(bad_case: Path, options: tuple[str, ...],
                                               env: dict[str, str] | None) -> None:
    result = _check(bad_case, *options, env=env)
    assert result.exit_code == 2
    assert "contact.email: wajib diisi" in result.output
    assert "hosting.tls: 'kadang' tidak diperbolehkan: salah satu dari none, self-signed" in result.output
    assert "tidak valid (2 masalah)" in result.output and "is required" not in result.output


def test_english_stays_the_default(bad_case: Path) -> None:
    result = _check(bad_case)
    assert result.exit_code == 2 and "contact.email: is required" in result.output


def test_json_keys_and_paths_do_not_change_with_the_language(bad_case: Path) -> None:
    english = json.loads(_check(bad_case, json_output=True).output)
    indonesian = json.loads(_check(bad_case, "--lang", "id", json_output=True).output)
    assert english.keys() == indonesian.keys() and english["status"] == indonesian["status"] == "invalid"
    assert [e["path"] for e in english["errors"]] == [e["path"] for e in indonesian["errors"]]
    assert indonesian["errors"][0]["message"] != english["errors"][0]["message"]


@pytest.fixture
def long_name(write_case) -> Path:  # type: ignore[no-untyped-def]
    data = example("sikesda")
    data["application"]["name"] = "sistem-informasi-kesehatan-daerah-kota"
    return write_case(data, "panjang.yml")


def _invoke(args: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env)


@pytest.mark.parametrize(("options", "env"), [(["--lang", "id"], ENGLISH), ([], INDONESIAN)])
def test_a_name_too_long_is_told_in_indonesian_under_its_path(long_name: Path, options: list[str],
                                                                env: dict[str, str]) -> None:
    result = _invoke([*options, "check", str(long_name)], env)
    assert result.exit_code == 2
    assert ("application.name: 'sistem-informasi-kesehatan-daerah-kota' tidak diperbolehkan: huruf kecil, lalu "
            "1-30 karakter a-z, 0-9 dan -") in result.output
    assert "is not allowed" not in result.output


def test_a_name_too_long_is_told_in_english_by_default(long_name: Path) -> None:
    result = _invoke(["check", str(long_name)], ENGLISH)
    assert result.exit_code == 2 and "application.name: 'sistem-informasi-kesehatan-daerah-kota' is not allowed" \
        in result.output


@pytest.mark.parametrize(("options", "env"), [(["--lang", "id"], ENGLISH), ([], INDONESIAN)])
def test_the_top_level_help_is_indonesian(options: list[str], env: dict[str, str]) -> None:
    result = _invoke([*options, "--help"], env)
    assert result.exit_code == 0
    assert result.output.startswith("Penggunaan: ")
    assert "Memasang, menguji coba, dan mencatat kasus aplikasi yang telah disetujui" in result.output
    assert "\nOpsi:\n" in result.output and "\nPerintah:\n" in result.output
    assert "-h, --help                  Tampilkan pesan ini lalu keluar." in result.output
    assert "--version                   Tampilkan versi lalu keluar." in result.output
    assert "  apply     Pasang kasus, jalankan uji coba, dan tulis catatannya." in result.output


def test_a_commands_help_is_indonesian_and_its_options_keep_their_names() -> None:
    result = _invoke(["--lang", "id", "apply", "--help"], ENGLISH)
    assert result.exit_code == 0
    assert "Penggunaan: cli apply [OPTIONS] [CASES]..." in result.output
    assert "-i, --inventory PATH" in result.output and "[wajib]" in result.output
    assert "--full" in result.output and "Jalankan seluruh playbook dan uji coba" in result.output
    assert "Cetak tepat satu objek JSON ke stdout." in result.output


def test_help_stays_english_by_default() -> None:
    result = _invoke(["apply", "--help"], ENGLISH)
    assert result.output.startswith("Usage: cli apply [OPTIONS] [CASES]...")
    assert "Print exactly one JSON object on stdout." in result.output and "[required]" in result.output
    assert "-h, --help            Show this message and exit." in result.output


@pytest.mark.parametrize(("args", "env", "said"), [
    (["--lang", "id", "check", "--nosuch"], ENGLISH, "Kesalahan: Opsi '--nosuch' tidak ada."),
    (["check", "--nosuch"], INDONESIAN, "Kesalahan: Opsi '--nosuch' tidak ada."),
    (["--lang", "id", "nosuchcommand"], ENGLISH, "Kesalahan: Perintah 'nosuchcommand' tidak ada."),
    (["--lang", "id", "plan", "case.yml"], ENGLISH, "Kesalahan: Kurang opsi '-i' / '--inventory'."),
    (["--lang", "id", "rollback", "-i", "x"], ENGLISH, "Kesalahan: Kurang argumen 'CASES...'."),
])
def test_clicks_usage_errors_are_indonesian(args: list[str], env: dict[str, str], said: str) -> None:
    result = _invoke(args, env)
    assert result.exit_code == 2
    assert said in result.output
    assert "Jalankan 'cli " in result.output and "untuk bantuan." in result.output


def test_clicks_usage_errors_stay_english_by_default() -> None:
    result = _invoke(["check", "--nosuch"], ENGLISH)
    assert result.exit_code == 2 and "Try 'cli check --help' for help." in result.output
    assert "Error: No such option '--nosuch'." in result.output


def test_json_of_a_bad_case_has_the_same_keys_and_paths_in_both_languages(long_name: Path) -> None:
    english = json.loads(_invoke(["check", str(long_name), "--json"], ENGLISH).output)
    indonesian = json.loads(_invoke(["check", str(long_name), "--json"], INDONESIAN).output)
    assert english.keys() == indonesian.keys()
    assert [sorted(e) for e in english["errors"]] == [sorted(e) for e in indonesian["errors"]]
    assert [e["path"] for e in english["errors"]] == [e["path"] for e in indonesian["errors"]] == ["application.name"]
    assert "tidak diperbolehkan" in indonesian["errors"][0]["message"]


@pytest.fixture
def indonesian() -> None:
    language.choose("id")


def _example_case(name: str, **changes: Any) -> Case:
    case = load_case(next(EXAMPLES.glob(f"*{name}*.yml")))
    return dataclasses.replace(case, **changes)


@pytest.mark.usefixtures("indonesian")
def test_a_placement_problem_is_told_in_indonesian_under_its_path() -> None:
    errors = placement.check_against_inventory(_example_case("ppid", zone="example.org"),
                                               load_inventory(LOCAL_INVENTORY))
    assert [(e.path, e.message) for e in errors] == [
        ("hosting.zone", "'example.org' tidak dilayani oleh inventaris local; zona yang dilayani: tarakankota.go.id")]


@pytest.mark.usefixtures("indonesian")
def test_a_conflict_with_what_is_live_is_told_in_indonesian() -> None:
    live = placement.LiveState(ptrs={}, names={}, registry={})
    live.users = {"localhost": {"sikesda"}}
    _, conflicts = placement.place([_example_case("sikesda")], load_inventory(LOCAL_INVENTORY), live)
    assert conflicts[0].path == "2026-014: application.name"
    assert conflicts[0].message == ("pengguna sistem sikesda ada di server web localhost dan bukan milik kasus "
                                    "terpasang mana pun pada inventaris ini")


def test_a_missing_inventory_is_told_in_indonesian(tmp_path: Path) -> None:
    case = next(EXAMPLES.glob("*sikesda*.yml"))
    result = _invoke(["--lang", "id", "check", str(case), "-i", str(tmp_path / "tidak-ada"), "--json"], ENGLISH)
    said = json.loads(result.output)
    assert said["status"] == "invalid" and said["message"].startswith("tidak ada inventaris di ")
    assert [e["path"] for e in said["errors"]] == ["-i"]
    assert said["errors"][0]["message"].endswith("harus berupa direktori atau berkas inventaris")


def test_doctors_checks_are_said_in_both_languages_and_stay_english_in_json() -> None:
    from provisioner.commands import doctor

    language.choose("id")  # as `provisioner --lang id doctor`: the check is made in Indonesian
    check = doctor.key_check(load_inventory(LOCAL_INVENTORY))
    assert check.texts("id")["name"] == "kunci TSIG dapat dibaca"
    assert check.as_dict()["name"] == "TSIG key readable"
    assert check.as_dict()["texts"]["id"]["name"] == "kunci TSIG dapat dibaca"


@pytest.mark.parametrize(("options", "said"), [(["--lang", "id"], "cli, versi "), ([], "cli, version ")])
def test_the_version_is_said_in_the_chosen_language(options: list[str], said: str) -> None:
    result = _invoke([*options, "--version"], ENGLISH)
    assert result.exit_code == 0 and result.output.startswith(said)


def test_the_run_progress_words_follow_the_language() -> None:
    from rich.console import Console

    from provisioner.display import LiveDisplay

    language.choose("id")
    console = Console(record=True, width=200)
    display = LiveDisplay(console)
    display({"event": "runner_on_ok", "event_data": {"task": "vhost", "host": "web1", "res": {"changed": True}}})
    display({"event": "runner_on_ok", "event_data": {"task": "vhost", "host": "web2", "res": {}}})
    assert console.export_text().splitlines() == ["  berubah vhost web1", "  ok      vhost web2"]
