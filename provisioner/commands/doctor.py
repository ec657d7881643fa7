"""``provisioner doctor``: before first use on real servers (and whenever in doubt), is everything
where the inventory says, and can the tool do its work there?

Each host is reached with the inventory's own connection settings; Apache, php-fpm, MariaDB,
PostgreSQL and BIND run where the groups say; the web hosts have the public interface; every zone
is served by every name server; the TSIG key signs an update in each zone (a scratch TXT name,
added and removed at once: the only change doctor makes); the pool's addresses are free unless an
installed case holds them. ``lab status`` reads the same services, interface, zones and key.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.update

from provisioner import dns as dnsq
from provisioner import language, site
from provisioner.bilingual import Said
from provisioner.commands.base import Context, reporting
from provisioner.errors import EXIT_FAILED
from provisioner.hosts import Hosts
from provisioner.inventory import Host, Inventory
from provisioner.language import N_, _
from provisioner.report import CaseReport, Report
from provisioner.trial import Check, timed

# Process names (comm) each group's hosts run; php-fpm's carries the inventory's PHP version.
SERVICES = {"web": ["apache2", "php-fpm{php}"], "db_mariadb": ["mariadbd"], "db_postgresql": ["postgres"],
            "dns_primary": ["named"], "dns_secondary": ["named"]}
SCRATCH_TTL = 60


def _guarded(name: Said, probe: Callable[[], tuple[bool, Said | str]]) -> Check:
    """``timed``, and any error of a connection library (paramiko's are not OSErrors) is a failed check."""
    def safe() -> tuple[bool, Said | str]:
        try:
            return probe()
        except Exception as exc:  # a host that cannot be reached is what doctor reports
            return False, f"{exc.__class__.__name__}: {exc}"

    return timed(name, safe)


def reach_checks(inventory: Inventory, hosts: Hosts) -> list[Check]:
    seen: dict[str, Host] = {}
    for group in SERVICES:
        for host in inventory.group(group):
            seen.setdefault(host.name, host)

    def probe(host: Host) -> tuple[bool, Said | str]:
        out = hosts.get(host).run("id -un")
        if out.rc != 0:
            return False, (out.stderr or out.stdout).strip()
        return True, Said.message(N_("as {user}"), user=out.stdout.strip() or "?")

    return [_guarded(Said.message(N_("{host} reachable"), host=name), functools.partial(probe, host))
            for name, host in seen.items()]


def service_checks(inventory: Inventory, hosts: Hosts) -> list[Check]:
    php = site.php_version(inventory)
    checks = []
    for group, names in SERVICES.items():
        for host in inventory.group(group):
            for comm in (name.format(php=php) for name in names):
                def probe(host: Host = host, comm: str = comm) -> tuple[bool, Said | str]:
                    found = hosts.get(host).process.filter(comm=comm)
                    return bool(found), Said.message(N_("{count} process(es)"), count=len(found))

                checks.append(_guarded(Said.message(N_("{process} running on {host}"), process=comm, host=host.name),
                                       probe))
    return checks


def interface_checks(inventory: Inventory, hosts: Hosts) -> list[Check]:
    def probe(web: Host) -> tuple[bool, Said | str]:
        return hosts.get(web).interface(inventory.public_interface).exists, inventory.public_interface

    return [_guarded(Said.message(N_("public interface on {host}"), host=web.name), functools.partial(probe, web))
            for web in inventory.group("web")]


def zone_checks(inventory: Inventory) -> list[Check]:
    checks = []
    for zone in [*inventory.zones, *inventory.reverse_zones]:
        for server in inventory.dns_servers:
            def probe(zone: str = zone, server: Host = server) -> tuple[bool, Said | str]:
                serial = dnsq.soa_serial(server.address, zone)
                return serial is not None, Said.message(N_("SOA serial {serial}"), serial=serial)

            checks.append(_guarded(Said.message(N_("zone {zone} served by {host}"), zone=zone, host=server.name),
                                   probe))
    return checks


def key_check(inventory: Inventory) -> Check:
    key_file = inventory.tsig_key_file
    return _guarded(Said.message(N_("TSIG key readable")), lambda: (
        (True, Said.message(N_("held in the inventory"))) if key_file is None else (key_file.exists(), str(key_file))))


def _scratch_update(server: str, zone: str, key: dnsq.TsigKey) -> tuple[bool, Said | str]:
    """Add a TXT record at a scratch name of ``zone`` and delete it, both signed with ``key``."""
    name = dns.name.from_text(f"_provisioner-doctor-{os.getpid()}", dns.name.from_text(zone))
    for action in ("add", "delete"):
        update = dns.update.UpdateMessage(zone, keyring=key.keyring(),
                                          keyname=dns.name.from_text(key.name), keyalgorithm=key.algorithm)
        if action == "add":
            update.add(name, SCRATCH_TTL, "TXT", '"provisioner doctor"')
        else:
            update.delete(name)
        answer = dns.query.tcp(update, server, timeout=dnsq.TIMEOUT)
        if answer.rcode() != dns.rcode.NOERROR:
            said = N_("adding {name} refused: {rcode}") if action == "add" else N_("removing {name} refused: {rcode}")
            return False, Said.message(said, name=name, rcode=dns.rcode.to_text(answer.rcode()))
    return True, Said.message(N_("{name} added and removed"), name=name)


def tsig_checks(inventory: Inventory) -> list[Check]:
    primary = inventory.dns_primary

    def probe(zone: str) -> tuple[bool, Said | str]:
        try:
            return _scratch_update(primary.address, zone, dnsq.inventory_key(inventory))
        except dns.exception.DNSException as exc:
            return False, f"{exc.__class__.__name__}: {exc}"

    return [_guarded(Said.message(N_("TSIG update in {zone} on {host}"), zone=zone, host=primary.name),
                     functools.partial(probe, zone))
            for zone in [*inventory.zones, *inventory.reverse_zones]]


def pool_checks(inventory: Inventory, hosts: Hosts) -> list[Check]:
    """Per web host: the addresses of its pool bound there belong to an installed case or are a
    shared address."""
    shared = {inventory.shared_address(h) for h in inventory.web_hosts} - {None}

    @functools.cache
    def held() -> set[str]:  # every web host's records, read once for all the checks
        return {str(r.get("ip")) for r in hosts.registry().values() if not r.get("removed")}

    def probe(web: Host) -> tuple[bool, Said | str]:
        pool = {str(a) for a in inventory.pool_addresses(web)}
        bound = hosts.bound_addresses(web)
        stray = sorted((bound & pool) - held() - shared)
        free = len(pool - bound)
        if stray:
            listed = ", ".join(stray[:10]) + (" ..." if len(stray) > 10 else "")
            return False, Said.message(N_("bound by no installed case: {addresses}"), addresses=listed)
        return True, Said.message(N_("{free} of {total} free"), free=free, total=len(pool))

    return [_guarded(Said.message(N_("pool addresses of {host} free or held by a case"), host=web.name),
                     functools.partial(probe, web))
            for web in inventory.web_hosts]


def run(ctx: Context) -> Report:
    with reporting("doctor") as report:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        checks = [*reach_checks(inventory, hosts), *service_checks(inventory, hosts),
                  *interface_checks(inventory, hosts), *zone_checks(inventory), key_check(inventory),
                  *tsig_checks(inventory), *pool_checks(inventory, hosts)]
        report.cases.append(CaseReport(id=f"inventory {inventory.name}", checks=checks))
        problems = [c.texts(language.current())["name"] for c in checks if not c.ok]
        if problems:
            report.exit_code = EXIT_FAILED
            report.message = _("{count} problem(s): {problems}").format(count=len(problems),
                                                                       problems="; ".join(problems))
        else:
            report.message = _("inventory {inventory} is ready ({count} checks)").format(inventory=inventory.name,
                                                                                        count=len(checks))
    return report
