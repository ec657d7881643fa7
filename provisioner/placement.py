"""Where cases go: checks against the inventory and the live servers, then each case's address.

What the servers say (``LiveState``) is read once per command; conflicts with it are refused
before anything changes (exit 3), and ``place`` chooses each case's address from it.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.exception

from provisioner import dns as dnsq
from provisioner.case import Case
from provisioner.errors import FieldError, InvalidInput, ProvisionerError
from provisioner.hosts import Hosts, WebState, merge_records
from provisioner.inventory import Host, Inventory
from provisioner.language import _
from provisioner.site import Placement

READERS = 8  # servers read side by side


def check_against_inventory(case: Case, inventory: Inventory) -> list[FieldError]:
    """Problems that make the case invalid for this inventory (exit 2)."""
    errors = []
    if case.zone not in inventory.zones:
        errors.append(FieldError("hosting.zone", _("'{zone}' is not served by inventory {inventory}; served: "
                                                   "{zones}").format(zone=case.zone, inventory=inventory.name,
                                                                     zones=", ".join(inventory.zones))))
    if case.tls == "acme" and inventory.acme_directory is None:
        errors.append(FieldError("hosting.tls", _("acme needs an ACME CA, and inventory {inventory} names none "
                                                  "(provisioner_acme_directory); allowed here: none, self-signed, "
                                                  "provided").format(inventory=inventory.name)))
    webs = inventory.web_hosts
    if case.server is not None:
        if case.server not in {h.name for h in webs}:
            errors.append(FieldError("hosting.server", _("'{server}' is not a web host of inventory {inventory}; "
                                                         "its web hosts: {hosts}").format(
                server=case.server, inventory=inventory.name, hosts=", ".join(h.name for h in webs))))
            return errors
        webs = [inventory.web_host(case.server)]
    names = ", ".join(h.name for h in webs)
    shared = {inventory.shared_address(h): h.name for h in inventory.web_hosts} if webs else {}
    shared.pop(None, None)
    if case.public_ip == "shared" and not any(inventory.shared_address(h) for h in webs):
        said = (_("the web hosts {hosts} of inventory {inventory} have no shared address "
                  "(provisioner_shared_address)") if len(webs) > 1 else
                _("the web host {hosts} of inventory {inventory} has no shared address (provisioner_shared_address)"))
        errors.append(FieldError("hosting.public_ip", said.format(hosts=names, inventory=inventory.name)))
    elif case.public_ip not in ("auto", "shared"):
        address = ipaddress.IPv4Address(case.public_ip)
        if str(address) in shared:
            errors.append(FieldError("hosting.public_ip", _("{address} is the shared address of {host}: write "
                                                            "public_ip: shared").format(address=address,
                                                                                        host=shared[str(address)])))
        elif not any(address in inventory.pool_addresses(h) for h in webs):
            ranges = "; ".join(f"{_range(inventory, h)} ({h.name})" for h in webs) or _range(inventory, None)
            said = (_("{address} is outside the pool of web host {server}: {ranges}") if case.server else
                    _("{address} is outside the pool of inventory {inventory}: {ranges}"))
            errors.append(FieldError("hosting.public_ip", said.format(address=address, server=case.server,
                                                                      inventory=inventory.name, ranges=ranges)))
    if case.database is not None:
        engine = case.database.engine
        group = [h.name for h in inventory.database_hosts(engine)]
        if not group:
            errors.append(FieldError("hosting.database.engine",
                                     _("inventory {inventory} has no host in group {group}").format(
                                         inventory=inventory.name, group=f"db_{engine}")))
        elif case.database.server is not None and case.database.server not in group:
            errors.append(FieldError("hosting.database.server",
                                     _("'{server}' is not a {engine} host of inventory {inventory}; its {engine} "
                                       "hosts: {hosts}").format(server=case.database.server, engine=engine,
                                                                inventory=inventory.name, hosts=", ".join(group))))
    return errors


def _range(inventory: Inventory, host: Host | None) -> str:
    allowed = inventory.pool_addresses(host)
    if not allowed:
        return _("none in {pool}").format(pool=inventory.pool(host))
    return _("{first}-{last} in {pool}").format(first=allowed[0], last=allowed[-1], pool=inventory.pool(host))


def check_batch(cases: list[Case]) -> list[FieldError]:
    """Cases applied together must not claim the same id, name, address or application."""
    errors = []
    for attr, path in (("id", "id"), ("fqdn", "hosting.subdomain"), ("app_name", "application.name")):
        seen: dict[str, str] = {}
        for case in cases:
            value = getattr(case, attr)
            if value in seen:
                errors.append(FieldError(f"{case.id}: {path}", _("'{value}' is also claimed by case {case}").format(
                    value=value, case=seen[value])))
            seen.setdefault(value, case.id)
    fixed = [c for c in cases if c.public_ip not in ("auto", "shared")]
    for index, case in enumerate(fixed):
        for other in fixed[:index]:
            if other.public_ip == case.public_ip:
                errors.append(FieldError(f"{case.id}: hosting.public_ip",
                                         _("{address} is also claimed by case {case}").format(
                                             address=case.public_ip, case=other.id)))
    return errors


class ServerDown(ProvisionerError):
    """A server needed to judge conflicts cannot be read: the run fails before changing anything."""


@dataclass
class LiveState:
    """What the servers say: who holds each address (reverse zone), what each name holds, and
    which cases the web hosts record as installed (site_registry), with each record's
    ``web_host``. Per web host: its records' files, users and bound addresses; per engine and
    database host: databases, users and grants."""

    ptrs: dict[str, str]
    names: dict[str, dict[str, list[str]]]
    registry: dict[str, dict[str, Any]]
    webs: dict[str, WebState] = field(default_factory=dict)
    grants: dict[str, dict[str, set[tuple[str, str, str]]]] = field(default_factory=dict)  # read with grants=True
    users: dict[str, set[str]] = field(default_factory=dict)
    bound: dict[str, set[str]] = field(default_factory=dict)
    databases: dict[str, dict[str, tuple[set[str], set[str]]]] = field(default_factory=dict)
    unfinished: dict[str, dict[str, Any]] = field(default_factory=dict)  # journal of runs that died

    @property
    def installed(self) -> dict[str, dict[str, Any]]:
        """Cases live now; the registry also keeps removed cases that kept their database or files."""
        return {case_id: r for case_id, r in self.registry.items() if not r.get("removed")}

    def web_of(self, host: str) -> WebState:
        return self.webs.get(host) or WebState({}, {}, set())


def database_host_of(record: dict[str, Any], inventory: Inventory) -> str | None:
    """The database host an ownership record names (records written before several database
    hosts were possible name none: the first of the engine's group kept them)."""
    database = record.get("database") or {}
    engine = database.get("engine")
    if not engine:
        return None
    host = database.get("host")
    if host:
        return str(host)
    group = inventory.database_hosts(str(engine))
    return group[0].name if group else None


def of_record(record: dict[str, Any], inventory: Inventory) -> Placement:
    """Where an installed (or removed but kept) case is, as its ownership record says."""
    return Placement(ip=str(record.get("ip") or record.get("ip_was")), web=str(record["web_host"]),
                     db=database_host_of(record, inventory))


def read_live_state(cases: list[Case], inventory: Inventory, hosts: Hosts, grants: bool = False) -> LiveState:
    """Read every server the cases touch; a server that cannot be read fails the run (exit 1).
    The name server, each web host and each database host are read side by side (over SSH each
    read is a round trip: on the multi-host lab, 0.28 s one after the other).

    ``grants``: also which database users hold their grants (for the fast path of apply)."""
    primary = inventory.dns_primary.address
    key = dnsq.inventory_key(inventory)
    wanted_users = sorted({c.system_user for c in cases})
    wanted_cases = {c.id for c in cases}  # whose files' checksums the fast path compares

    def read_dns() -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
        ptrs: dict[str, str] = {}
        for zone in inventory.reverse_zones:
            ptrs.update(dnsq.zone_ptrs(primary, zone, key))
        return ptrs, dnsq.names_in_zones(primary, sorted({case.zone for case in cases}), key,
                                         [case.fqdn for case in cases])

    def read_web(web: Host) -> tuple[WebState, set[str], set[str]]:
        return (hosts.web_state(web, cases=wanted_cases), hosts.existing_users(web, wanted_users),
                hosts.bound_addresses(web))

    def read_database(engine: str, db: Host) -> tuple[tuple[set[str], set[str]], set[tuple[str, str, str]] | None]:
        return hosts.databases(engine, db), hosts.grants(engine, db) if grants else None

    engines = sorted({c.database.engine for c in cases if c.database})
    with concurrent.futures.ThreadPoolExecutor(max_workers=READERS) as pool:
        dns_read = pool.submit(read_dns)
        web_reads = [(web, pool.submit(read_web, web)) for web in inventory.web_hosts]
        database_reads = [(engine, db, pool.submit(read_database, engine, db))
                          for engine in engines for db in inventory.database_hosts(engine)]
        try:
            ptrs, names = dns_read.result()
        except (dns.exception.DNSException, OSError) as exc:
            raise ServerDown(_("the primary name server {host} ({address}) cannot be read: {kind}: {error}; "
                               "nothing was changed").format(host=inventory.dns_primary.name, address=primary,
                                                             kind=exc.__class__.__name__, error=exc)) from None
        live = LiveState(ptrs=ptrs, names=names, registry={})
        try:
            for web, read in web_reads:
                state, live.users[web.name], live.bound[web.name] = read.result()
                live.webs[web.name] = state
                merge_records(live.registry, state.records)
            for engine, db, db_read in database_reads:
                live.databases.setdefault(engine, {})[db.name], held = db_read.result()
                if held is not None:
                    live.grants.setdefault(engine, {})[db.name] = held
        except (OSError, RuntimeError) as exc:
            raise ServerDown(_("a server cannot be read: {error}; nothing was changed").format(error=exc)) from None
    return live


def _kept(record: dict[str, Any]) -> set[str]:
    """What a removed case's record says it kept (one without the list kept all it names); an
    installed case holds everything."""
    if record.get("removed") and "kept" in record:
        return set(record.get("kept") or [])
    return {"files", "system_user", "database"}


def _holds_database(record: dict[str, Any]) -> bool:
    return bool((record.get("database") or {}).get("engine")) and "database" in _kept(record)


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
        kept = _kept(record)
        if not removed:
            claim(("name", str(record.get("fqdn"))), case_id, case_id)
        if kept & {"files", "system_user"}:
            said = _("{case} (removed; its files were kept: destroy {case} --remove-files removes them)").format(
                case=case_id) if removed else case_id
            for user in {str(record[k]) for k in ("system_user", "application") if record.get(k)}:
                claim(("system user", user), case_id, said)
        database = record.get("database") or {}
        if "database" in kept and database.get("engine"):
            said = _("{case} (removed; its database was kept: destroy {case} --drop-database dumps and drops "
                     "it)").format(case=case_id) if removed else case_id
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
        return FieldError(path, _("{fqdn} belongs to case {case}").format(fqdn=case.fqdn, case=owner))
    held = live.names.get(case.fqdn, {})
    foreign = {t: v for t, v in held.items() if t != "A"}
    stray_a = [a for a in held.get("A", []) if a != installed and taken.get(a) != case.fqdn]
    if not foreign and not stray_a:
        return None
    held_other = {**foreign, **({"A": stray_a} if stray_a else {})}
    detail = "; ".join(f"{t} {', '.join(v)}" for t, v in held_other.items())
    return FieldError(path, _("{fqdn} already holds other data in DNS ({records})").format(fqdn=case.fqdn,
                                                                                          records=detail))


def _object_conflicts(case: Case, live: LiveState, owners: Owners, web: str, db: str | None) -> list[FieldError]:
    """One reason for each of the case's system user, database and database user that is not
    its own: another case's record claims it, or it exists (on the case's web host, on its
    database host) and no case of the inventory does."""
    objects = [("application.name", "system user", _("system user"), case.system_user,
                case.system_user in live.users.get(web, set()))]
    if case.database is not None:
        names, users = live.databases.get(case.database.engine, {}).get(db or "", (set(), set()))
        engine = case.database.engine
        objects += [("hosting.database.name", f"{engine} database", _("{engine} database").format(engine=engine),
                     case.database.name, case.database.name in names),
                    ("hosting.database.user", f"{engine} database user",
                     _("{engine} database user").format(engine=engine), case.database.user,
                     case.database.user in users)]
    # What exists of a case the web host records (installed, or removed keeping it), or that a run
    # of it left behind (journal), is its own.
    own = case.id in live.registry or case.id in live.unfinished
    conflicts = []
    for path, what, label, value, exists in objects:
        owner = _owner(owners, (what, value), case.id)
        if owner is not None:
            conflicts.append(FieldError(f"{case.id}: {path}", _("{what} {value} belongs to case {case}").format(
                what=label, value=value, case=owner)))
        elif exists and not own:
            said = (_("{what} {value} exists on the web host {host} and belongs to no installed case of this "
                      "inventory") if what == "system user" else
                    _("{what} {value} exists on {host} and belongs to no installed case of this inventory"))
            conflicts.append(FieldError(f"{case.id}: {path}", said.format(what=label, value=value,
                                                                          host=web if what == "system user" else db)))
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
                                  _("case {case} is installed as {old}; renaming it to {fqdn} is not done in "
                                    "place: put the old name back, or destroy the case and apply it under the new "
                                    "name").format(case=case.id, old=record.get("fqdn"), fqdn=case.fqdn)))
    if record.get("application") not in (None, case.app_name):
        refused.append(FieldError(f"{case.id}: application.name",
                                  _("case {case} is installed as application {application}; its name (and system "
                                    "user) cannot change in place: put it back, or destroy the case and apply it "
                                    "again").format(case=case.id, application=record.get("application"))))
    theirs = record.get("database") or {}
    if theirs.get("engine"):
        engine = case.database.engine if case.database else "none"
        if engine != theirs["engine"]:
            refused.append(FieldError(f"{case.id}: hosting.database.engine",
                                      _("case {case} keeps its data in {old}; moving it to {engine} is not done in "
                                        "place: export the data, destroy the case (--drop-database dumps it first), "
                                        "apply it with the new engine and import the data").format(
                                          case=case.id, old=theirs["engine"], engine=engine)))
        elif case.database:
            for key in ("name", "user"):
                if theirs.get(key) not in (None, getattr(case.database, key)):
                    refused.append(FieldError(f"{case.id}: hosting.database.{key}",
                                              _("case {case} uses {engine} {key} {value}; it cannot change in "
                                                "place: put it back, or destroy the case and apply it again").format(
                                                  case=case.id, engine=engine, key=key, value=theirs[key])))
    return refused


