"""Backups and restore on the embedded lab (issue 14): what the example PHP application wrote, in
its database and in its writable folder, survives backup, destroy --drop-database
--remove-files, apply and restore; a backup whose files do not match its manifest is refused.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.inventory import load_inventory
from tests.conftest import Cli, example

UPLOAD = "uploads/surat-edaran.txt"


def _visits(case: dict[str, Any]) -> int:
    """Ask the application's page once (it records the visit) and read the count it shows."""
    conn = http.client.HTTPConnection(case["public_ip"], 80, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": case["fqdn"]})
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200, body
    found = re.search(r"kunjungan: (\d+)", body)
    assert found, body
    return int(found.group(1))


@pytest.fixture(scope="module")
def php_case(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The MariaDB PHP case uji-cadangan, one file for the module. The first test leaves it installed
    and the retention test's apply then finds it as its case file says (no Ansible run); destroyed
    at the end of the module whatever the tests left (nothing to do after a full run)."""
    data = example("sikesda")
    data["id"] = "uji-cadangan"
    data["application"].update(name="cadangan", writable=["uploads"])
    data["application"]["release"] = str(Path(__file__).resolve().parents[2] / "examples" / "releases"
                                         / "sikesda-1.4.2.tar.gz")
    data["hosting"]["subdomain"] = "cadangan"
    path = tmp_path_factory.mktemp("cadangan") / "case.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    yield path
    gone = cli("destroy", str(path), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out


def test_a_backup_brings_back_the_applications_rows_and_files_after_the_case_was_destroyed(
        cli: Cli, lab: Path, php_case: Path) -> None:
    cli("destroy", str(php_case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    applied = cli("apply", str(php_case), "-i", str(lab))
    assert applied.rc == 0, (applied.out, applied.stderr[-3000:])
    case = applied.out["cases"][0]
    root = Path("/srv/www") / case["fqdn"]
    for _ in range(10):
        _visits(case)
    written = _visits(case)
    assert written >= 11
    upload = root / "shared" / UPLOAD  # as the application would write it, as its user
    upload.write_text("Surat edaran nomor 800/123\n")
    os.chown(upload, *(lambda s: (s.st_uid, s.st_gid))(upload.parent.stat()))

    made = cli("backup", str(php_case), "-i", str(lab))
    assert made.rc == 0, made.out
    manifest_path = Path(made.out["cases"][0]["records"][0])
    manifest = json.loads(manifest_path.read_text())
    assert manifest["case"] == "uji-cadangan" and manifest["folders"] == ["shared"]
    assert set(manifest["files"]) == {"database.sql.gz", "files.tar.gz"}
    assert stat.S_IMODE(manifest_path.parent.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in manifest_path.parent.iterdir())

    gone = cli("destroy", str(php_case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out
    assert not root.exists()
    again = cli("apply", str(php_case), "-i", str(lab))
    assert again.rc == 0, again.out
    assert _visits(case) < written  # a new, empty database
    assert not (root / "shared" / UPLOAD).exists()

    restored = cli("restore", str(php_case), "--from", str(manifest_path.parent), "-i", str(lab))
    assert restored.rc == 0, (restored.out, restored.stderr[-3000:])
    checks = restored.out["cases"][0]["checks"]
    assert all(check["ok"] for check in checks)
    # The application shows its rows again, counting on after the restore's trial (each of its
    # requests of the page is a visit) and this one; and its file is back.
    trial_visits = sum(1 for check in checks if check["id"] in ("http.answers", "http.case_trial"))
    assert trial_visits == 3
    assert _visits(case) == written + trial_visits + 1
    assert (root / "shared" / UPLOAD).read_text() == "Surat edaran nomor 800/123\n"
    assert (root / "shared" / UPLOAD).stat().st_uid == (root / "shared" / "uploads").stat().st_uid

    # A backup whose files were altered is refused, and nothing changes.
    dump = manifest_path.parent / "database.sql.gz"
    dump.write_bytes(dump.read_bytes() + b"\0")
    refused = cli("restore", str(php_case), "--from", str(manifest_path), "-i", str(lab))
    assert refused.rc == 2, refused.out
    assert any(e["path"] == "--from" and "database.sql.gz" in e["message"] for e in refused.out["errors"])
    assert _visits(case) == written + trial_visits + 2


def _psql(database: str, sql: str) -> str:
    done = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-Atq", "-v", "ON_ERROR_STOP=1", "-d", database,
                           "-c", sql], capture_output=True, text=True, check=True)
    return done.stdout


def test_a_postgresql_database_is_restored_in_place_and_stays_its_owners(cli: Cli, lab: Path,
                                                                        write_case: Any) -> None:
    data = example("simpeg")
    data["id"] = "uji-cadangan-pg"
    data["application"]["name"] = "cadanganpg"
    data["hosting"]["subdomain"] = "cadanganpg"
    data["hosting"]["database"].update(name="cadanganpg", user="cadanganpg_app")
    case = write_case(data, "pg.yml")
    cli("destroy", str(case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    applied = cli("apply", str(case), "-i", str(lab))
    assert applied.rc == 0, applied.out
    try:
        owner = _psql("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'cadanganpg'")
        owner = owner.strip()
        assert owner == "cadanganpg_app"
        _psql("cadanganpg", f"SET ROLE {owner}; CREATE TABLE catatan (isi text); INSERT INTO catatan VALUES ('x')")
        made = cli("backup", str(case), "-i", str(lab))
        assert made.rc == 0, made.out
        _psql("cadanganpg", f"SET ROLE {owner}; INSERT INTO catatan VALUES ('y')")
        restored = cli("restore", str(case), "--from", made.out["cases"][0]["records"][0], "-i", str(lab))
        assert restored.rc == 0, restored.out
        assert _psql("cadanganpg", "SELECT isi FROM catatan").split() == ["x"]  # as backed up
        assert _psql("cadanganpg", "SELECT tableowner FROM pg_tables WHERE tablename = 'catatan'").strip() == owner
    finally:
        cli("destroy", str(case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")


def test_retention_keeps_the_newest_backups(cli: Cli, lab: Path, php_case: Path) -> None:
    """The case stays installed: the next test destroys it (the module's teardown, run alone)."""
    applied = cli("apply", str(php_case), "-i", str(lab))
    assert applied.rc == 0, applied.out
    folders = []
    for _ in range(3):
        made = cli("backup", str(php_case), "-i", str(lab), "--keep", "2")
        assert made.rc == 0, made.out
        folders.append(Path(made.out["cases"][0]["records"][0]).parent)
    assert [f.exists() for f in folders] == [False, True, True]
    state = load_inventory(lab)
    assert folders[-1].parent == Path(state.settings["provisioner_backup_dir"]) / "cases" / "uji-cadangan"


def test_a_case_that_is_not_installed_has_nothing_to_back_up(cli: Cli, lab: Path, php_case: Path) -> None:
    # After the tests above, the case restored by the first one goes here (nothing to do when run alone).
    gone = cli("destroy", str(php_case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out
    refused = cli("backup", str(php_case), "-i", str(lab))
    assert refused.rc == 2, refused.out
    assert refused.out["errors"][0]["path"] == "CASE"
