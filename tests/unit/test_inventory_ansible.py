"""Inventories read by Ansible: YAML and INI, group_vars/host_vars files and folders, Vault, the
project's own inventories as before, the TSIG key held in the inventory, where records go."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provisioner import dns as dnsq
from provisioner.commands.base import DEFAULT_RECORDS, Context
from provisioner.errors import EXIT_INVALID, InvalidInput
from provisioner.inventory import TOPOLOGIES, load_inventory
from provisioner.vault import VaultIdentities
from tests.conftest import ROOT
from tests.unit.inventory_helpers import (
    PASSWORD,
    SECRET,
    TSIG_SECRET,
    encrypted,
    inline,
    settings,
    write,
    yaml_inventory,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No cache in the home folder, no vault password from the caller's environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("ANSIBLE_VAULT_IDENTITY_LIST", raising=False)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    return write(tmp_path / "vault-pass", PASSWORD + "\n")


def _vault(*files: Path) -> VaultIdentities:
    return VaultIdentities.from_options(password_files=[str(f) for f in files], environ={})


# The project's inventories: what the earlier reader of hosts.yml and group_vars/all.yml found.

PROJECT_GROUPS = {
    "local": {"all": ["localhost"], "web": ["localhost"], "db_mariadb": ["localhost"],
              "db_postgresql": ["localhost"], "dns_primary": ["localhost"], "dns_secondary": []},
    "lab": {"all": ["localhost", "web1", "web2", "db1", "ns1", "ns2"], "web": ["web1", "web2"],
            "db_mariadb": ["db1"], "db_postgresql": ["db1"], "dns_primary": ["ns1"], "dns_secondary": ["ns2"]},
    "vagrant": {"all": ["localhost", "web1", "db1", "ns1", "ns2"], "web": ["web1"], "db_mariadb": ["db1"],
                "db_postgresql": ["db1"], "dns_primary": ["ns1"], "dns_secondary": ["ns2"]},
}


@pytest.mark.parametrize("name", sorted(PROJECT_GROUPS))
def test_the_project_inventories_read_as_before(name: str) -> None:
    folder = ROOT / "inventories" / name
    inventory = load_inventory(folder)
    written = yaml.safe_load((folder / "hosts.yml").read_text())["all"]["hosts"]
    group_all = yaml.safe_load((folder / "group_vars" / "all.yml").read_text())
    assert {g: inventory.groups[g] for g in PROJECT_GROUPS[name]} == PROJECT_GROUPS[name]
    assert inventory.settings == group_all
    assert {h: host.vars for h, host in inventory.hosts.items()} == {
        h: {**group_all, **(own or {})} for h, own in written.items()}
    assert inventory.path == folder and inventory.name == name


def test_the_lab_settings_keep_their_types() -> None:
    inventory = load_inventory(TOPOLOGIES["multi"])
    assert type(inventory.settings["provisioner_pool"]) is str
    assert type(inventory.settings["lab_upstream_port"]) is int
    assert type(inventory.settings["provisioner_public_ip_persist"]) is bool
    assert [type(z) for z in inventory.settings["provisioner_reverse_zones"]] == [str]


# Formats and variable files.

def test_group_vars_folders_and_host_vars_merge_as_ansible_does(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "more.yml", {"provisioner_php_version": "8.3", "shade": "all"})
    write(folder / "group_vars" / "web" / "apache.yml", {"shade": "web", "web_only": True})
    write(folder / "host_vars" / "web1.yml", {"shade": "web1", "provisioner_address": "10.0.0.11"})
    inventory = load_inventory(folder)
    assert inventory.settings["provisioner_php_version"] == "8.3"
    assert inventory.settings["shade"] == "all"
    web = inventory.web_host("web1")
    assert inventory.web_hosts == [web]
    assert (web.vars["shade"], web.vars["web_only"]) == ("web1", True)
    assert web.address == "10.0.0.11"
    assert inventory.hosts["db1"].vars["shade"] == "all" and "web_only" not in inventory.hosts["db1"].vars
    assert inventory.database_host("postgresql").name == "db1"


def test_an_ini_inventory_file_is_read_with_the_variables_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "production"
    hosts = write(folder / "hosts.ini", "[web]\nweb1 ansible_host=192.0.2.11 provisioner_address=10.0.0.11\n"
                                        "[db_mariadb]\ndb1\n[dns_primary]\nns1 ansible_host=192.0.2.13\n"
                                        "[web:vars]\nansible_user=deploy\n")
    write(folder / "group_vars" / "all.yml", settings(tmp_path))
    inventory = load_inventory(hosts)
    assert inventory.groups["web"] == ["web1"] and inventory.dns_primary.address == "192.0.2.13"
    assert inventory.web_host("web1").vars["ansible_user"] == "deploy"
    assert inventory.zones == ["example.test"]
    assert (inventory.path, inventory.ansible_source, inventory.name) == (folder, hosts, "production")


def test_relative_settings_start_at_the_folder_of_an_inventory_file(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    hosts = write(folder / "hosts.ini", "[web]\nweb1\n")
    write(folder / "group_vars" / "all.yml", settings(tmp_path, provisioner_tsig_key_file="keys/tsig.key",
                                                      provisioner_records_dir="../records"))
    inventory = load_inventory(hosts)
    assert inventory.tsig_key_file == folder / "keys" / "tsig.key"
    assert inventory.records_dir == tmp_path / "records"


def test_an_unreadable_inventory_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as missing:
        load_inventory(tmp_path / "nowhere")
    assert missing.value.errors[0].path == "-i"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="Ansible cannot read the inventory"):
        load_inventory(empty)


def test_bad_yaml_in_group_vars_names_the_file(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "web.yml", "shade: [unclosed\n")
    with pytest.raises(InvalidInput) as info:
        load_inventory(folder)
    assert info.value.exit_code == EXIT_INVALID
    assert "group_vars/web.yml" in " ".join(str(e) for e in info.value.errors)


# Vault.

def test_an_inline_vaulted_value_is_decrypted_with_a_password_file(tmp_path: Path, password_file: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET))
    inventory = load_inventory(folder, _vault(password_file))
    assert inventory.settings["db_admin_password"] == SECRET
    assert inventory.web_host("web1").vars["db_admin_password"] == SECRET
    assert type(inventory.settings["db_admin_password"]) is str


def test_a_vaulted_value_inside_a_structure_is_decrypted(tmp_path: Path, password_file: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    nested = "admins:\n  - name: root\n    " + inline("password", SECRET).replace("\n", "\n    ")
    write(folder / "group_vars" / "web.yml", nested)
    inventory = load_inventory(folder, _vault(password_file))
    assert inventory.web_host("web1").vars["admins"] == [{"name": "root", "password": SECRET}]


def test_a_fully_vaulted_vars_file_is_decrypted(tmp_path: Path, password_file: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "host_vars" / "db1.yml", encrypted(yaml.safe_dump({"db_admin_password": SECRET})))
    inventory = load_inventory(folder, _vault(password_file))
    assert inventory.hosts["db1"].vars["db_admin_password"] == SECRET


def test_a_vaulted_inventory_file_is_decrypted(tmp_path: Path, password_file: Path) -> None:
    folder = tmp_path / "inv"
    hosts = write(folder / "hosts.ini", encrypted("[web]\nweb1\n[dns_primary]\nns1\n"))
    write(folder / "group_vars" / "all.yml", settings(tmp_path))
    assert load_inventory(hosts, _vault(password_file)).groups["web"] == ["web1"]
    with pytest.raises(InvalidInput) as info:
        load_inventory(hosts)
    assert info.value.errors[0].path == "hosts.ini"


def test_a_wrong_password_names_the_file_and_the_variable(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", "plain: 1\n" + inline("db_admin_password", SECRET))
    wrong = write(tmp_path / "wrong-pass", "not the password\n")
    with pytest.raises(InvalidInput) as info:
        load_inventory(folder, _vault(wrong))
    assert info.value.exit_code == EXIT_INVALID
    assert "cannot be decrypted" in info.value.message and "nothing was changed" in info.value.message
    assert [e.path for e in info.value.errors] == ["group_vars/all/vault.yml:2: db_admin_password"]
    assert "with the vault password(s) given" in info.value.errors[0].message


def test_a_wrong_password_for_a_vaulted_file_names_the_file(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "host_vars" / "web1.yml", encrypted(yaml.safe_dump({"db_admin_password": SECRET})))
    wrong = write(tmp_path / "wrong-pass", "not the password\n")
    with pytest.raises(InvalidInput) as info:
        load_inventory(folder, _vault(wrong))
    assert [e.path for e in info.value.errors] == ["host_vars/web1.yml"]


def test_no_password_says_which_options_give_one(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET))
    with pytest.raises(InvalidInput) as info:
        load_inventory(folder)
    assert "group_vars/all/vault.yml:1: db_admin_password" in [e.path for e in info.value.errors]
    assert "--vault-password-file" in info.value.errors[0].message


def test_a_missing_password_file_is_invalid_input(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    with pytest.raises(InvalidInput) as info:
        load_inventory(folder, _vault(tmp_path / "no-such-file"))
    assert info.value.errors[0].path == "--vault-password-file"
    assert str(tmp_path / "no-such-file") in info.value.errors[0].message


def test_ansible_vault_password_file_from_the_environment_is_honoured(
        tmp_path: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", password_file.name)  # relative to here
    inventory = load_inventory(folder, VaultIdentities.from_options())
    assert inventory.settings["db_admin_password"] == SECRET


def test_a_labelled_vault_id_from_the_identity_list_opens_its_values(
        tmp_path: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET, label="prod"))
    write(tmp_path / "dev-pass", "dev\n")
    monkeypatch.setenv("ANSIBLE_VAULT_IDENTITY_LIST", f"dev@{tmp_path / 'dev-pass'},prod@{password_file}")
    inventory = load_inventory(folder, VaultIdentities.from_options())
    assert inventory.settings["db_admin_password"] == SECRET


def test_a_password_script_is_run_for_the_password(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET))
    script = write(tmp_path / "vault-pass.sh", f"#!/bin/sh\necho '{PASSWORD}'\n")
    script.chmod(0o700)
    vault = VaultIdentities.from_options(vault_ids=[f"default@{script}"], environ={})
    assert load_inventory(folder, vault).settings["db_admin_password"] == SECRET


# The TSIG key held in the inventory.

def _tsig_inventory(tmp_path: Path, **key: str) -> Path:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    data = yaml.safe_load((folder / "group_vars" / "all" / "main.yml").read_text())
    del data["provisioner_tsig_key_file"]
    write(folder / "group_vars" / "all" / "main.yml", {**data, **key})
    return folder


def test_a_vaulted_tsig_key_in_the_inventory_signs_the_reads(tmp_path: Path, password_file: Path) -> None:
    folder = _tsig_inventory(tmp_path, provisioner_tsig_name="provisioner-key")
    write(folder / "group_vars" / "all" / "vault.yml", inline("provisioner_tsig_secret", TSIG_SECRET))
    inventory = load_inventory(folder, _vault(password_file))
    key = dnsq.inventory_key(inventory)
    assert (key.name, key.algorithm, key.secret) == ("provisioner-key", "hmac-sha256", TSIG_SECRET)
    assert TSIG_SECRET not in repr(key)
    assert inventory.tsig_key_file is None
    assert key.keyring()  # dnspython takes it


@pytest.mark.parametrize(("key", "path"), [
    ({"provisioner_tsig_secret": TSIG_SECRET}, "group_vars/all.provisioner_tsig_name"),
    ({"provisioner_tsig_secret": "not base64!", "provisioner_tsig_name": "k"},
     "group_vars/all.provisioner_tsig_secret"),
    ({"provisioner_tsig_secret": TSIG_SECRET, "provisioner_tsig_name": "k", "provisioner_tsig_algorithm": "rot13"},
     "group_vars/all.provisioner_tsig_algorithm"),
    ({"provisioner_tsig_secret": TSIG_SECRET, "provisioner_tsig_name": "k",
      "provisioner_tsig_key_file": "/etc/bind/k.key"}, "group_vars/all.provisioner_tsig_secret"),
])
def test_an_incomplete_inline_tsig_key_is_refused_without_showing_it(tmp_path: Path, key: dict[str, str],
                                                                      path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_inventory(_tsig_inventory(tmp_path, **key))
    assert [e.path for e in info.value.errors] == [path]
    assert TSIG_SECRET not in str(info.value.errors) + info.value.message


def test_an_inventory_without_any_tsig_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        load_inventory(_tsig_inventory(tmp_path))
    assert [e.path for e in info.value.errors] == [
        "group_vars/all.provisioner_tsig_key_file or provisioner_tsig_secret"]


# Where records go.

def test_records_default_to_the_state_folder_of_the_inventory(tmp_path: Path) -> None:
    inventory = load_inventory(yaml_inventory(tmp_path / "inv", tmp_path))
    assert inventory.records_dir == tmp_path / "state" / "records"


def test_records_dir_in_the_inventory_is_relative_to_its_folder(tmp_path: Path) -> None:
    inventory = load_inventory(yaml_inventory(tmp_path / "inv", tmp_path, provisioner_records_dir="../kept/records"))
    assert inventory.records_dir == tmp_path / "kept" / "records"


def test_records_inside_the_inventory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        load_inventory(yaml_inventory(tmp_path / "inv", tmp_path, provisioner_records_dir="records"))
    assert [e.path for e in info.value.errors] == ["group_vars/all.provisioner_records_dir"]


def test_the_project_inventories_keep_records_in_the_repository() -> None:
    for folder in TOPOLOGIES.values():
        assert load_inventory(folder).records_dir == ROOT / "records"


def test_records_option_wins_over_the_inventory_then_the_inventory_over_the_default(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path, provisioner_records_dir="../inventory-records")
    assert Context(inventory_path=folder, records=tmp_path / "given").records_dir == tmp_path / "given"
    assert Context(inventory_path=folder).records_dir == tmp_path / "inventory-records"
    assert Context(inventory_path=None).records_dir == DEFAULT_RECORDS


def test_the_records_environment_variable_reaches_the_context(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from provisioner.cli import cli

    monkeypatch.setenv("PROVISIONER_RECORDS", str(tmp_path / "from-env"))
    (tmp_path / "from-env").mkdir()
    result = CliRunner().invoke(cli, ["case", "show", "2026-404"])
    assert result.exit_code == EXIT_INVALID
    assert str(tmp_path / "from-env") in result.output


@pytest.mark.parametrize("name", ["local", "lab", "vagrant"])
def test_a_fresh_read_is_plain_data_down_to_the_host_names(name: str) -> None:
    # Ansible 2.19 tags what it loads; a tagged host name once reached yaml.safe_dump in apply
    # ("cannot represent an object: web1") whenever the inventory cache missed.
    from provisioner.ansible_inventory import read

    data = read(ROOT / "inventories" / name, VaultIdentities(()))
    assert {type(k) for k in data.hosts} == {str}
    yaml.safe_dump({"groups": data.groups, "hosts": data.hosts, "settings": data.settings})


def test_the_production_example_is_complete_once_its_secret_is_vaulted(tmp_path: Path, password_file: Path) -> None:
    # inventories/production.example: copied, its vault.yml made as vault.yml.example says.
    import shutil

    folder = tmp_path / "production"
    shutil.copytree(ROOT / "inventories" / "production.example", folder)
    assert (folder / "group_vars" / "all" / "vault.yml.example").read_text().count("encrypt_string") == 1
    with pytest.raises(InvalidInput, match="lacks settings"):
        load_inventory(folder)
    write(folder / "group_vars" / "all" / "vault.yml", inline("provisioner_tsig_secret", TSIG_SECRET) + "\n")
    inventory = load_inventory(folder, _vault(password_file))
    # The four hosts of the Vagrant machines (the lab has a second web host besides).
    assert {g: inventory.groups[g] for g in PROJECT_GROUPS["vagrant"] if g != "all"} == {
        g: m for g, m in PROJECT_GROUPS["vagrant"].items() if g != "all"}
    assert inventory.tsig_inline == ("provisioner", "hmac-sha256", TSIG_SECRET)
    web = inventory.web_host("web1")
    assert inventory.web_hosts == [web]
    assert web.vars["ansible_become"] is True and web.vars["ansible_user"] == "provisioner"
    assert str(inventory.shared_address(web)) == "203.0.113.5" and inventory.records_dir.is_absolute()
