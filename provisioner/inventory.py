"""Reads an inventory directory: the hosts by group and the settings the tool needs itself.

Ansible reads the same files; this reader covers the YAML inventory format
(``hosts.yml`` with ``children``/``hosts``/``vars``) plus ``group_vars/`` and ``host_vars/``, which
is what ``inventories/*`` use. Values are taken as written (no Jinja templating).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.errors import FieldError, InvalidInput
from provisioner.yamlfile import load_mapping

INVENTORIES = Path(__file__).resolve().parent.parent / "inventories"
# The project's own labs (`provisioner lab --topology`): local, every service on this machine;
# multi, the hosts web1, db1, ns1 and ns2 over SSH.
TOPOLOGIES = {"local": INVENTORIES / "local", "multi": INVENTORIES / "lab"}
GROUPS = ("web", "db_mariadb", "db_postgresql", "dns_primary", "dns_secondary")
REQUIRED_SETTINGS = (
    "provisioner_zones", "provisioner_pool", "provisioner_pool_first", "provisioner_pool_last",
    "provisioner_reverse_zones", "provisioner_public_interface", "provisioner_tsig_key_file",
    "provisioner_state_dir",
)


@dataclass(frozen=True)
class Host:
    name: str
    vars: dict[str, Any]

    @property
    def address(self) -> str:
        """The address other machines (and the trial) use to reach this host's services."""
        return str(self.vars.get("provisioner_address") or self.vars.get("ansible_host") or self.name)

    @property
    def connection(self) -> str:
        return str(self.vars.get("ansible_connection", "ssh"))


