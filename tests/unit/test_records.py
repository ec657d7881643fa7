"""The record templates render from fixed data with undefined variables as errors."""

from __future__ import annotations

from pathlib import Path

from provisioner.case import load_case
from provisioner.inventory import load_inventory
from provisioner.records import Records
from provisioner.sites import Site, site_vars
from provisioner.trial import Check
from tests.conftest import EXAMPLES, LOCAL_INVENTORY


def _site() -> Site:
    case = load_case(EXAMPLES / "2026-014-sikesda-php.yml")
    inventory = load_inventory(LOCAL_INVENTORY)
    return Site(case, "198.19.0.30", site_vars(case, "198.19.0.30", inventory, password_file=Path("/x")))


def test_trial_record_lists_each_check_and_escapes_table_cells(tmp_path: Path) -> None:
    checks = [Check("dns A on ns1", True, "ok", 0.001), Check("trial[0] GET /", False, "body | lacks\nx", 0.2)]
    paths = Records(tmp_path).write_trial(_site(), load_inventory(LOCAL_INVENTORY), checks, "2026-11-27T10:00+08:00")
    text = next(p for p in paths if p.suffix == ".md").read_text()
    assert "| Hasil | GAGAL (1 dari 2 pemeriksaan lulus) |" in text
    assert "body \\| lacks x" in text


def test_incident_record_says_what_failed_and_what_was_undone(tmp_path: Path) -> None:
    path = Records(tmp_path).write_incident("2026-014", "sikesda.tarakankota.go.id", "apply", "trial",
                                            ["check 'x': failed"], ["2026-014: Create each MariaDB database"])
    text = path.read_text()
    assert path.parent.name == "insiden"
    assert "check 'x': failed" in text and "Create each MariaDB database" in text


def test_configuration_record_holds_no_password(tmp_path: Path) -> None:
    inventory = load_inventory(LOCAL_INVENTORY)
    site = _site()
    paths = Records(tmp_path).write_configuration(site, inventory, {"apache": "2.4"}, "2026-11-27T10:00+08:00")
    text = (tmp_path / "2026-014" / "konfigurasi.yml").read_text()
    assert "db_password" not in text and "/x" not in text
    assert "fqdn: sikesda.tarakankota.go.id" in text
    assert (tmp_path / "2026-014" / "case.yml") in paths
