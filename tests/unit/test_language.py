"""Messages in Indonesian on request: every marked message has its translation, and the command
line speaks Indonesian for ``--lang id`` or ``LANG=id_ID.UTF-8``, with paths and --json keys unchanged."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from click.testing import CliRunner

from provisioner import language
from provisioner.cli import cli
from tests.conftest import ROOT, example

MARKED = sorted({message for _, _, message, _, _ in extract_from_dir(
    str(ROOT / "provisioner"), keywords={"_": None, "N_": None}) if isinstance(message, str)})


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
