"""The fast path of ``apply``: which installed cases are already as their case file says.

A case is *converged* when everything it was applied from is unchanged and everything it was
applied to still holds, as far as one read of each server can prove it:

- the ownership record on the site's web host carries the digest of this very input: the site's
  variables, the release archive and TLS files they name, the playbooks, and the inventory;
- each file the record lists (vhost and its link, php-fpm pool, settings file, TLS files) still
  has the checksum it was written with;
- DNS holds its A record (and its own PTR) at the primary, the address is bound, the database
  and user exist and the user holds its grant from the web host, and Apache (and php-fpm) run.

Converged cases are left alone: no Ansible run, no trial, no new records (Terraform's "No
changes"); ``verify`` trials them. Anything the comparison cannot prove sends the case through
Ansible, so a hand edit that verify sees is healed by a plain ``apply``; ``apply --full`` sends
every case.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from provisioner.checksums import sha256_of
from provisioner.inventory import Inventory
from provisioner.placement import LiveState
from provisioner.site import Site, php_version

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
# Per site, not inputs: whether it was there before, or a run died, changes nothing it is applied from.
_NOT_INPUTS = ("installed", "recover", "inputs_digest")


@functools.lru_cache(maxsize=64)
def _file_digest(path: str) -> str:
    try:
        return sha256_of(path)
    except OSError:
        return "missing"


@functools.lru_cache(maxsize=8)
def tree_digest(folder: Path) -> str:
    """SHA-256 over every file's path and content under ``folder`` (the playbooks, an inventory)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + _file_digest(str(path)).encode() + b"\0")
    return digest.hexdigest()


def inputs_digest(site: Site, inventory: Inventory) -> str:
    """The digest the ownership record keeps: equal digests mean Ansible would get the same input."""
    values = {k: v for k, v in site.vars.as_vars().items() if k not in _NOT_INPUTS}
    named = [p for p in (site.vars.release, site.vars.tls_source_cert, site.vars.tls_source_key,
                         site.vars.db.password_file if site.vars.db else "") if p]
    document = {"site": values, "files": {p: _file_digest(p) for p in named},
                "playbooks": tree_digest(PLAYBOOKS), "inventory": tree_digest(inventory.path)}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def differences(site: Site, inventory: Inventory, live: LiveState) -> list[str]:
    """Why ``site`` must go through Ansible; empty when it is converged."""
    v = site.vars
    web = live.web_of(v.web_host)
    record = web.records.get(site.id)
    if record is None or record.get("removed"):
        return ["not installed"]
    reasons = []
    if record.get("inputs_digest") != v.inputs_digest:
        reasons.append("applied from other inputs (case, release, playbooks or inventory)")
    recorded = record.get("checksums") or {}
    for path in v.checked_files:
        if path not in recorded:
            reasons.append(f"{path}: no checksum on record")
        elif recorded[path] is None or web.checksums.get(path) != recorded[path]:
            reasons.append(f"{path} is missing or differs from what apply wrote")
    if live.names.get(site.fqdn, {}).get("A") != [site.ip]:
        reasons.append(f"DNS: {site.fqdn} A is not only {site.ip}")
    if not v.shared and live.ptrs.get(site.ip) != site.fqdn:
        reasons.append(f"DNS: {site.ip} PTR is not {site.fqdn}")
    if site.ip not in live.bound.get(v.web_host, set()):
        reasons.append(f"{site.ip} is not bound on {inventory.public_interface} of {v.web_host}")
    if v.db is not None:
        names, users = live.databases.get(v.db.engine, {}).get(v.db.host, (set(), set()))
        if v.db.name not in names or v.db.user not in users:
            reasons.append(f"{v.db.engine}: database {v.db.name} or user {v.db.user} is missing")
        elif (v.db.name, v.db.user, v.db.client_address) not in live.grants.get(v.db.engine, {}).get(v.db.host, set()):
            reasons.append(f"{v.db.engine}: {v.db.user} has no grant on {v.db.name} from {v.db.client_address}")
    wanted = {"apache2"} | ({f"php-fpm{php_version(inventory)}"} if v.runtime == "php" else set())
    if not wanted <= web.processes:
        reasons.append(f"not running: {', '.join(sorted(wanted - web.processes))}")
    return reasons


def split(sites: list[Site], inventory: Inventory, live: LiveState,
          full: bool = False) -> tuple[list[Site], list[Site]]:
    """(sites that go through Ansible, sites left alone), each site given its inputs digest."""
    to_apply, unchanged = [], []
    for site in sites:
        site.vars.inputs_digest = inputs_digest(site, inventory)
        if full or differences(site, inventory, live):
            to_apply.append(site)
        else:
            unchanged.append(site)
    return to_apply, unchanged
