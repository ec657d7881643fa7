"""The examples on the Vagrant machines: lab up, apply, verify, destroy, lab down, in file order."""

from __future__ import annotations

import re
import time

from provisioner import dns as dnsq
from provisioner.inventory import Inventory
from provisioner.secrets import read_password
from tests.conftest import EXAMPLES, Cli
from tests.vagrant.conftest import VAGRANT_INVENTORY, ssh

CASES = sorted(str(p) for p in EXAMPLES.glob("*.yml"))
PHP, PROXY = "2026-014", "2026-020"
INVENTORY = str(VAGRANT_INVENTORY)
MACHINES = {"web1": "198.18.0.11", "db1": "198.18.0.12", "ns1": "198.18.0.13", "ns2": "198.18.0.14"}


def _by_id(out: dict) -> dict[str, dict]:
    return {case["id"]: case for case in out["cases"]}


def test_the_machines_are_up_with_their_names_and_addresses(vms: Inventory) -> None:
    for name, address in MACHINES.items():
        done = ssh(address, "hostname; ip -4 -o addr show")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == name
        assert f" {address}/24 " in done.stdout


def test_lab_up_builds_the_services_and_a_second_changes_nothing(cli: Cli, vms: Inventory) -> None:
    start = time.monotonic()
    up = cli("lab", "up", "-i", INVENTORY, as_json=False)
    assert up.rc == 0, up.stdout[-3000:] + up.stderr[-3000:]
    print(f"\nlab up {time.monotonic() - start:.0f} s")
    again = cli("lab", "up", "-i", INVENTORY, as_json=False)
    assert again.rc == 0 and "lab is up (changed 0)" in again.stdout, again.stdout[-2000:]


def test_examples_apply_to_the_machines(cli: Cli, vms: Inventory) -> None:
    start = time.monotonic()
    result = cli("apply", *CASES, "-i", INVENTORY)
    assert result.rc == 0, result.out or result.stderr[-3000:]
    print(f"\napply {time.monotonic() - start:.0f} s")
    cases = _by_id(result.out)
    assert sorted(cases) == ["2026-011", PHP, PROXY]
    assert all(check["ok"] for case in cases.values() for check in case["checks"]), cases
    for case in cases.values():
        assert case["public_ip"].startswith("198.19.8."), case
        assert "dns zones on ns2 in step with ns1" in {c["name"] for c in case["checks"]}
        for server in vms.dns_servers:
            assert dnsq.query(server.address, case["fqdn"], "A")[1] == [case["public_ip"]], server.name


def test_database_users_are_granted_from_web1_only(vms: Inventory) -> None:
    db = MACHINES["db1"]
    hosts = ssh(db, "mariadb -N -B -e \"SELECT host FROM mysql.user WHERE user='sikesda'\"").stdout.split()
    assert hosts == [MACHINES["web1"]]
    password = read_password(vms.state_dir, PHP) or ""
    login = f"MYSQL_PWD='{password}' mariadb -h {db} -u sikesda -N -B sikesda -e 'SELECT 1'"
    assert ssh(MACHINES["web1"], login).returncode == 0
    refused = ssh(MACHINES["ns1"], login)
    assert refused.returncode != 0 and re.search(r"not allowed to connect|Access denied", refused.stderr), refused


def test_reapply_changes_nothing(cli: Cli, vms: Inventory) -> None:
    again = cli("apply", *CASES, "-i", INVENTORY)
    assert again.rc == 0 and all(case["changed"] == 0 for case in again.out["cases"]), again.out


def test_verify_all_passes(cli: Cli, vms: Inventory) -> None:
    result = cli("verify", "--all", "-i", INVENTORY)
    assert result.rc == 0, result.out


def test_destroy_cleans_the_machines(cli: Cli, vms: Inventory) -> None:
    installed = _by_id(cli("check", *CASES, "-i", INVENTORY).out)
    result = cli("destroy", *CASES, "-i", INVENTORY, "--drop-database", "--remove-files", "--yes")
    assert result.rc == 0, result.out
    web = ssh(MACHINES["web1"], "ls /etc/apache2/sites-enabled /srv/www; ip -4 -o addr show dev provpub0")
    for case in installed.values():
        assert case["fqdn"] not in web.stdout
        assert f" {case['public_ip']}/" not in web.stdout
        for server in vms.dns_servers:
            assert dnsq.query(server.address, case["fqdn"], "A")[1] == [], server.name
    assert "sikesda" not in ssh(MACHINES["db1"], "mariadb -N -B -e 'SHOW DATABASES'").stdout


def test_lab_down_stops_the_services(cli: Cli, vms: Inventory) -> None:
    down = cli("lab", "down", "-i", INVENTORY, as_json=False)
    assert down.rc == 0, down.stdout[-3000:] + down.stderr[-3000:]
