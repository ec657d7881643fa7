"""A fleet in one run: 100 generated cases, shared and own addresses mixed (issue 10).

One apply of all of them (site data reaches Ansible through a file: 100 cases once crashed with
E2BIG), a re-apply that changes nothing without running Ansible, a verify of every one, and one
destroy; then the pool and the shared address are as before.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provisioner import dns as dnsq
from provisioner.inventory import load_inventory
from tests import fleet
from tests.conftest import Cli

COUNT = 100
INV = load_inventory(Path(__file__).resolve().parents[2] / "inventories" / "local")
SHARED = INV.shared_address(INV.web_host("localhost"))


@pytest.fixture(scope="module")
def fleet_cases(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The generated case files, none of them installed (left over by an earlier session)."""
    paths = fleet.write(tmp_path_factory.mktemp("fleet"), COUNT)
    gone = cli("destroy", *paths, "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out.get("message")
    return paths


def _runs() -> set[str]:
    return {p.name for p in (INV.state_dir / "runs").iterdir()}


def test_a_fleet_applies_in_one_run(cli: Cli, lab: Path, fleet_cases: list[str]) -> None:
    result = cli("apply", *fleet_cases, "-i", str(lab))
    assert result.rc == 0, result.out.get("message")
    cases = result.out["cases"]
    assert len(cases) == COUNT and all(c["checks"] and all(k["ok"] for k in c["checks"]) for c in cases)
    shared = [c for c in cases if c["public_ip"] == SHARED]
    assert len(shared) == COUNT // 4
    own = [c["public_ip"] for c in cases if c not in shared]
    assert len(set(own)) == len(own)
    # A site on the shared address answers by name; the address's PTR is not given to any site.
    assert dnsq.query(INV.dns_primary.address, shared[0]["fqdn"], "A")[1] == [SHARED]
    ptr = dnsq.query(INV.dns_primary.address, dnsq.reverse_name(str(SHARED)), "PTR")[1]
    assert not any(c["fqdn"] in " ".join(ptr) for c in shared)


def test_the_fleet_again_changes_nothing_and_runs_no_ansible(cli: Cli, lab: Path, fleet_cases: list[str]) -> None:
    runs = _runs()
    result = cli("apply", *fleet_cases, "-i", str(lab))
    assert result.rc == 0, result.out.get("message")
    assert {(c["changed"], c.get("note")) for c in result.out["cases"]} == {(0, "unchanged")}
    assert _runs() == runs


def test_the_fleet_verifies(cli: Cli, lab: Path, fleet_cases: list[str]) -> None:
    result = cli("verify", *fleet_cases, "-i", str(lab))
    assert result.rc == 0, result.out.get("message")
    assert len(result.out["cases"]) == COUNT
    failed = [(c["id"], k["name"]) for c in result.out["cases"] for k in c["checks"] if not k["ok"]]
    assert failed == []


def test_the_fleet_goes_in_one_destroy(cli: Cli, lab: Path, fleet_cases: list[str]) -> None:
    result = cli("destroy", *fleet_cases, "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert result.rc == 0, result.out.get("message")
    bound = set(subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", INV.public_interface],
                               capture_output=True, text=True, check=True).stdout.split())
    # Own addresses are released; the shared address stays: it is the host's.
    assert not any(f"{c['public_ip']}/32" in bound for c in result.out["cases"]
                   if c["public_ip"] != SHARED)
    assert f"{SHARED}/32" in bound
    for case in result.out["cases"][:10]:
        assert dnsq.query(INV.dns_primary.address, case["fqdn"], "A")[1] == []
