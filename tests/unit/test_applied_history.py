"""The case files applied, kept for `rollback` and for putting a failed change back (records.py)."""

from __future__ import annotations

from pathlib import Path

from provisioner.records import APPLIED_KEPT, Records


def _applied(records: Records, case_id: str, release: str) -> None:
    """As a run leaves it: case.yml written, then remembered once the run passed."""
    records.put_back_case(case_id, f"# Case {case_id} as applied, copied from x.\nid: {case_id}\nrelease: {release}\n")
    records.remember_applied(case_id)


def test_each_different_case_file_applied_is_kept_once(tmp_path: Path) -> None:
    records = Records(tmp_path)
    _applied(records, "2026-014", "v1.tar.gz")
    _applied(records, "2026-014", "v1.tar.gz")  # a re-apply of the same file adds nothing
    assert len(records.applied_history("2026-014")) == 1
    _applied(records, "2026-014", "v2.tar.gz")
    assert len(records.applied_history("2026-014")) == 2


def test_the_previous_is_the_latest_that_differs_from_what_is_applied_now(tmp_path: Path) -> None:
    records = Records(tmp_path)
    assert records.previous_applied("2026-014") is None
    _applied(records, "2026-014", "v1.tar.gz")
    assert records.previous_applied("2026-014") is None  # only what is live now
    _applied(records, "2026-014", "v2.tar.gz")
    previous = records.previous_applied("2026-014")
    assert previous is not None and "v1.tar.gz" in previous.read_text()
    # A rollback applies v1 again: the previous is then v2, and a comment header alone is no difference.
    records.put_back_case("2026-014", "# other header\nid: 2026-014\nrelease: v1.tar.gz\n")
    records.remember_applied("2026-014")
    previous = records.previous_applied("2026-014")
    assert previous is not None and "v2.tar.gz" in previous.read_text()


def test_only_the_last_ones_are_kept(tmp_path: Path) -> None:
    records = Records(tmp_path)
    for version in range(APPLIED_KEPT + 3):
        _applied(records, "2026-014", f"v{version}.tar.gz")
    history = records.applied_history("2026-014")
    assert len(history) == APPLIED_KEPT
    assert f"v{APPLIED_KEPT + 2}.tar.gz" in history[-1].read_text() and "v3.tar.gz" in history[0].read_text()