@dataclass
class Inventory:
    path: Path
    groups: dict[str, list[str]]
    hosts: dict[str, Host]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def group(self, group: str) -> list[Host]:
        return [self.hosts[name] for name in self.groups.get(group, [])]

    def first(self, group: str) -> Host:
        hosts = self.group(group)
        if not hosts:
            raise InvalidInput(f"inventory {self.path} has no host in group '{group}'",
                               [FieldError(f"inventory.{group}", "needs at least one host")])
        return hosts[0]

    @property
    def web(self) -> Host:
        return self.first("web")

    def database_host(self, engine: str) -> Host:
        return self.first(f"db_{engine}")

    @property
    def dns_primary(self) -> Host:
        return self.first("dns_primary")

    @property
    def dns_servers(self) -> list[Host]:
        return self.group("dns_primary") + self.group("dns_secondary")

    @property
    def zones(self) -> list[str]:
        return [str(z) for z in self.settings["provisioner_zones"]]

    @property
    def reverse_zones(self) -> list[str]:
        """The reverse zones holding the pool's PTR records (a pool larger than a /24 spans several)."""
        return [str(z).rstrip(".") for z in self.settings["provisioner_reverse_zones"]]

    def reverse_zone_for(self, address: str) -> str:
        """The reverse zone that holds ``address``'s PTR: the longest of ours its name ends in
        ("" when none does; the inventory is refused if its pool has such an address)."""
        name = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
        found = [z for z in self.reverse_zones if name == z or name.endswith("." + z)]
        return max(found, key=len) if found else ""

    def shared_address(self, host: Host | None = None) -> str | None:
        """The web host's shared address (``provisioner_shared_address``): sites on it are told
        apart by name (and SNI); its PTR stays the host's own. None if the host has none."""
        value = (host or self.web).vars.get("provisioner_shared_address")
        return str(value) if value else None

    @property
    def pool(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(str(self.settings["provisioner_pool"]))

    def pool_addresses(self) -> list[ipaddress.IPv4Address]:
        """Addresses ``auto`` may hand out, in order."""
        first = ipaddress.IPv4Address(str(self.settings["provisioner_pool_first"]))
        last = ipaddress.IPv4Address(str(self.settings["provisioner_pool_last"]))
        return [ip for ip in self.pool.hosts() if first <= ip <= last]

    @property
    def public_interface(self) -> str:
        return str(self.settings["provisioner_public_interface"])

    @property
    def tsig_key_file(self) -> Path:
        return self._path_setting("provisioner_tsig_key_file")

    @property
    def state_dir(self) -> Path:
        return self._path_setting("provisioner_state_dir")

    @property
    def lab_not_up(self) -> str | None:
        """Why the hosts do not exist, for the multi-host lab's inventory while that lab is down.

        Its hosts live in namespaces under ``lab_netns_dir``; without them their addresses would
        be routed off this machine, so nothing may try to reach them.
        """
        folder = self.settings.get("lab_netns_dir")
        if folder is None or Path(str(folder)).is_dir():
            return None
        return (f"the hosts of inventory {self.name} are not up ({folder} is missing): "
                "run `provisioner lab up --topology multi`")

    def _path_setting(self, key: str) -> Path:
        path = Path(str(self.settings[key])).expanduser()
        return path if path.is_absolute() else (self.path / path).resolve()


def _walk_group(name: str, body: dict[str, Any] | None, groups: dict[str, list[str]],
                host_vars: dict[str, dict[str, Any]], group_vars: dict[str, dict[str, Any]],
                parents: dict[str, list[str]]) -> None:
    body = body or {}
    groups.setdefault(name, [])
    group_vars.setdefault(name, {}).update(body.get("vars") or {})
    for host, hvars in (body.get("hosts") or {}).items():
        if host not in groups[name]:
            groups[name].append(host)
        host_vars.setdefault(host, {}).update(hvars or {})
    for child, child_body in (body.get("children") or {}).items():
        parents.setdefault(child, []).append(name)
        _walk_group(child, child_body, groups, host_vars, group_vars, parents)


def _vars_dir(directory: Path, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for candidate in (directory / f"{name}.yml", directory / f"{name}.yaml"):
        if candidate.is_file():
            merged.update(load_mapping(candidate, "inventory variables"))
    folder = directory / name
    if folder.is_dir():
        for item in sorted(folder.glob("*.y*ml")):
            merged.update(load_mapping(item, "inventory variables"))
    return merged


def load_inventory(path: Path) -> Inventory:
    """Read an inventory directory; raise InvalidInput naming what is missing."""
    path = path.resolve()
    hosts_file = next((p for p in (path / "hosts.yml", path / "hosts.yaml") if p.is_file()), None)
    if not path.is_dir() or hosts_file is None:
        raise InvalidInput(f"no inventory at {path}",
                           [FieldError("-i", f"{path} must be a directory holding hosts.yml")])
    raw = load_mapping(hosts_file, "inventory")
    groups: dict[str, list[str]] = {}
    host_vars: dict[str, dict[str, Any]] = {}
    group_vars: dict[str, dict[str, Any]] = {}
    parents: dict[str, list[str]] = {}
    for name, body in raw.items():
        _walk_group(name, body, groups, host_vars, group_vars, parents)
    # A group's hosts include its children's hosts.
    for child in sorted(parents, key=lambda g: -len(parents[g])):
        for parent in parents[child]:
            for host in groups.get(child, []):
                if host not in groups[parent]:
                    groups[parent].append(host)

    settings = {**group_vars.get("all", {}), **_vars_dir(path / "group_vars", "all")}
    hosts: dict[str, Host] = {}
    for host in host_vars:
        merged = dict(settings)
        for group, members in groups.items():
            if group != "all" and host in members:
                merged.update(group_vars.get(group, {}))
                merged.update(_vars_dir(path / "group_vars", group))
        merged.update(host_vars[host])
        merged.update(_vars_dir(path / "host_vars", host))
        hosts[host] = Host(host, merged)

    missing = [key for key in REQUIRED_SETTINGS if key not in settings]
    if missing:
        raise InvalidInput(f"inventory {path} lacks settings",
                           [FieldError(f"group_vars/all.{key}", "is required") for key in missing])
    inventory = Inventory(path=path, groups=groups, hosts=hosts, settings=settings)
    _check_addresses(inventory)
    return inventory


def _check_addresses(inventory: Inventory) -> None:
    """The pool lies in the reverse zones, and a shared address is in the pool's network but
    outside the range ``auto`` hands out."""
    errors = []
    if not isinstance(inventory.settings["provisioner_reverse_zones"], list):
        errors.append(FieldError("group_vars/all.provisioner_reverse_zones", "must be a list of zone names"))
    else:
        addresses = inventory.pool_addresses()
        for edge in sorted({str(addresses[0]), str(addresses[-1])} if addresses else set()):
            if not inventory.reverse_zone_for(edge):
                errors.append(FieldError("group_vars/all.provisioner_reverse_zones",
                                         f"no zone holds the PTR of {edge}; has: {', '.join(inventory.reverse_zones)}"))
    for host in inventory.group("web"):
        shared = inventory.shared_address(host)
        if shared is None:
            continue
        try:
            address = ipaddress.IPv4Address(shared)
        except ValueError:
            errors.append(FieldError(f"host_vars/{host.name}.provisioner_shared_address",
                                     f"'{shared}' is not an IPv4 address"))
            continue
        if address not in inventory.pool or address in inventory.pool_addresses():
            errors.append(FieldError(f"host_vars/{host.name}.provisioner_shared_address",
                                     f"{address} must be in {inventory.pool} and outside the range auto hands out"))
    if errors:
        raise InvalidInput(f"inventory {inventory.path} has inconsistent addresses", errors)
