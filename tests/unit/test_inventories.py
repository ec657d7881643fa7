"""The three inventories of the project, and how provisioner reaches a host over SSH."""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.errors import InvalidInput
from provisioner.inventory import TOPOLOGIES, Host, load_inventory
from provisioner.ssh import ssh_settings
from tests.conftest import ROOT

GROUPS = {"web": ["web1"], "db_mariadb": ["db1"], "db_postgresql": ["db1"], "dns_primary": ["ns1"],
          "dns_secondary": ["ns2"]}
ADDRESSES = {"web1": "198.18.0.11", "db1": "198.18.0.12", "ns1": "198.18.0.13", "ns2": "198.18.0.14"}
# The multi-host lab has a second web host besides the four machines of the Vagrantfile.
LAB_WEB2 = "198.18.0.15"
# The Vagrant machines' pool lies outside the local and multi-host labs' 198.19.0.0/23: they may
# be up on the same machine.
POOLS = {"lab": "198.19.0.0/24", "vagrant": "198.19.8.0/24"}


@pytest.mark.parametrize("name", ["lab", "vagrant"])
def test_the_lab_and_vagrant_inventories_name_the_same_four_hosts(name: str) -> None:
    inv = load_inventory(ROOT / "inventories" / name)
    groups = {**GROUPS, "web": ["web1", "web2"]} if name == "lab" else GROUPS
    addresses = {**ADDRESSES, "web2": LAB_WEB2} if name == "lab" else ADDRESSES
    assert {group: inv.groups[group] for group in groups} == groups
    assert {host: inv.hosts[host].address for host in addresses} == addresses
    assert {host.name: host.address for host in inv.web_hosts} == {w: addresses[w] for w in groups["web"]}
    assert inv.pool().with_prefixlen == POOLS[name]
    assert all(inv.pool(web).subnet_of(inv.pool()) for web in inv.web_hosts)


def test_the_lab_web_hosts_have_pools_of_their_own() -> None:
    inv = load_inventory(ROOT / "inventories" / "lab")
    web1, web2 = inv.web_host("web1"), inv.web_host("web2")
    own1, own2 = set(inv.pool_addresses(web1)), set(inv.pool_addresses(web2))
    assert own1 and own2 and not own1 & own2
    assert sorted(own1 | own2) == inv.all_pool_addresses()
    for web, own in ((web1, own1), (web2, own2)):
        shared = inv.shared_address(web)
        assert shared is not None and ipaddress.IPv4Address(shared) in inv.pool(web)
        assert ipaddress.IPv4Address(shared) not in own


def test_the_vagrantfile_defines_the_same_machines_and_addresses() -> None:
    text = (ROOT / "Vagrantfile").read_text()
    for host, address in ADDRESSES.items():
        assert f'"{host}"' in text and f'"{address}"' in text, host
    assert "debian/bookworm64" in text  # VirtualBox
    assert '"provisioner/debian12"' in text  # libvirt: the box of scripts/vagrant-box


def test_the_vagrant_pool_is_outside_the_local_lab_pool() -> None:
    vagrant = load_inventory(ROOT / "inventories" / "vagrant")
    local = load_inventory(ROOT / "inventories" / "local")
    assert not vagrant.pool().overlaps(local.pool())
    assert vagrant.reverse_zones == ["8.19.198.in-addr.arpa"]
    assert vagrant.shared_address(vagrant.web_host("web1")) == "198.19.8.5"


@pytest.mark.skipif(Path("/sys/class/net/provvlan0").exists(), reason="the Vagrant machines' network is up")
@pytest.mark.parametrize("command", [["lab", "up"], ["verify", "--all"], ["lab", "status"]])
def test_nothing_reaches_for_the_vagrant_machines_while_their_network_is_missing(tmp_path: Path,
                                                                                 command: list[str]) -> None:
    # Their addresses would be routed off this machine.
    result = CliRunner().invoke(cli, ["--records", str(tmp_path), *command, "-i", "inventories/vagrant", "--json"])
    out = yaml.safe_load(result.output)
    assert (result.exit_code, out["status"]) == (1, "failed"), result.output
    assert "no link provvlan0" in out["message"] and "vagrant up" in out["message"]


