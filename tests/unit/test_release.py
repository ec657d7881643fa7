"""The release folder's name (provisioner/release.py): the archive's name and its content."""

from __future__ import annotations

from pathlib import Path

from provisioner.release import release_id
from tests.conftest import ROOT


def test_the_name_tells_the_archive_and_its_content_apart(tmp_path: Path) -> None:
    example = ROOT / "examples" / "releases" / "sikesda-1.4.2.tar.gz"
    name = release_id(example)
    assert name.startswith("sikesda-1.4.2-") and len(name) == len("sikesda-1.4.2-") + 12
    copy = tmp_path / "sikesda-1.4.2.tar.gz"
    copy.write_bytes(example.read_bytes())
    assert release_id(copy) == name
    copy.write_bytes(example.read_bytes() + b"\0")  # same name, other content: another release
    assert release_id(copy) != name


def test_odd_characters_do_not_reach_the_folder_name(tmp_path: Path) -> None:
    odd = tmp_path / "My App (final) v2.zip"
    odd.write_bytes(b"PK")
    assert release_id(odd).startswith("My-App-final-v2-")
    assert "/" not in release_id(odd) and " " not in release_id(odd)
