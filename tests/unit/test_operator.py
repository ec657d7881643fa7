"""Who signs steps 9 to 11 in the SOP trail: the person who ran the command, not the Unix account."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
import yaml

from provisioner.commands.base import operator


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("PROVISIONER_OPERATOR", "SUDO_USER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("by", "environment", "pelaksana", "signed"),
    [
        ("Rina Wulandari", {"PROVISIONER_OPERATOR": "budi", "SUDO_USER": "andi"}, "Ahmad", "Rina Wulandari"),
        ("", {"PROVISIONER_OPERATOR": "budi", "SUDO_USER": "andi"}, "Ahmad", "budi"),
        ("", {"SUDO_USER": "andi"}, "Ahmad", "andi"),
        ("", {"SUDO_USER": "root"}, "Ahmad Fauzi", "Ahmad Fauzi"),
        ("", {}, "Ahmad Fauzi", "Ahmad Fauzi"),
    ],
)
def test_the_person_is_named(records: Path, monkeypatch: pytest.MonkeyPatch, by: str, environment: dict[str, str],
                             pelaksana: str, signed: str) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    (records / "documents.yml").write_text(yaml.safe_dump({"pelaksana": pelaksana}))
    assert operator(records, by) == signed


def test_without_anyone_named_the_login_name_is(records: Path) -> None:
    assert operator(records) == getpass.getuser()
