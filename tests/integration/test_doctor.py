"""``provisioner doctor`` on the local lab (issue 11): ready when it is up; exit 1 naming the
problem when a service is stopped, an address of the pool is bound by no case, or the TSIG key is
not the server's. The only change it makes (a scratch TXT name per zone) is gone afterwards."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from provisioner import dns as dnsq
from provisioner.inventory import load_inventory
from tests.conftest import LOCAL_INVENTORY, Cli

INV = load_inventory(LOCAL_INVENTORY)


def _problems(result: dict) -> list[str]:
    return [c["name"] for c in result["cases"][0]["checks"] if not c["ok"]]


def test_the_lab_is_ready(cli: Cli, lab: Path) -> None:
    result = cli("doctor", "-i", str(lab))
    assert result.rc == 0, result.out.get("message")
    names = [c["name"] for c in result.out["cases"][0]["checks"]]
    assert "localhost reachable" in names and "named running on localhost" in names
    assert {f"TSIG update in {zone} on localhost" for zone in [*INV.zones, *INV.reverse_zones]} <= set(names)
    assert _problems(result.out) == []
    # The scratch names are gone again.
    key = dnsq.read_tsig_key(INV.tsig_key_file)
    for zone in INV.zones:
        names_left = [str(n) for n, _ in dnsq.transfer(INV.dns_primary.address, zone, key).nodes.items()]
        assert not any("_provisioner-doctor" in n for n in names_left)


@pytest.fixture
def mariadb_stopped(lab: Path) -> Iterator[None]:
    subprocess.run(["service", "mariadb", "stop"], capture_output=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["service", "mariadb", "start"], capture_output=True, check=True)


def test_a_stopped_service_is_exit_1_naming_it(cli: Cli, lab: Path, mariadb_stopped: None) -> None:
    result = cli("doctor", "-i", str(lab))
    assert result.rc == 1
    assert _problems(result.out) == ["mariadbd running on localhost"]
    assert "mariadbd running on localhost" in result.out["message"]


@pytest.fixture
def stray_address(lab: Path) -> Iterator[str]:
    address = str(INV.pool_addresses()[-1])
    subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", INV.public_interface], check=True)
    try:
        yield address
    finally:
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", INV.public_interface], check=False)


def test_an_address_bound_by_no_case_is_exit_1_naming_it(cli: Cli, lab: Path, stray_address: str) -> None:
    result = cli("doctor", "-i", str(lab))
    assert result.rc == 1 and _problems(result.out) == ["pool addresses of localhost free or held by a case"]
    detail = next(c["detail"] for c in result.out["cases"][0]["checks"] if not c["ok"])
    assert stray_address in detail


def test_a_key_the_server_does_not_know_is_exit_1_for_every_zone(cli: Cli, lab: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inventory"
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text((LOCAL_INVENTORY / "hosts.yml").read_text())
    settings = yaml.safe_load((LOCAL_INVENTORY / "group_vars" / "all.yml").read_text())
    del settings["provisioner_tsig_key_file"]
    settings.update(provisioner_tsig_name="provisioner-lab", provisioner_tsig_algorithm="hmac-sha256",
                    provisioner_tsig_secret=base64.b64encode(b"not the key of this server at all").decode(),
                    provisioner_records_dir=str(tmp_path / "records"))
    (folder / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
    result = cli("doctor", "-i", str(folder))
    assert result.rc == 1
    assert _problems(result.out) == [f"TSIG update in {zone} on localhost" for zone in [*INV.zones, *INV.reverse_zones]]