def _hosts_for(case: Case, inventory: Inventory, live: LiveState, load: dict[str, int],
               db_load: dict[tuple[str, str], int]) -> tuple[str, str | None, list[FieldError]]:
    """(web host, database host, refusals) of the case. An installed case, one removed keeping its
    files or database, and one a dead run left behind stay where they are; a new one goes where
    ``hosting.server`` says, else to the web host whose pool holds its address, else to the one
    serving the fewest sites (then by name); its database likewise to the fewest databases."""
    problems = []
    record = live.registry.get(case.id) or {}
    unfinished = live.unfinished.get(case.id) or {}
    # The ownership record (of a removed case too: it keeps its owner's claims) stays on its host.
    web = str(record.get("web_host") or unfinished.get("web") or "")
    if web and web not in {h.name for h in inventory.web_hosts}:
        problems.append(FieldError(f"{case.id}: hosting.server",
                                   _("case {case} was being installed on {host}, which is not a web host of "
                                     "inventory {inventory} any more: put it back in group web, or remove what is "
                                     "left of the case there by hand").format(case=case.id, host=web,
                                                                              inventory=inventory.name)))
        return web, None, problems
    if web and case.server not in (None, web):
        how = (_("destroy the case and apply it again") if not record.get("removed") else
               _("destroy {case} --drop-database --remove-files first (it was removed, keeping {kept} there)").format(
                   case=case.id, kept=", ".join(sorted(_kept(record))) or _("its record")))
        problems.append(FieldError(f"{case.id}: hosting.server",
                                   _("case {case} is on {host}; moving it to {server} is not done in place: write "
                                     "server: {host}, or {how}").format(case=case.id, host=web, server=case.server,
                                                                         how=how)))
    if not web:
        candidates = inventory.web_hosts
        if case.server:
            candidates = [inventory.web_host(case.server)]
        elif case.public_ip == "shared":
            candidates = [h for h in candidates if inventory.shared_address(h)]
        elif case.public_ip != "auto":
            address = ipaddress.IPv4Address(case.public_ip)
            candidates = [h for h in candidates if address in inventory.pool_addresses(h)]
        web = min(candidates, key=lambda h: (load.get(h.name, 0), h.name)).name
    db = None
    if case.database is not None:
        engine = case.database.engine
        db = database_host_of(record, inventory) if _holds_database(record) else unfinished.get("db")
        if db and case.database.server not in (None, db):
            problems.append(FieldError(f"{case.id}: hosting.database.server",
                                       _("case {case} keeps its data on {host}; moving it to {server} is not done "
                                         "in place: export the data, destroy the case (--drop-database dumps it "
                                         "first), apply it on the new host and import the data").format(
                                           case=case.id, host=db, server=case.database.server)))
        if not db:
            group = [inventory.database_host(engine, case.database.server)] if case.database.server \
                else inventory.database_hosts(engine)
            db = min(group, key=lambda h: (db_load.get((engine, h.name), 0), h.name)).name
    return web, db, problems


