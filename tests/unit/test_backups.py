"""Backups' manifests, their checks and retention (provisioner/backups.py), on folders of the test's own."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest

from provisioner import backups, site
from provisioner.case import load_case
from provisioner.errors import InvalidInput
from provisioner.inventory import Inventory, load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY

NOW = dt.datetime(2026, 11, 29, 1, 30, tzinfo=dt.UTC)


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    inv = load_inventory(LOCAL_INVENTORY)
    inv.settings["provisioner_backup_dir"] = str(tmp_path / "backups")
    return inv


def _plan(inventory: Inventory, name: str, when: dt.datetime = NOW) -> backups.Plan:
    case = load_case(next(EXAMPLES.glob(f"*{name}*.yml")))
    built = site.build(case, site.Placement("198.19.0.40", "localhost", "localhost"), inventory,
                       password_file=Path("/dev/null"))
    plan = backups.Plan(built, backups.new_folder(inventory, case.id, when), backups.data_folders(built),
                        built.vars.db is not None)
    if plan.database:
        (plan.folder / backups.DATABASE_FILE).write_bytes(b"dump")
    if plan.members:
        (plan.folder / backups.FILES_FILE).write_bytes(b"archive")
    return plan


def test_a_manifest_names_each_file_with_its_size_and_checksum_owner_only(inventory: Inventory) -> None:
    plan = _plan(inventory, "sikesda")
    manifest = backups.write_manifest(plan, inventory, NOW)
    assert manifest["case"] == "2026-014" and manifest["database"]["engine"] == "mariadb"
    assert manifest["files"]["database.sql.gz"]["size"] == 4
    assert plan.folder.parent == Path(inventory.settings["provisioner_backup_dir"]) / "cases" / "2026-014"
    assert stat.S_IMODE(plan.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((plan.folder / "manifest.json").stat().st_mode) == 0o600
    folder, read = backups.read_checked(plan.folder / "manifest.json", "2026-014")
    assert folder == plan.folder and read == json.loads((plan.folder / "manifest.json").read_text())


def test_a_site_without_a_release_keeps_its_public_folder_one_with_a_release_its_writable_data_only(
        inventory: Inventory) -> None:
    plan = _plan(inventory, "sikesda")
    assert plan.members == []  # a release and nothing writable: the code comes back from the release
    built = site.build(load_case(next(EXAMPLES.glob("vendor/*wordpress*.yml")), release_needed=False),
                       site.Placement("198.19.0.41", "localhost", "localhost"), inventory,
                       password_file=Path("/dev/null"))
    assert backups.data_folders(built) == ["shared"]


@pytest.mark.parametrize("damage", ["altered", "missing", "other case"])
def test_a_backup_that_does_not_match_its_manifest_is_refused(inventory: Inventory, damage: str) -> None:
    plan = _plan(inventory, "sikesda")
    backups.write_manifest(plan, inventory, NOW)
    dump = plan.folder / backups.DATABASE_FILE
    if damage == "altered":
        dump.write_bytes(b"dumq")  # same size, other content
    elif damage == "missing":
        dump.unlink()
    with pytest.raises(InvalidInput) as refused:
        backups.read_checked(plan.folder, "2026-099" if damage == "other case" else "2026-014")
    assert [e.path for e in refused.value.errors] == ["--from"]


def test_not_a_backup_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        backups.read_checked(tmp_path, "2026-014")


def test_a_manifest_is_not_written_for_a_backup_missing_a_file(inventory: Inventory) -> None:
    plan = _plan(inventory, "sikesda")
    (plan.folder / backups.DATABASE_FILE).unlink()
    with pytest.raises(RuntimeError):
        backups.write_manifest(plan, inventory, NOW)
    assert not (plan.folder / backups.MANIFEST).exists()


def test_retention_keeps_the_newest_n_and_drops_those_older_than_the_days_but_never_the_newest(
        inventory: Inventory) -> None:
    plans = [_plan(inventory, "sikesda", NOW - dt.timedelta(days=days)) for days in (40, 20, 10, 1)]
    for plan in plans:
        backups.write_manifest(plan, inventory, NOW)
    unfinished = backups.new_folder(inventory, "2026-014", NOW - dt.timedelta(days=50))  # no manifest
    case_folder = plans[0].folder.parent
    assert backups.prune(case_folder, keep=3, keep_days=None, now=NOW) == [plans[0].folder]
    assert backups.prune(case_folder, keep=3, keep_days=15, now=NOW) == [plans[1].folder]
    assert [p.folder.exists() for p in plans] == [False, False, True, True]
    assert unfinished.exists()  # not a backup: never counted, never removed by retention
    # Long after the last backup, the days would remove them all: the newest stays.
    assert backups.prune(case_folder, keep=5, keep_days=15, now=NOW + dt.timedelta(days=400)) == [plans[2].folder]
    assert plans[3].folder.exists()
