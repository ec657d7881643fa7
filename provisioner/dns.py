"""Queries to the authoritative name servers, signed with the inventory's TSIG key where needed.

Changes to DNS go through the ``dns_record`` role (RFC 2136 via Ansible); this module only reads:
the conflict checks, the address allocation (the reverse zone records which addresses are taken)
and the trial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.tsig
import dns.xfr
import dns.zone

from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _

if TYPE_CHECKING:
    from provisioner.inventory import Inventory

TIMEOUT = 2.0
_KEY = re.compile(r'key\s+"?([^"\s]+)"?\s*\{(.*?)\}\s*;', re.S)
_ALGO = re.compile(r"algorithm\s+([A-Za-z0-9-]+)\s*;")
_SECRET = re.compile(r'secret\s+"([^"]+)"\s*;')


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        key = dns.tsig.Key(self.name, self.secret, self.algorithm)
        return {key.name: key}

    def __repr__(self) -> str:  # never show the secret
        return f"TsigKey(name={self.name!r}, algorithm={self.algorithm!r})"


def inventory_key(inventory: Inventory) -> TsigKey:
    """The inventory's TSIG key: the key itself (``provisioner_tsig_name``, ``_algorithm`` and the
    usually vaulted ``provisioner_tsig_secret``), or BIND's key file (``provisioner_tsig_key_file``)."""
    inline = inventory.tsig_inline
    if inline is not None:
        return TsigKey(*inline)
    path = inventory.tsig_key_file
    if path is None:  # load_inventory refuses an inventory with neither
        raise InvalidInput(_("inventory {inventory} has no TSIG key").format(inventory=inventory.name),
                           [FieldError("group_vars/all.provisioner_tsig_key_file", _("is required"))])
    return read_tsig_key(path)


def read_tsig_key(path: Path) -> TsigKey:
    """Parse a key file in BIND's format (as ``tsig-keygen`` writes it)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput(_("the TSIG key file cannot be read: {path}").format(path=path),
                           [FieldError("group_vars/all.provisioner_tsig_key_file", str(exc))]) from None
    match = _KEY.search(text)
    algo = _ALGO.search(match.group(2)) if match else None
    secret = _SECRET.search(match.group(2)) if match else None
    if not (match and algo and secret):
        raise InvalidInput(_("no TSIG key in {path}").format(path=path),
                           [FieldError("group_vars/all.provisioner_tsig_key_file",
                                       _("must hold a key in BIND's format: {example}").format(
                                           example='key "name" { algorithm ...; secret "..."; };'))])
    return TsigKey(match.group(1), algo.group(1), secret.group(1))


def query(server: str, name: str, rdtype: str, port: int = 53) -> tuple[str, list[str]]:
    """Ask ``server`` directly; return (rcode text, answers as text). Raises dns.exception.DNSException."""
    request = dns.message.make_query(name, rdtype)
    request.flags &= ~dns.flags.RD
    response = dns.query.udp(request, server, timeout=TIMEOUT, port=port)
    qname = dns.name.from_text(name)
    answers = [rr.to_text() for rrset in response.answer for rr in rrset
               if rrset.rdtype == dns.rdatatype.from_text(rdtype) and rrset.name == qname]
    return dns.rcode.to_text(response.rcode()), answers


NAME_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV")


def names_at(server: str, fqdn: str, port: int = 53) -> dict[str, list[str]]:
    """Every record type ``fqdn`` holds on ``server`` (A, AAAA, CNAME, MX, TXT, ...)."""
    held: dict[str, list[str]] = {}
    for rdtype in NAME_TYPES:
        _, answers = query(server, fqdn, rdtype, port)
        if answers:
            held[rdtype] = answers
    return held


def soa_serial(server: str, zone: str, port: int = 53) -> int | None:
    _, answers = query(server, zone, "SOA", port)
    return int(answers[0].split()[2]) if answers else None


def transfer(server: str, zone_name: str, key: TsigKey, port: int = 53) -> dns.zone.Zone:
    """The whole zone, by one TSIG-signed zone transfer (AXFR)."""
    zone = dns.zone.Zone(dns.name.from_text(zone_name), relativize=False)
    request, _ = dns.xfr.make_query(zone)
    request.use_tsig(key.keyring(), keyname=key.name, algorithm=key.algorithm)
    dns.query.inbound_xfr(server, zone, request, port=port, timeout=TIMEOUT, lifetime=TIMEOUT * 3)
    return zone


def names_in_zones(server: str, zones: list[str], key: TsigKey, fqdns: list[str],
                   port: int = 53) -> dict[str, dict[str, list[str]]]:
    """What ``names_at`` says of each of ``fqdns``, read by one zone transfer per zone, not a
    query per name and type: a batch of 500 names costs one transfer."""
    held: dict[str, dict[str, list[str]]] = {fqdn: {} for fqdn in fqdns}
    for zone_name in zones:
        records = zone_records(server, zone_name, key, port)
        for fqdn in fqdns:
            found = records.get(fqdn.rstrip(".").lower(), {})
            held[fqdn].update({rdtype: answers for rdtype, answers in found.items() if rdtype in NAME_TYPES})
    return held


def zone_records(server: str, zone_name: str, key: TsigKey, port: int = 53) -> dict[str, dict[str, list[str]]]:
    """Every name of the zone on ``server`` (absolute, lower case, no final dot) -> type -> its
    records as ``query`` gives them, by one TSIG-signed zone transfer."""
    zone = transfer(server, zone_name, key, port)
    held: dict[str, dict[str, list[str]]] = {}
    for name, rdataset in zone.iterate_rdatasets():
        records = held.setdefault(name.to_text().rstrip(".").lower(), {})
        records[dns.rdatatype.to_text(rdataset.rdtype)] = [rr.to_text() for rr in rdataset]
    return held


def zone_ptrs(server: str, reverse_zone: str, key: TsigKey, port: int = 53) -> dict[str, str]:
    """Address -> name for every PTR of the reverse zone, by a TSIG-signed zone transfer."""
    zone = transfer(server, reverse_zone, key, port)
    found: dict[str, str] = {}
    for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.PTR):
        address = dns.reversename.to_address(name)
        found[address] = rdataset[0].target.to_text().rstrip(".")
    return found