def place(cases: list[Case], inventory: Inventory,
          live: LiveState) -> tuple[dict[str, Placement], list[FieldError]]:
    """Choose each case's web host, database host and address; list the conflicts with what is
    live (exit 3).

    An installed case keeps its hosts and address. ``auto`` takes the lowest address of its web
    host's pool that no PTR and no other case's record holds; ``shared`` is its web host's shared
    address, told apart by name.
    """
    chosen: dict[str, Placement] = {}
    conflicts: list[FieldError] = []
    shared_of = {h.name: inventory.shared_address(h) for h in inventory.web_hosts}
    taken = dict(live.ptrs)
    for host, address in shared_of.items():
        if address:
            taken[address] = _("the shared address of {host}").format(host=host)
    load: dict[str, int] = {}
    db_load: dict[tuple[str, str], int] = {}
    for record in live.registry.values():
        if not record.get("removed") and not record.get("shared"):
            taken.setdefault(str(record.get("ip")), str(record.get("fqdn")))
        if not record.get("removed"):
            load[str(record.get("web_host"))] = load.get(str(record.get("web_host")), 0) + 1
        db = database_host_of(record, inventory) if _holds_database(record) else None
        if db:
            key = (str((record.get("database") or {}).get("engine")), db)
            db_load[key] = db_load.get(key, 0) + 1
    for entry in live.unfinished.values():
        if not entry.get("shared"):
            taken.setdefault(str(entry.get("ip")), str(entry.get("fqdn")))
    for host, addresses in sorted(live.bound.items()):
        for address in addresses:
            taken.setdefault(address, _("an address bound on the web host {host}").format(host=host))
    owners = _owners(live)  # each object of a case gets one reason, never two that disagree
    for case in cases:
        changes = _changes_in_place(case, live)
        if changes:  # the other checks would name the case's own old name as someone else's
            conflicts += changes
            continue
        web, db, problems = _hosts_for(case, inventory, live, load, db_load)
        if web not in {h.name for h in inventory.web_hosts}:  # a dead run's host, gone from the inventory
            conflicts += problems
            continue
        installed = (live.installed.get(case.id) or live.unfinished.get(case.id) or {}).get("ip")
        name = _name_conflict(case, live, owners, installed, taken)
        problems += ([name] if name else []) + _object_conflicts(case, live, owners, web, db)
        wanted = {"auto": installed, "shared": shared_of.get(web)}.get(case.public_ip, case.public_ip)
        server = inventory.web_host(web)
        if wanted is None:
            wanted = next((str(a) for a in inventory.pool_addresses(server) if str(a) not in taken), None)
            if wanted is None:
                problems.append(FieldError(f"{case.id}: hosting.public_ip",
                                           _("the pool of {host} ({range}) has no free address left").format(
                                               host=web, range=_range(inventory, server))))
        elif installed and wanted != installed:
            problems.append(FieldError(f"{case.id}: hosting.public_ip",
                                       _("{fqdn} is installed on {address}; moving it is not supported (destroy the "
                                         "case first)").format(fqdn=case.fqdn, address=installed)))
        elif case.public_ip not in ("auto", "shared") and ipaddress.IPv4Address(wanted) \
                not in inventory.pool_addresses(server):
            problems.append(FieldError(f"{case.id}: hosting.public_ip",
                                       _("{address} is outside the pool of {host}, where the case is: {range}").format(
                                           address=wanted, host=web, range=_range(inventory, server))))
        elif case.public_ip != "shared" and taken.get(wanted) not in (None, case.fqdn):
            problems.append(FieldError(f"{case.id}: hosting.public_ip", _("{address} is held by {holder}").format(
                address=wanted, holder=taken[wanted])))
        if problems:
            conflicts += problems
            continue
        assert wanted is not None
        chosen[case.id] = Placement(wanted, web, db)
        load[web] = load.get(web, 0) + 1
        if case.database is not None and db:
            db_load[(case.database.engine, db)] = db_load.get((case.database.engine, db), 0) + 1
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
        said = (_("the cases cannot be placed on inventory {inventory}") if len(cases) > 1 else
                _("the case cannot be placed on inventory {inventory}"))
        raise InvalidInput(said.format(inventory=inventory.name), errors)
