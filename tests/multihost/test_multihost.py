"""The examples on four hosts over SSH: grants name web1 only, ns2 follows ns1, every host cleaned.

Order matters within this module (pytest keeps file order): apply, then what must hold, then
destroy, then lab down.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from pathlib import Path

import pytest

from provisioner import dns as dnsq
from provisioner.hosts import Hosts
from provisioner.inventory import Inventory
from provisioner.secrets import read_password
from tests.conftest import EXAMPLES, Cli, assert_no_secret_leaked, example
from tests.multihost.conftest import machine_configuration, ssh

CASES = sorted(str(p) for p in EXAMPLES.glob("*.yml"))
PHP, PROXY = "2026-014", "2026-020"


def _by_id(out: dict) -> dict[str, dict]:
    return {case["id"]: case for case in out["cases"]}


def _db_login(inv: Inventory, case: str, from_host: str) -> subprocess.CompletedProcess[str]:
    """Log in to the case's database from ``from_host`` with the application's own settings."""
    password = read_password(inv.state_dir, case) or ""
    db = inv.database_host("mariadb" if case == PHP else "postgresql").address
    if case == PHP:
        command = f"MYSQL_PWD='{password}' mariadb -h {db} -u sikesda -N -B sikesda -e 'SELECT 1'"
    else:
        command = (f"PGPASSWORD='{password}' PGCONNECT_TIMEOUT=5 psql -h {db} -U simpeg_app -d simpeg "
                   "-tA -c 'SELECT 1'")
    return ssh(from_host, command)


def _used_paramiko(run: Path) -> bool:
    """Whether the run's Ansible connected with its paramiko plugin (ansible-core 2.19 warns of its use)."""
    for path in (run / "artifacts" / "run" / "job_events").glob("*.json"):
        res = json.loads(path.read_text()).get("event_data", {}).get("res") or {}
        if any("paramiko connection plugin" in str(d.get("msg")) for d in res.get("deprecations") or []):
            return True
    return False


def test_lab_is_up_on_four_hosts_and_a_second_lab_up_changes_nothing(cli: Cli, multi: Inventory) -> None:
    again = cli("lab", "up", "--topology", "multi", as_json=False)
    assert again.rc == 0 and "lab is up (changed 0)" in again.stdout, again.stdout[-2000:]
    status = cli("lab", "status", "--topology", "multi")
    assert status.rc == 0, status.out
    names = {c["name"] for c in status.out["cases"][0]["checks"]}
    assert {"named running on ns1", "named running on ns2", "mariadbd running on db1",
            "postgres running on db1", "apache2 running on web1"} <= names
    # Each host sees its own processes only: no Apache on the name servers, no named on web1.
    assert "named" not in ssh("web1", "ps -e -o comm=").stdout.split()
    assert "apache2" not in ssh("ns1", "ps -e -o comm=").stdout.split()
    assert ssh("db1", "hostname").stdout.strip() == "db1"


def test_the_local_lab_cannot_come_up_beside_it(cli: Cli, multi: Inventory) -> None:
    before = machine_configuration()
    refused = cli("lab", "up", as_json=False)
    assert refused.rc == 1
    assert "lab down --topology multi" in refused.stdout + refused.stderr
    assert machine_configuration() == before


def test_examples_apply_across_the_hosts(cli: Cli, multi: Inventory) -> None:
    for case in CASES:  # leftovers of an interrupted earlier session
        cli("destroy", case, "-i", str(multi.path), "--drop-database", "--remove-files", "--yes")
    result = cli("apply", *CASES, "-i", str(multi.path))
    assert result.rc == 0, result.out
    cases = _by_id(result.out)
    assert sorted(cases) == ["2026-011", PHP, PROXY]
    assert all(check["ok"] for case in cases.values() for check in case["checks"]), cases
    # Both name servers answer the new names at the same SOA serial once apply has returned.
    for zone in [*multi.zones, *multi.reverse_zones]:
        serials = {s.name: dnsq.soa_serial(s.address, zone) for s in multi.dns_servers}
        assert len(set(serials.values())) == 1, serials
    for case in cases.values():
        for server in multi.dns_servers:
            assert dnsq.query(server.address, case["fqdn"], "A")[1] == [case["public_ip"]], server.name
        checks = {c["name"] for c in case["checks"]}
        assert "dns zones on ns2 in step with ns1" in checks