def test_a_private_link_that_is_there_lets_commands_reach_the_machines() -> None:
    inventory = load_inventory(ROOT / "inventories" / "vagrant")
    assert inventory.settings["lab_private_link"] == "provvlan0"
    inventory.settings["lab_private_link"] = "lo"
    assert inventory.machines_not_up is None and inventory.lab_not_up is None


def test_topologies_name_the_project_inventories() -> None:
    assert TOPOLOGIES["local"] == ROOT / "inventories" / "local"
    assert TOPOLOGIES["multi"] == ROOT / "inventories" / "lab"


def test_lab_refuses_both_an_inventory_and_a_topology() -> None:
    result = CliRunner().invoke(cli, ["lab", "status", "-i", "inventories/local", "--topology", "multi"])
    assert result.exit_code == 2
    assert "give -i or --topology, not both" in result.output


def test_lab_refuses_an_unknown_topology() -> None:
    result = CliRunner().invoke(cli, ["lab", "up", "--topology", "cloud"])
    assert result.exit_code == 2
    assert "'cloud' is not one of 'local', 'multi'" in result.output


def test_ssh_settings_follow_the_openssh_configuration_named_by_dash_f(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host 198.18.0.11 web1\n    User root\n    Port 2222\n    IdentityFile /keys/id_lab\n"
                      "    UserKnownHostsFile /keys/known_hosts\n    StrictHostKeyChecking yes\n")
    host = Host("web1", {"ansible_host": "198.18.0.11", "ansible_ssh_args": f"-F {config}"})
    assert ssh_settings(host) == {"address": "198.18.0.11", "user": "root", "port": 2222, "key": "/keys/id_lab",
                                  "known_hosts": "/keys/known_hosts", "check_host_keys": True, "jump": None,
                                  "become_user": None}


def test_inventory_variables_win_over_the_ssh_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host *\n    User nobody\n    IdentityFile /keys/other\n")
    host = Host("db1", {"ansible_host": "198.18.0.12", "ansible_ssh_common_args": f"-o X=y -F {config}",
                        "ansible_user": "vagrant", "ansible_port": 22, "ansible_ssh_private_key_file": "~/k"})
    settings = ssh_settings(host)
    assert (settings["user"], settings["port"], settings["key"]) == ("vagrant", 22, str(Path("~/k").expanduser()))
    assert settings["known_hosts"] == str(Path("~/.ssh/known_hosts").expanduser())


@pytest.mark.parametrize(("variables", "checked"), [
    ({}, True),
    ({"ansible_host_key_checking": False}, False),
    ({"ansible_host_key_checking": "false"}, False),
    ({"ansible_ssh_host_key_checking": True}, True),
])
def test_host_key_checking_is_on_unless_the_inventory_turns_it_off(variables: dict, checked: bool) -> None:
    assert ssh_settings(Host("web1", {"ansible_host": "192.0.2.1", **variables}))["check_host_keys"] is checked


@pytest.mark.parametrize(("variables", "config", "jump"), [
    ({"ansible_ssh_common_args": "-o ProxyJump=admin@bastion.example:2201"}, "",
     {"address": "bastion.example", "user": "admin", "port": 2201}),
    ({"ansible_ssh_common_args": "-J bastion.example,second.example"}, "",
     {"address": "bastion.example", "user": None, "port": 22}),
    ({}, "Host *\n    ProxyJump ops@198.18.0.13\n", {"address": "198.18.0.13", "user": "ops", "port": 22}),
    ({"ansible_ssh_common_args": "-o ProxyJump=none"}, "", None),
])
def test_a_bastion_is_taken_as_openssh_takes_proxyjump(tmp_path: Path, variables: dict, config: str,
                                                       jump: dict | None) -> None:
    if config:
        (tmp_path / "config").write_text(config)
        variables = {"ansible_ssh_args": f"-F {tmp_path / 'config'}"}
    assert ssh_settings(Host("web1", {"ansible_host": "192.0.2.1", **variables}))["jump"] == jump


