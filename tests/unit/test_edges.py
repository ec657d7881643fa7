"""Edges a new user found: case files with anchors or too large, refused before the YAML is built;
`verify --all` with nothing installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.case import MAX_CASE_BYTES, load_case
from provisioner.errors import InvalidInput
from tests.conftest import EXAMPLES

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))


def test_a_billion_laughs_is_refused_naming_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yml"
    path.write_text(LAUGHS)
    assert len(LAUGHS) < 800  # expanded, 9**9 strings: refused from the event stream, never built
    with pytest.raises(InvalidInput, match="anchors or aliases") as refused:
        load_case(path)
    assert "YAML anchor 'a' at line 1" in refused.value.errors[0].message


def test_a_single_alias_is_refused_too(tmp_path: Path) -> None:
    text = next(EXAMPLES.glob("*ppid*.yml")).read_text().replace("opd:", "opd: &unit", 1)
    path = tmp_path / "case.yml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match="anchors or aliases"):
        load_case(path)


def test_a_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text("# padding\n" * (2 * MAX_CASE_BYTES // 10))
    with pytest.raises(InvalidInput, match="too large") as refused:
        load_case(path)
    assert f"at most {MAX_CASE_BYTES} are allowed" in refused.value.errors[0].message


def test_the_examples_still_load() -> None:
    assert [load_case(p).id for p in sorted(EXAMPLES.glob("*.yml"))]


def test_verify_all_with_nothing_installed_is_not_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from provisioner.commands import verify
    from provisioner.commands.base import Context
    from tests.conftest import LOCAL_INVENTORY

    class NothingInstalled:
        def __init__(self, inventory: object) -> None:
            pass

        def registry(self) -> dict[str, object]:
            return {"2026-099": {"case": "2026-099", "removed": True, "kept": ["database"], "web_host": "localhost"}}

    monkeypatch.setattr(verify, "Hosts", NothingInstalled)
    report = verify.run(Context(inventory_path=LOCAL_INVENTORY, records=tmp_path), [], all_cases=True)
    assert report.exit_code == 0 and report.cases == []
    assert report.message.startswith("0 cases installed")


def test_destroy_and_verify_take_case_ids_and_need_no_release(tmp_path: Path) -> None:
    from provisioner.commands.base import Context, case_file

    records = tmp_path / "records"
    (records / "2026-031").mkdir(parents=True)
    text = next(EXAMPLES.glob("*sikesda*.yml")).read_text()
    release = "/nonexistent/moved/sikesda-1.4.2.tar.gz"
    text = "\n".join(f"  release: {release}" if line.strip().startswith("release:") else line
                     for line in text.splitlines())
    (records / "2026-031" / "case.yml").write_text(text)
    ctx = Context(inventory_path=None, records=records)
    path = case_file(ctx, "2026-031")
    assert path == records / "2026-031" / "case.yml"
    with pytest.raises(InvalidInput) as needed:
        load_case(path)  # apply needs it
    assert "does not exist" in needed.value.errors[0].message
    assert str(load_case(path, release_needed=False).release) == release
    with pytest.raises(InvalidInput) as unknown:
        case_file(ctx, "2026-999")
    assert "neither a case file nor a case id" in unknown.value.errors[0].message
