"""An inventory as provisioner uses it: the hosts by group and the settings the tool needs itself.

Ansible reads it (``provisioner/ansible_inventory.py``), in-process and as every run does: a
directory or a file, YAML or INI, ``group_vars``/``host_vars`` files and folders, inventory
plugins, vaulted files and values (opened with the command's vault identities). Values are taken
as written (no Jinja templating). A static inventory without vaulted data is cached
(``provisioner/inventory_cache.py``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _
from provisioner.vault import VaultIdentities

if TYPE_CHECKING:
    from provisioner.ansible_inventory import InventoryData

INVENTORIES = Path(__file__).resolve().parent.parent / "inventories"
# The project's own labs (`provisioner lab --topology`): local, every service on this machine;
# multi, the hosts web1, db1, ns1 and ns2 over SSH.
TOPOLOGIES = {"local": INVENTORIES / "local", "multi": INVENTORIES / "lab"}
GROUPS = ("web", "db_mariadb", "db_postgresql", "dns_primary", "dns_secondary")
REQUIRED_SETTINGS = (
    "provisioner_zones", "provisioner_pool", "provisioner_pool_first", "provisioner_pool_last",
    "provisioner_reverse_zones", "provisioner_public_interface", "provisioner_state_dir",
)
# The TSIG key: BIND's key file, or the key itself in the inventory (its secret vaulted), one of them.
TSIG_SETTINGS = ("provisioner_tsig_key_file", "provisioner_tsig_secret")
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1", "hmac-md5")
RECORDS_SUBDIR = "records"


def ptr_name(address: str) -> str:
    """The absolute name of ``address``'s PTR record (``10.0.19.198.in-addr.arpa.``)."""
    return ipaddress.ip_address(address).reverse_pointer + "."


@dataclass(frozen=True)
class Host:
    name: str
    vars: dict[str, Any] = field(repr=False)  # may hold decrypted vault values: never in a repr

    @property
    def address(self) -> str:
        """The address other machines (and the trial) use to reach this host's services."""
        return str(self.vars.get("provisioner_address") or self.vars.get("ansible_host") or self.name)

    @property
    def connection(self) -> str:
        return str(self.vars.get("ansible_connection", "ssh"))