def test_sites_answer_on_their_public_address_from_the_root_namespace(cli: Cli, multi: Inventory) -> None:
    case = _by_id(cli("check", str(EXAMPLES / "2026-014-sikesda-php.yml"), "-i", str(multi.path)).out)[PHP]
    conn = http.client.HTTPConnection(case["public_ip"], 80, timeout=5)
    conn.request("GET", "/", headers={"Host": case["fqdn"]})
    body = conn.getresponse().read().decode()
    assert "database: ok (mariadb)" in body, body  # PHP on web1 reached MariaDB on db1
    route = subprocess.run(["ip", "route", "get", case["public_ip"]], capture_output=True, text=True, check=True)
    assert f"via {multi.web.address}" in route.stdout, route.stdout


def test_database_users_are_granted_from_web1_only(multi: Inventory) -> None:
    hosts = ssh("db1", "mariadb -N -B -e \"SELECT host FROM mysql.user WHERE user='sikesda'\"").stdout.split()
    assert hosts == [multi.web.address]
    hba = ssh("db1", "grep -v '^#' /etc/postgresql/15/main/pg_hba.conf").stdout
    assert re.search(rf"host\s+simpeg\s+simpeg_app\s+{re.escape(multi.web.address)}/32", hba), hba
    for case in (PHP, PROXY):
        assert _db_login(multi, case, "web1").returncode == 0, case
        refused = _db_login(multi, case, "ns1")
        assert refused.returncode != 0, case
        assert re.search(r"not allowed to connect|Access denied|no pg_hba.conf entry", refused.stderr), refused.stderr


def test_reapply_changes_nothing_over_openssh_and_over_paramiko(cli: Cli, multi: Inventory) -> None:
    unchanged = {"2026-011": 0, PHP: 0, PROXY: 0}
    fast = cli("apply", *CASES, "-i", str(multi.path))
    assert fast.rc == 0, fast.out
    assert {case.get("note") for case in fast.out["cases"]} == {"unchanged"}
    # --full: Ansible runs (it is the connections that are under test), and still changes nothing.
    again = cli("apply", *CASES, "-i", str(multi.path), "--full")
    assert again.rc == 0, again.out
    assert {case["id"]: case["changed"] for case in again.out["cases"]} == unchanged
    # Ansible's paramiko connection (Mitogen drives OpenSSH only, so the linear strategy here).
    paramiko = cli("apply", *CASES, "-i", str(multi.path), "--full",
                   env={"ANSIBLE_TRANSPORT": "paramiko", "PROVISIONER_STRATEGY": "linear"})
    assert paramiko.rc == 0, paramiko.out
    assert {case["id"]: case["changed"] for case in paramiko.out["cases"]} == unchanged
    runs = sorted((multi.state_dir / "runs").glob("*-provision"))
    assert _used_paramiko(runs[-1]) and not _used_paramiko(runs[-2])


def test_host_keys_are_checked_against_this_boots_known_hosts(multi: Inventory, tmp_path: Path) -> None:
    web = multi.web
    assert Hosts(multi).get(web).run("hostname").stdout.strip() == "web1"
    empty = tmp_path / "config"
    empty.write_text(f"Host {web.address}\n    UserKnownHostsFile {tmp_path / 'none'}\n")
    stranger = type(web)(web.name, {**web.vars, "ansible_ssh_args": f"-F {empty}"})
    with pytest.raises(OSError, match="not found in known_hosts"):
        Hosts(multi).get(stranger).run("true")


def test_reads_go_through_a_bastion_as_with_proxyjump(multi: Inventory) -> None:
    # web1 reached through ns1, as `-o ProxyJump=` in the inventory makes OpenSSH (and Ansible) do.
    web, bastion = multi.web, multi.dns_primary
    jumped = type(web)(web.name, {**web.vars, "ansible_ssh_common_args": f"-o ProxyJump=root@{bastion.address}"})
    out = Hosts(multi).get(jumped).run("echo $SSH_CONNECTION; hostname").stdout.split()
    assert (out[0], out[-1]) == (bastion.address, "web1")
    assert Hosts(multi).get(web).run("echo $SSH_CONNECTION").stdout.split()[0] != bastion.address


def test_an_unreachable_database_host_fails_the_run_before_any_change(cli: Cli, multi: Inventory,
                                                                     write_case) -> None:
    data = example("sikesda")
    data["id"] = "2026-901"
    data["application"]["name"] = data["hosting"]["subdomain"] = "putus"
    case = write_case(data)
    subprocess.run(["ip", "link", "set", "pl-db1", "down"], check=True)
    try:
        result = cli("apply", str(case), "-i", str(multi.path))
    finally:
        subprocess.run(["ip", "link", "set", "pl-db1", "up"], check=True)
    assert result.rc == 1, result.out
    assert "cannot be read" in result.out["message"] and "nothing was changed" in result.out["message"]
    assert "198.18.0.12" in result.out["message"] or "db1" in result.out["message"], result.out["message"]
    leftovers = ssh("web1", "ls /etc/apache2/sites-available /etc/provisioner/sites; getent passwd putus")
    assert "putus" not in leftovers.stdout
    assert "putus" not in ssh("db1", "mariadb -N -B -e 'SHOW DATABASES'").stdout