@pytest.mark.parametrize(("variables", "user"), [
    ({}, None), ({"ansible_become": True}, "root"), ({"ansible_become": "yes", "ansible_become_user": "ops"}, "ops"),
    ({"ansible_become": False, "ansible_become_user": "ops"}, None),
])
def test_become_runs_the_reads_through_sudo(variables: dict, user: str | None) -> None:
    from provisioner.ssh import CheckedParamikoBackend

    settings = ssh_settings(Host("web1", {"ansible_host": "192.0.2.1", **variables}))
    assert settings["become_user"] == user
    command = CheckedParamikoBackend(settings, "web1").get_command("cat /etc/provisioner/sites/x.yml")
    assert command.startswith(f"sudo -u {user} ") if user else command.startswith("cat ")


def test_strict_host_key_checking_no_in_the_configuration_turns_it_off(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host *\n    StrictHostKeyChecking no\n")
    host = Host("web1", {"ansible_host": "192.0.2.1", "ansible_ssh_args": f"-F {config}"})
    assert ssh_settings(host)["check_host_keys"] is False


def _inventory_copy(tmp_path: Path, settings: dict[str, Any], shared: str | None = "198.19.0.5") -> Path:
    folder = tmp_path / "inv"
    shutil.copytree(TOPOLOGIES["local"], folder)
    path = folder / "group_vars" / "all.yml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **settings}))
    hosts = yaml.safe_load((folder / "hosts.yml").read_text())
    hosts["all"]["hosts"]["localhost"]["provisioner_shared_address"] = shared
    (folder / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return folder


def test_a_pool_outside_its_reverse_zones_is_refused(tmp_path: Path) -> None:
    folder = _inventory_copy(tmp_path, {"provisioner_reverse_zones": ["0.19.198.in-addr.arpa"]})
    with pytest.raises(InvalidInput) as info:
        load_inventory(folder)
    assert [e.path for e in info.value.errors] == ["group_vars/all.provisioner_reverse_zones"]
    assert "no zone holds the PTR of 198.19.1.254" in info.value.errors[0].message


@pytest.mark.parametrize("shared", ["198.19.0.20", "198.20.0.5", "not-an-address"])
def test_a_shared_address_in_the_auto_range_or_outside_the_pool_is_refused(tmp_path: Path, shared: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_inventory(_inventory_copy(tmp_path, {}, shared=shared))
    assert [e.path for e in info.value.errors] == ["host_vars/localhost.provisioner_shared_address"]


def test_the_local_lab_pool_fits_the_fleet_bench() -> None:
    inventory = load_inventory(TOPOLOGIES["local"])
    [web] = inventory.web_hosts
    assert len(inventory.pool_addresses(web)) >= 500
    assert inventory.pool_addresses(web) == inventory.pool_addresses() == inventory.all_pool_addresses()
    assert inventory.shared_address(web) == "198.19.0.5"


def test_ansible_checks_host_keys_unless_the_inventory_is_a_lab() -> None:
    # A production inventory copied from a lab's must not inherit "no host-key check" from the
    # project's ansible.cfg: the lab inventories that need it say so themselves.
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "playbooks" / "ansible.cfg")
    assert config.getboolean("defaults", "host_key_checking", fallback=True) is True


def test_openssh_is_called_as_ansible_calls_it(tmp_path: Path) -> None:
    from provisioner.openssh import ssh_command

    host = Host("web1", {"ansible_host": "198.18.0.11", "ansible_ssh_args": f"-F {tmp_path / 'config'}",
                         "ansible_ssh_common_args": "-o ProxyJump=ops@198.18.0.13", "ansible_user": "deploy",
                         "ansible_port": 2222, "ansible_ssh_private_key_file": "~/keys/id"})
    argv = ssh_command(host)
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    assert argv[-2:] == ["--", "198.18.0.11"]
    options = argv[5:-2]
    assert options[:2] == ["-F", str(tmp_path / "config")]  # the inventory's ssh_args replace the default
    assert not any("Control" in option for option in options) and "StrictHostKeyChecking=no" not in options
    # The inventory's user, port and key come before the common arguments: OpenSSH takes the first value.
    assert options.index("User=deploy") < options.index("ProxyJump=ops@198.18.0.13")
    assert "Port=2222" in options and f"IdentityFile={Path('~/keys/id').expanduser()}" in options


def test_openssh_without_ssh_args_shares_a_master_connection_of_ours(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner import openssh

    short = Path(tempfile.mkdtemp(prefix="ssh-"))  # a socket's path must stay short
    try:
        monkeypatch.setattr(openssh, "CONTROL_DIR", short / "ssh")
        argv = openssh.ssh_command(Host("web1", {"ansible_host": "192.0.2.1", "ansible_host_key_checking": False}))
        assert f"ControlPath={short / 'ssh'}/%C" in argv and "ControlPersist=60s" in argv
        assert (short / "ssh").stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(short)
    assert {"StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"} <= set(argv)
    monkeypatch.setattr(openssh, "CONTROL_DIR", tmp_path / ("long" * 30))  # too long for a socket's path
    assert not any("Control" in option for option in openssh.ssh_command(Host("web1", {"ansible_host": "192.0.2.1"})))


def _fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """An ``ssh`` first on PATH that logs its arguments and runs ``script`` (given the remote command)."""
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "ssh"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\nfor last; do :; done\n{script}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    return tmp_path / "argv"


def test_reads_over_openssh_run_the_command_and_keep_its_status(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner.openssh import OpenSSHBackend

    logged = _fake_ssh(tmp_path, monkeypatch, 'exec sh -c "$last"')
    host = Host("web1", {"ansible_host": "192.0.2.1", "ansible_ssh_args": "-F /dev/null"})
    backend = OpenSSHBackend(host)
    out = backend.run("echo %s; echo err >&2; exit 3", "it's here")
    assert (out.rc, out.stdout, out.stderr) == (3, "it's here\n", "err\n")
    assert logged.read_text().splitlines()[-2:] == ["192.0.2.1", "echo 'it'\"'\"'s here'; echo err >&2; exit 3"]
    become = OpenSSHBackend(Host("web1", {**host.vars, "ansible_become": "yes", "ansible_become_user": "ops"}))
    assert become.get_command("cat /etc/provisioner/sites/x.yml").startswith("sudo -u ops ")


@pytest.mark.parametrize(("stderr", "said"), [
    ("ssh: connect to host 192.0.2.1 port 22: No route to host", "No route to host"),
    ("@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@\nHost key verification failed.",
     "its host key does not match the known hosts"),
    ("No ED25519 host key is known for 192.0.2.1 and you have requested strict checking.\n"
     "Host key verification failed.", "its host key is not in the known hosts"),
])
def test_a_connection_openssh_could_not_make_names_the_host_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    stderr: str, said: str) -> None:
    from provisioner.openssh import OpenSSHBackend

    _fake_ssh(tmp_path, monkeypatch, f"printf '%s\\n' '{stderr}' >&2; exit 255")
    with pytest.raises(OSError, match=rf"ssh to web1 \(192\.0\.2\.1\): .*{said}"):
        OpenSSHBackend(Host("web1", {"ansible_host": "192.0.2.1", "ansible_ssh_args": "-F /dev/null"})).run("true")


@pytest.mark.parametrize(("connection", "backend"), [("ssh", "OpenSSHBackend"), ("smart", "OpenSSHBackend"),
                                                     ("paramiko", "CheckedParamikoBackend")])
def test_a_remote_host_is_read_the_way_its_inventory_connects_to_it(connection: str, backend: str) -> None:
    from provisioner.hosts import Hosts

    inventory = load_inventory(TOPOLOGIES["multi"])
    web = inventory.web_host("web1")
    host = type(web)("web1", {**web.vars, "ansible_connection": connection})
    assert type(Hosts(inventory).get(host).backend).__name__ == backend
