"""Where cases go: checks against the inventory and the live servers, then each case's address.

What the servers say (``LiveState``) is read once per command; conflicts with it are refused
before anything changes (exit 3), and ``place`` chooses each case's address from it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.exception

from provisioner import dns as dnsq
from provisioner.case import Case
from provisioner.errors import FieldError, InvalidInput, ProvisionerError
from provisioner.hosts import Hosts, WebState
from provisioner.inventory import Inventory


def check_against_inventory(case: Case, inventory: Inventory) -> list[FieldError]:
    """Problems that make the case invalid for this inventory (exit 2)."""
    errors = []
    if case.zone not in inventory.zones:
        errors.append(FieldError("hosting.zone", f"'{case.zone}' is not served by inventory {inventory.name}; "
                                 f"served: {', '.join(inventory.zones)}"))
    shared = inventory.shared_address()
    if case.public_ip == "shared" and shared is None:
        errors.append(FieldError("hosting.public_ip", f"the web host {inventory.web.name} of inventory "
                                 f"{inventory.name} has no shared address (provisioner_shared_address)"))
    elif case.public_ip not in ("auto", "shared"):
        address = ipaddress.IPv4Address(case.public_ip)
        allowed = inventory.pool_addresses()
        if str(address) == shared:
            errors.append(FieldError("hosting.public_ip", f"{address} is the shared address of {inventory.web.name}: "
                                     "write public_ip: shared"))
        elif address not in allowed:
            errors.append(FieldError(
                "hosting.public_ip",
                f"{address} is outside the pool of inventory {inventory.name}: "
                f"{allowed[0]}-{allowed[-1]} in {inventory.pool}"))
    if case.database is not None and not inventory.group(f"db_{case.database.engine}"):
        errors.append(FieldError("hosting.database.engine",
                                 f"inventory {inventory.name} has no host in group db_{case.database.engine}"))
    return errors


def check_batch(cases: list[Case]) -> list[FieldError]:
    """Cases applied together must not claim the same id, name, address or application."""
    errors = []
    for attr, path in (("id", "id"), ("fqdn", "hosting.subdomain"), ("app_name", "application.name")):
        seen: dict[str, str] = {}
        for case in cases:
            value = getattr(case, attr)
            if value in seen:
                errors.append(FieldError(f"{case.id}: {path}", f"'{value}' is also claimed by case {seen[value]}"))
            seen.setdefault(value, case.id)
    fixed = [c for c in cases if c.public_ip not in ("auto", "shared")]
    for index, case in enumerate(fixed):
        for other in fixed[:index]:
            if other.public_ip == case.public_ip:
                errors.append(FieldError(f"{case.id}: hosting.public_ip",
                                         f"{case.public_ip} is also claimed by case {other.id}"))
    return errors


class ServerDown(ProvisionerError):
    """A server needed to judge conflicts cannot be read: the run fails before changing anything."""


@dataclass
class LiveState:
    """What the servers say: who holds each address (reverse zone), what each name holds, and
    which cases the web host records as installed (site_registry)."""

    ptrs: dict[str, str]
    names: dict[str, dict[str, list[str]]]
    registry: dict[str, dict[str, Any]]
    web: WebState = field(default_factory=lambda: WebState({}, {}, set()))
    grants: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)  # by engine, read with grants=True
    users: set[str] = field(default_factory=set)
    bound: set[str] = field(default_factory=set)
    databases: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)
    unfinished: dict[str, dict[str, Any]] = field(default_factory=dict)  # journal of runs that died

    @property
    def installed(self) -> dict[str, dict[str, Any]]:
        """Cases live now; the registry also keeps removed cases that kept their database or files."""
        return {case_id: r for case_id, r in self.registry.items() if not r.get("removed")}


def read_live_state(cases: list[Case], inventory: Inventory, hosts: Hosts, grants: bool = False) -> LiveState:
    """Read every server the cases touch; a server that cannot be read fails the run (exit 1).

    ``grants``: also which database users hold their grants (for the fast path of apply)."""
    primary = inventory.dns_primary.address
    key = dnsq.inventory_key(inventory)
    try:
        ptrs: dict[str, str] = {}
        for zone in inventory.reverse_zones:
            ptrs.update(dnsq.zone_ptrs(primary, zone, key))
        names = dnsq.names_in_zones(primary, sorted({case.zone for case in cases}), key,
                                    [case.fqdn for case in cases])
    except (dns.exception.DNSException, OSError) as exc:
        raise ServerDown(f"the primary name server {inventory.dns_primary.name} ({primary}) cannot be read: "
                         f"{exc.__class__.__name__}: {exc}; nothing was changed") from None
    try:
        web = hosts.web_state()
        users = hosts.existing_users(sorted({c.system_user for c in cases}))
        bound = hosts.bound_addresses()
        engines = sorted({c.database.engine for c in cases if c.database})
        databases = {engine: hosts.databases(engine) for engine in engines}
        granted = {engine: hosts.grants(engine) for engine in engines} if grants else {}
    except (OSError, RuntimeError) as exc:
        raise ServerDown(f"a server cannot be read: {exc}; nothing was changed") from None
    return LiveState(ptrs=ptrs, names=names, registry=web.records, users=users, bound=bound, databases=databases,
                     web=web, grants=granted)


Owners = dict[tuple[str, str], list[tuple[str, str]]]


def _owners(live: LiveState) -> Owners:
    """Which cases' ownership records claim each object: ``("name", fqdn)`` while the case is
    installed; ``("system user", name)``, ``("<engine> database", name)`` and ``("<engine> database
    user", name)`` also while a removal kept them. Each owner comes as (case id, how to say it)."""
    owners: Owners = {}

    def claim(obj: tuple[str, str], case_id: str, said: str) -> None:
        owners.setdefault(obj, []).append((case_id, said))

    for case_id, record in sorted(live.registry.items()):
        removed = bool(record.get("removed"))
        # A removed case's record lists what it kept; one without the list claims all it names.
        kept = set(record.get("kept") or []) if removed and "kept" in record else {"files", "system_user", "database"}
        if not removed:
            claim(("name", str(record.get("fqdn"))), case_id, case_id)
        if kept & {"files", "system_user"}:
            said = case_id + (f" (removed; its files were kept: destroy {case_id} --remove-files removes them)"
                              if removed else "")
            for user in {str(record[k]) for k in ("system_user", "application") if record.get(k)}:
                claim(("system user", user), case_id, said)
        database = record.get("database") or {}
        if "database" in kept and database.get("engine"):
            said = case_id + (f" (removed; its database was kept: destroy {case_id} --drop-database dumps and "
                              "drops it)" if removed else "")
            for key, what in (("name", "database"), ("user", "database user")):
                if database.get(key):
                    claim((f"{database['engine']} {what}", str(database[key])), case_id, said)
    return owners


def _owner(owners: Owners, obj: tuple[str, str], case_id: str) -> str | None:
    """Another case that owns ``obj``, as the message names it; None when no other does."""
    return next((said for owner, said in owners.get(obj, []) if owner != case_id), None)


def _name_conflict(case: Case, live: LiveState, owners: Owners, installed: str | None,
                   taken: dict[str, str]) -> FieldError | None:
    """The one reason the case's name is not free for it: another case's, or other data in DNS."""
    path = f"{case.id}: hosting.subdomain"
    owner = _owner(owners, ("name", case.fqdn), case.id)
    if owner is not None:  # its A record is that case's, on whatever address: not "other data" as well
        return FieldError(path, f"{case.fqdn} belongs to case {owner}")
    held = live.names.get(case.fqdn, {})
    foreign = {t: v for t, v in held.items() if t != "A"}
    stray_a = [a for a in held.get("A", []) if a != installed and taken.get(a) != case.fqdn]
    if not foreign and not stray_a:
        return None
    held_other = {**foreign, **({"A": stray_a} if stray_a else {})}
    detail = "; ".join(f"{t} {', '.join(v)}" for t, v in held_other.items())
    return FieldError(path, f"{case.fqdn} already holds other data in DNS ({detail})")


def _object_conflicts(case: Case, live: LiveState, owners: Owners) -> list[FieldError]:
    """One reason for each of the case's system user, database and database user that is not
    its own: another case's record claims it, or it exists and no case of the inventory does."""
    objects = [("application.name", "system user", case.system_user, case.system_user in live.users)]
    if case.database is not None:
        names, users = live.databases.get(case.database.engine, (set(), set()))
        engine = case.database.engine
        objects += [("hosting.database.name", f"{engine} database", case.database.name, case.database.name in names),
                    ("hosting.database.user", f"{engine} database user", case.database.user,
                     case.database.user in users)]
    # What exists of a case the web host records (installed, or removed keeping it), or that a run
    # of it left behind (journal), is its own.
    own = case.id in live.registry or case.id in live.unfinished
    conflicts = []
    for path, what, value, exists in objects:
        owner = _owner(owners, (what, value), case.id)
        if owner is not None:
            conflicts.append(FieldError(f"{case.id}: {path}", f"{what} {value} belongs to case {owner}"))
        elif exists and not own:
            where = " on the web host" if what == "system user" else ""
            conflicts.append(FieldError(f"{case.id}: {path}",
                                        f"{what} {value} exists{where} and belongs to no installed case of "
                                        "this inventory"))
    return conflicts


def _changes_in_place(case: Case, live: LiveState) -> list[FieldError]:
    """What an installed case cannot change in place: its name, application, database engine,
    database name or user (each would leave the old one behind or the site without its data)."""
    record = live.installed.get(case.id)
    if record is None:
        return []
    refused = []
    if record.get("fqdn") != case.fqdn:
        refused.append(FieldError(f"{case.id}: hosting.subdomain",
                                  f"case {case.id} is installed as {record.get('fqdn')}; renaming it to {case.fqdn} "
                                  "is not done in place: put the old name back, or destroy the case and apply it "
                                  "under the new name"))
    if record.get("application") not in (None, case.app_name):
        refused.append(FieldError(f"{case.id}: application.name",
                                  f"case {case.id} is installed as application {record.get('application')}; "
                                  "its name (and system user) cannot change in place: put it back, or destroy "
                                  "the case and apply it again"))
    theirs = record.get("database") or {}
    if theirs.get("engine"):
        engine = case.database.engine if case.database else "none"
        if engine != theirs["engine"]:
            refused.append(FieldError(f"{case.id}: hosting.database.engine",
                                      f"case {case.id} keeps its data in {theirs['engine']}; moving it to {engine} "
                                      "is not done in place: export the data, destroy the case (--drop-database "
                                      "dumps it first), apply it with the new engine and import the data"))
        elif case.database:
            for key in ("name", "user"):
                if theirs.get(key) not in (None, getattr(case.database, key)):
                    refused.append(FieldError(f"{case.id}: hosting.database.{key}",
                                              f"case {case.id} uses {engine} {key} {theirs[key]}; it cannot "
                                              "change in place: put it back, or destroy the case and apply it "
                                              "again"))
    return refused


def place(cases: list[Case], inventory: Inventory, live: LiveState) -> tuple[dict[str, str], list[FieldError]]:
    """Choose each case's address; list the conflicts with what is live (exit 3).

    An installed case keeps its address. ``auto`` takes the lowest pool address that no PTR and
    no other case's record holds; ``shared`` is the web host's shared address, told apart by name.
    """
    chosen: dict[str, str] = {}
    conflicts: list[FieldError] = []
    shared = inventory.shared_address()
    taken = dict(live.ptrs)
    if shared:
        taken[shared] = f"the shared address of {inventory.web.name}"
    for record in live.registry.values():
        if not record.get("removed") and not record.get("shared"):
            taken.setdefault(str(record.get("ip")), str(record.get("fqdn")))
    for entry in live.unfinished.values():
        if not entry.get("shared"):
            taken.setdefault(str(entry.get("ip")), str(entry.get("fqdn")))
    for address in live.bound:
        taken.setdefault(address, "an address bound on the web host")
    owners = _owners(live)  # each object of a case gets one reason, never two that disagree
    for case in cases:
        changes = _changes_in_place(case, live)
        if changes:  # the other checks would name the case's own old name as someone else's
            conflicts += changes
            continue
        installed = (live.installed.get(case.id) or live.unfinished.get(case.id) or {}).get("ip")
        name = _name_conflict(case, live, owners, installed, taken)
        problems = ([name] if name else []) + _object_conflicts(case, live, owners)
        wanted = {"auto": installed, "shared": shared}.get(case.public_ip, case.public_ip)
        if wanted is None:
            wanted = next((str(a) for a in inventory.pool_addresses() if str(a) not in taken), None)
            if wanted is None:
                problems.append(FieldError(f"{case.id}: hosting.public_ip",
                                           f"the pool {inventory.pool} has no free address left"))
        elif installed and wanted != installed:
            problems.append(FieldError(f"{case.id}: hosting.public_ip",
                                       f"{case.fqdn} is installed on {installed}; moving it is not supported "
                                       "(destroy the case first)"))
        elif case.public_ip != "shared" and taken.get(wanted) not in (None, case.fqdn):
            problems.append(FieldError(f"{case.id}: hosting.public_ip", f"{wanted} is held by {taken[wanted]}"))
        if problems:
            conflicts += problems
            continue
        assert wanted is not None
        chosen[case.id] = wanted
        if case.public_ip != "shared":
            taken[wanted] = case.fqdn
    return chosen, conflicts


def is_installed(case: Case, live: LiveState) -> bool:
    """The web host records the case as installed by an earlier run (and not removed since)."""
    return case.id in live.installed


def validate_all(cases: list[Case], inventory: Inventory) -> None:
    """Inventory and batch problems, every one at once (exit 2)."""
    errors = check_batch(cases)
    for case in cases:
        errors += [FieldError(f"{case.id}: {e.path}" if len(cases) > 1 else e.path, e.message)
                   for e in check_against_inventory(case, inventory)]
    if errors:
        raise InvalidInput(f"the case{'s' if len(cases) > 1 else ''} cannot be placed on inventory "
                           f"{inventory.name}", errors)