def test_verify_all_passes_on_every_host(cli: Cli, multi: Inventory) -> None:
    result = cli("verify", "--all", "-i", str(multi.path))
    assert result.rc == 0, result.out


def test_the_machine_own_configuration_is_untouched(multi: Inventory, before_lab: dict[str, str]) -> None:
    assert machine_configuration() == before_lab
    assert not list(Path("/etc/apache2/sites-enabled").glob("*.tarakankota.go.id.conf"))
    assert "sikesda" not in Path("/etc/passwd").read_text()


def test_no_secret_appears_in_records_artifacts_or_output(cli: Cli, multi: Inventory, records: Path) -> None:
    assert_no_secret_leaked(multi.state_dir, records, cli.outputs)


def test_destroy_cleans_every_host(cli: Cli, multi: Inventory) -> None:
    installed = _by_id(cli("check", *CASES, "-i", str(multi.path)).out)
    result = cli("destroy", *CASES, "-i", str(multi.path), "--drop-database", "--remove-files", "--yes")
    assert result.rc == 0, result.out
    web = ssh("web1", "ls /etc/apache2/sites-enabled /etc/provisioner/sites /srv/www; ip -4 -o addr show dev provpub0")
    assert web.returncode == 0, web.stderr
    assert ssh("web1", "getent passwd sikesda").returncode == 2
    for case in installed.values():
        assert case["fqdn"] not in web.stdout
        assert f" {case['public_ip']}/" not in web.stdout
        for server in multi.dns_servers:
            assert dnsq.query(server.address, case["fqdn"], "A")[1] == [], server.name
    assert "sikesda" not in ssh("db1", "mariadb -N -B -e 'SHOW DATABASES'").stdout
    assert "simpeg" not in ssh("db1", "runuser -u postgres -- psql -tA -c 'SELECT datname FROM pg_database'").stdout


def _control_path() -> str:
    found = re.search(r"^\s+ControlPath (\S+)", Path("/run/provisioner-lab/ssh/config").read_text(), re.M)
    assert found is not None
    return found.group(1)


@pytest.mark.lab_lifecycle
def test_lab_down_removes_every_host_and_a_new_boot_never_reuses_a_master(cli: Cli, multi: Inventory,
                                                                          before_lab: dict[str, str]) -> None:
    old_path = _control_path()
    assert ssh("ns1", "true").returncode == 0  # a master is open now
    down = cli("lab", "down", "--topology", "multi", as_json=False)
    assert down.rc == 0, down.stdout[-3000:]
    assert not Path("/run/provisioner-lab").exists()
    assert not Path("/sys/class/net/provlab0").exists()
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.strip() == ""
    old_boot = old_path.split("cm-")[1].split("-")[0]
    masters = subprocess.run(["pgrep", "-af", f"cm-{old_boot}"], capture_output=True, text=True).stdout
    assert masters == "", masters
    assert "198.19.0.0/24" not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert machine_configuration() == before_lab

    up = cli("lab", "up", "--topology", "multi", as_json=False)
    assert up.rc == 0, up.stdout[-3000:]
    assert _control_path() != old_path
    assert ssh("web1", "hostname").stdout.strip() == "web1"
    down = cli("lab", "down", "--topology", "multi", as_json=False)
    assert down.rc == 0


@pytest.mark.lab_lifecycle
def test_with_the_lab_down_nothing_reaches_for_its_hosts(cli: Cli, multi: Inventory) -> None:
    """Its addresses would be routed off this machine: every command stops before trying."""
    assert cli("lab", "down", "--topology", "multi").rc == 0  # already down after the test above
    assert not Path("/run/provisioner-lab").exists()
    for command in (("check", CASES[0]), ("apply", CASES[0]), ("verify", "--all"), ("destroy", CASES[0])):
        result = cli(*command, "-i", str(multi.path))
        assert result.rc == 1, command
        assert "are not up" in result.out["message"] and "lab up --topology multi" in result.out["message"]
    again = cli("lab", "down", "--topology", "multi")
    assert again.rc == 0 and "down already" in again.out["message"]
    assert cli("lab", "status", "--topology", "multi").rc == 1
