"""The cache of static inventories: used while nothing changed, never for secrets or dynamic inventories."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from provisioner import ansible_inventory, inventory_cache
from provisioner.inventory import load_inventory
from provisioner.vault import VaultIdentities
from tests.unit.inventory_helpers import PASSWORD, SECRET, encrypted, inline, settings, write, yaml_inventory


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(inventory_cache.SWITCH, raising=False)
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("ANSIBLE_VAULT_IDENTITY_LIST", raising=False)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The sources Ansible itself was asked to read."""
    asked: list[Path] = []
    real = ansible_inventory.read

    def counting(source: Path, vault: VaultIdentities) -> ansible_inventory.InventoryData:
        asked.append(source)
        return real(source, vault)

    monkeypatch.setattr(ansible_inventory, "read", counting)
    return asked


def _entries() -> list[Path]:
    folder = inventory_cache.cache_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_a_second_read_of_an_unchanged_inventory_comes_from_the_cache(tmp_path: Path, reads: list[Path]) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    first = load_inventory(folder)
    second = load_inventory(folder)
    assert len(reads) == 1
    assert (second.groups, second.settings) == (first.groups, first.settings)
    assert {h: v.vars for h, v in second.hosts.items()} == {h: v.vars for h, v in first.hosts.items()}


def test_cache_entries_are_owner_only(tmp_path: Path) -> None:
    load_inventory(yaml_inventory(tmp_path / "inv", tmp_path))
    [entry] = _entries()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("change", ["edit", "new host_vars", "new group_vars folder file", "hosts"])
def test_any_change_to_the_inventory_files_is_read_again(tmp_path: Path, reads: list[Path], change: str) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    load_inventory(folder)
    if change == "edit":
        write(folder / "group_vars" / "all" / "main.yml", settings(tmp_path, provisioner_php_version="8.4"))
    elif change == "new host_vars":
        write(folder / "host_vars" / "web1.yml", {"provisioner_php_version": "8.4"})
    elif change == "new group_vars folder file":
        write(folder / "group_vars" / "web" / "php.yml", {"provisioner_php_version": "8.4"})
    else:
        hosts = (folder / "hosts.yml").read_text().replace("web1:", "web2:")
        write(folder / "hosts.yml", hosts)
    inventory = load_inventory(folder)
    assert len(reads) == 2
    web = inventory.first("web")
    assert web.vars.get("provisioner_php_version") == "8.4" or web.name == "web2"


def test_another_ansible_version_reads_again(tmp_path: Path, reads: list[Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    load_inventory(folder)
    release = write(tmp_path / "release.py", "__version__ = '2.99.0'\n")
    monkeypatch.setattr(inventory_cache, "ansible_release", lambda: release)
    load_inventory(folder)
    assert len(reads) == 2


def test_the_ansible_environment_is_part_of_the_key(tmp_path: Path, reads: list[Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    load_inventory(folder)
    monkeypatch.setenv("ANSIBLE_INVENTORY_ENABLED", "yaml")
    load_inventory(folder)
    assert len(reads) == 2


def test_an_inventory_with_vaulted_values_is_never_cached(tmp_path: Path, reads: list[Path]) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET))
    write(folder / "host_vars" / "db1.yml", encrypted(f"db_root: {SECRET}\n"))
    vault = VaultIdentities.from_options(password_files=[str(write(tmp_path / "pass", PASSWORD))], environ={})
    load_inventory(folder, vault)
    load_inventory(folder, vault)
    assert len(reads) == 2
    assert _entries() == []
    cache_root = tmp_path / "cache"
    assert not any(SECRET in p.read_text() for p in cache_root.rglob("*") if p.is_file())


def test_a_vaulted_value_in_an_uncached_read_is_not_stored(tmp_path: Path) -> None:
    """Belt and braces: data read with vaulted values is refused by the store itself."""
    data = ansible_inventory.InventoryData(groups={}, hosts={}, settings={"x": SECRET}, vaulted=True)
    inventory_cache.store(tmp_path / "inv", "key", data)
    assert _entries() == []


def test_an_inventory_script_is_read_each_time(tmp_path: Path, reads: list[Path]) -> None:
    """A script (or plugin) can answer differently while no file of the inventory changes."""
    folder = tmp_path / "inv"
    answer = write(tmp_path / "answer.json", json.dumps({"web": {"hosts": ["web1"]}, "dns_primary": {"hosts": ["ns1"]},
                                                         "_meta": {"hostvars": {}}}))
    script = write(folder / "hosts.sh", f"#!/bin/sh\ncat {answer}\n")
    script.chmod(0o755)
    write(folder / "group_vars" / "all.yml", settings(tmp_path))
    assert load_inventory(folder).groups["web"] == ["web1"]
    write(answer, json.dumps({"web": {"hosts": ["web2"]}, "dns_primary": {"hosts": ["ns1"]},
                              "_meta": {"hostvars": {}}}))
    assert load_inventory(folder).groups["web"] == ["web2"]
    assert len(reads) == 2 and _entries() == []


def test_a_plugin_configuration_is_never_cached(tmp_path: Path) -> None:
    folder = tmp_path / "inv"
    write(folder / "aws.yml", "plugin: amazon.aws.aws_ec2\nregions: [ap-southeast-3]\n")
    assert inventory_cache.key(folder) is None


def test_the_cache_can_be_turned_off(tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(inventory_cache.SWITCH, "0")
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    load_inventory(folder)
    load_inventory(folder)
    assert len(reads) == 2 and _entries() == []


def test_a_damaged_entry_is_read_again(tmp_path: Path, reads: list[Path]) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    load_inventory(folder)
    [entry] = _entries()
    entry.write_text("{not json")
    assert load_inventory(folder).groups["web"] == ["web1"]
    assert len(reads) == 2