@dataclass
class Inventory:
    """``path`` is the inventory's directory (the folder of an inventory file): relative settings,
    the name and the inventory's digest start there. ``source`` is what Ansible reads (``-i``)."""

    path: Path
    groups: dict[str, list[str]]
    hosts: dict[str, Host]
    settings: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold decrypted vault values
    source: Path | None = None  # None: the directory itself
    vault: VaultIdentities = field(default_factory=VaultIdentities)
    _pool_cache: dict[str | None, list[ipaddress.IPv4Address]] = field(default_factory=dict, init=False,
                                                                        repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ansible_source(self) -> Path:
        """What Ansible reads: the file or directory ``-i`` named."""
        return self.source or self.path

    def group(self, group: str) -> list[Host]:
        return [self.hosts[name] for name in self.groups.get(group, [])]

    def first(self, group: str) -> Host:
        hosts = self.group(group)
        if not hosts:
            raise InvalidInput(_("inventory {inventory} has no host in group '{group}'").format(inventory=self.path,
                                                                                               group=group),
                               [FieldError(f"inventory.{group}", _("needs at least one host"))])
        return hosts[0]

    @property
    def web_hosts(self) -> list[Host]:
        """The web servers; each case is served by one of them (``hosting.server``, or placed)."""
        return self.group("web")

    def web_host(self, name: str) -> Host:
        """The web host ``name`` (a case's ``hosting.server``, or where its record was found)."""
        return self._member("web", name, "hosting.server", "web")

    def database_hosts(self, engine: str) -> list[Host]:
        return self.group(f"db_{engine}")

    def database_host(self, engine: str, name: str | None = None) -> Host:
        """The engine's host ``name``; without a name, the first of its group."""
        if name is None:
            return self.first(f"db_{engine}")
        return self._member(f"db_{engine}", name, "hosting.database.server", engine)

    def _member(self, group: str, name: str, field_path: str, what: str) -> Host:
        """Host ``name`` of ``group``, or a refusal naming the case's field and the hosts allowed."""
        if name not in self.groups.get(group, []):
            raise InvalidInput(_("inventory {inventory} has no {what} host {name}").format(
                inventory=self.name, what=what, name=name),
                [FieldError(field_path, _("'{name}' is not one of the {what} hosts: {hosts}").format(
                    name=name, what=what, hosts=", ".join(self.groups.get(group, []))))])
        return self.hosts[name]

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

    def shared_address(self, host: Host) -> str | None:
        """The web host's shared address (``provisioner_shared_address``): sites on it are told
        apart by name (and SNI); its PTR stays the host's own. None if the host has none."""
        value = host.vars.get("provisioner_shared_address")
        return str(value) if value else None

    def _pool_setting(self, key: str, host: Host | None) -> str:
        """A pool setting as ``host`` sees it (its host_vars may give it a pool of its own)."""
        return str((host.vars if host is not None else self.settings).get(key, self.settings[key]))

    def pool(self, host: Host | None = None) -> ipaddress.IPv4Network:
        """The network of the pool ``host`` serves (the inventory's, unless its host_vars give one)."""
        return ipaddress.IPv4Network(self._pool_setting("provisioner_pool", host))

    def pool_addresses(self, host: Host | None = None) -> list[ipaddress.IPv4Address]:
        """Addresses ``auto`` may hand out to the sites of ``host`` (of the inventory's pool
        without a host), in order. Pools are per web host, or one shared by all of them."""
        key = host.name if host is not None else None
        if key not in self._pool_cache:  # placement asks once per case: a 500-case batch, 500 times
            first = ipaddress.IPv4Address(self._pool_setting("provisioner_pool_first", host))
            last = ipaddress.IPv4Address(self._pool_setting("provisioner_pool_last", host))
            self._pool_cache[key] = [ip for ip in self.pool(host).hosts() if first <= ip <= last]
        return list(self._pool_cache[key])

    def all_pool_addresses(self) -> list[ipaddress.IPv4Address]:
        """Every address any web host may hand out, in order."""
        found = {a for host in self.web_hosts for a in self.pool_addresses(host)} or set(self.pool_addresses())
        return sorted(found)

    @property
    def public_interface(self) -> str:
        return str(self.settings["provisioner_public_interface"])

    @property
    def tsig_key_file(self) -> Path | None:
        """BIND's key file, unless the inventory holds the key itself (``provisioner_tsig_secret``)."""
        if "provisioner_tsig_key_file" not in self.settings:
            return None
        return self._path_setting("provisioner_tsig_key_file")

    @property
    def tsig_inline(self) -> tuple[str, str, str] | None:
        """(name, algorithm, secret) of a key held in the inventory (the secret usually vaulted)."""
        secret = self.settings.get("provisioner_tsig_secret")
        if secret is None:
            return None
        return (str(self.settings.get("provisioner_tsig_name", "")),
                str(self.settings.get("provisioner_tsig_algorithm", TSIG_ALGORITHMS[0])), str(secret))

    @property
    def state_dir(self) -> Path:
        return self._path_setting("provisioner_state_dir")

    @property
    def acme_directory(self) -> str | None:
        """The ACME CA's directory URL (``provisioner_acme_directory``); None: no ``tls: acme`` here."""
        value = self.settings.get("provisioner_acme_directory")
        return str(value) if value else None

    @property
    def acme_roots_file(self) -> Path | None:
        """The roots the trial checks an ACME certificate's chain against; None: the system's."""
        if not self.settings.get("provisioner_acme_roots_file"):
            return None
        return self._path_setting("provisioner_acme_roots_file")

    @property
    def records_dir(self) -> Path:
        """Where this inventory's records go: ``provisioner_records_dir`` (relative to the inventory's
        directory), else ``<state_dir>/records``; ``--records`` overrides both."""
        if self.settings.get("provisioner_records_dir"):
            return self._path_setting("provisioner_records_dir")
        return self.state_dir / RECORDS_SUBDIR

    @property
    def lab_not_up(self) -> str | None:
        """Why the hosts do not exist, for the multi-host lab's inventory while that lab is down.

        Its hosts live in namespaces under ``lab_netns_dir``; without them their addresses would
        be routed off this machine, so nothing may try to reach them.
        """
        folder = self.settings.get("lab_netns_dir")
        if folder is None or Path(str(folder)).is_dir():
            return self.machines_not_up
        return _("the hosts of inventory {inventory} are not up ({folder} is missing): run `provisioner lab up "
                 "--topology multi`").format(inventory=self.name, folder=folder)

    @property
    def machines_not_up(self) -> str | None:
        """Why the Vagrant machines cannot be reached: the link to their private network
        (``lab_private_link``, made with them) is missing on this machine, so their addresses
        would be routed off it. None for an inventory without one, or while it is there."""
        link = self.settings.get("lab_private_link")
        if link is None or (Path("/sys/class/net") / str(link)).exists():
            return None
        return _("the machines of inventory {inventory} are not up (this machine has no link {link} to their "
                 "network): run `vagrant up`").format(inventory=self.name, link=link)

    def _path_setting(self, key: str) -> Path:
        path = Path(str(self.settings[key])).expanduser()
        return path if path.is_absolute() else (self.path / path).resolve()


def _read(source: Path, vault: VaultIdentities) -> InventoryData:
    """Ansible's reading of ``source``, or the cache's copy of it when nothing it depends on changed."""
    from provisioner import ansible_inventory, inventory_cache

    cache_key = inventory_cache.key(source)
    cached = inventory_cache.load(source, cache_key) if cache_key else None
    if cached is not None:
        return cached
    data = ansible_inventory.read(source, vault)
    if cache_key and inventory_cache.key(source) == cache_key:  # unchanged while Ansible read it
        inventory_cache.store(source, cache_key, data)
    return data


def load_inventory(path: Path, vault: VaultIdentities | None = None) -> Inventory:
    """Read an inventory, a directory or a file (``hosts.ini``), through Ansible; raise InvalidInput
    naming what is missing or cannot be decrypted."""
    source = path.expanduser().resolve()
    vault = vault if vault is not None else VaultIdentities()
    if not source.exists():
        raise InvalidInput(_("no inventory at {path}").format(path=source),
                           [FieldError("-i", _("{path} must be an inventory directory or file").format(path=source))])
    vault.check()
    if vault.prompts:  # ask now, not in the middle of a run (a cached read needs no password)
        vault.secrets()
    data = _read(source, vault)
    hosts = {name: Host(name, variables) for name, variables in data.hosts.items()}
    inventory = Inventory(path=source if source.is_dir() else source.parent, groups=data.groups, hosts=hosts,
                          settings=data.settings, source=source, vault=vault)
    missing = [key for key in REQUIRED_SETTINGS if key not in data.settings]
    if not any(key in data.settings for key in TSIG_SETTINGS):
        missing.append(_(" or ").join(TSIG_SETTINGS))
    if missing:
        raise InvalidInput(_("inventory {path} lacks settings").format(path=source),
                           [FieldError(f"group_vars/all.{key}", _("is required")) for key in missing])
    _check_tsig(inventory)
    _check_records_dir(inventory)
    _check_addresses(inventory)
    return inventory


def _check_records_dir(inventory: Inventory) -> None:
    """Records inside the inventory's folder would be read by Ansible as inventory sources and would
    change the inventory's digest at every apply."""
    if inventory.records_dir.is_relative_to(inventory.path):
        raise InvalidInput(_("inventory {inventory}: the records would be written inside it").format(
            inventory=inventory.name), [FieldError("group_vars/all.provisioner_records_dir",
                                                   _("{records} must be outside {inventory}").format(
                                                       records=inventory.records_dir, inventory=inventory.path))])


def _check_tsig(inventory: Inventory) -> None:
    """One TSIG key, and an inline one complete (its secret is never shown)."""
    inline = inventory.tsig_inline
    if inline is None:
        return
    name, algorithm, secret = inline
    where = "group_vars/all."
    errors = []
    if inventory.tsig_key_file is not None:
        errors.append(FieldError(where + "provisioner_tsig_secret",
                                 _("give the key file (provisioner_tsig_key_file) or the key itself, not both")))
    if not name:
        errors.append(FieldError(where + "provisioner_tsig_name", _("is required with provisioner_tsig_secret")))
    if algorithm not in TSIG_ALGORITHMS:
        errors.append(FieldError(where + "provisioner_tsig_algorithm",
                                 _("'{value}' is not one of {allowed}").format(value=algorithm,
                                                                               allowed=", ".join(TSIG_ALGORITHMS))))
    try:
        base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        errors.append(FieldError(where + "provisioner_tsig_secret", _("must be the key's secret in base64")))
    if errors:
        raise InvalidInput(_("inventory {inventory}: the TSIG key is incomplete").format(inventory=inventory.name),
                           errors)


def _check_addresses(inventory: Inventory) -> None:
    """Each web host's pool lies in the reverse zones; a shared address is in its host's pool
    network but outside the range ``auto`` hands out; pools of different web hosts do not overlap
    (a pool shared by all of them is one pool)."""
    errors = []
    if not isinstance(inventory.settings["provisioner_reverse_zones"], list):
        errors.append(FieldError("group_vars/all.provisioner_reverse_zones", _("must be a list of zone names")))
        raise InvalidInput(_("inventory {inventory} has inconsistent addresses").format(inventory=inventory.path),
                           errors)
    pools: dict[tuple[str, ...], str] = {}
    web_hosts: list[Host | None] = [*inventory.web_hosts] or [None]
    for host in web_hosts:
        where = f"host_vars/{host.name}." if host is not None else "group_vars/all."
        try:
            addresses = inventory.pool_addresses(host)
        except ValueError as exc:
            errors.append(FieldError(where + "provisioner_pool", str(exc)))
            continue
        for edge in sorted({str(addresses[0]), str(addresses[-1])} if addresses else set()):
            if not inventory.reverse_zone_for(edge):
                errors.append(FieldError("group_vars/all.provisioner_reverse_zones",
                                         _("no zone holds the PTR of {address}; has: {zones}").format(
                                             address=edge, zones=", ".join(inventory.reverse_zones))))
        key = tuple(str(a) for a in addresses)
        for other_key, other in pools.items():
            if key != other_key and set(key) & set(other_key):
                errors.append(FieldError(where + "provisioner_pool_first",
                                         _("the pool of {host} overlaps the pool of {other}: give each web host a "
                                           "pool of its own, or all of them the same one").format(
                                             host=host.name if host else "all", other=other)))
        pools.setdefault(key, host.name if host else "all")
        shared = inventory.shared_address(host) if host is not None else None
        if shared is None:
            continue
        try:
            address = ipaddress.IPv4Address(shared)
        except ValueError:
            errors.append(FieldError(where + "provisioner_shared_address",
                                     _("'{value}' is not an IPv4 address").format(value=shared)))
            continue
        if address not in inventory.pool(host) or address in inventory.all_pool_addresses():
            errors.append(FieldError(where + "provisioner_shared_address",
                                     _("{address} must be in {pool} and outside the range auto hands out").format(
                                         address=address, pool=inventory.pool(host))))
    if errors:
        raise InvalidInput(_("inventory {inventory} has inconsistent addresses").format(inventory=inventory.path),
                           errors)
