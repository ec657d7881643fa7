"""The records the SOP asks for, one folder per case under ``records/``.

``records/`` is meant to be kept in git by the division: nothing written here holds a secret.
Documents for people are rendered from ``templates/`` with undefined variables as errors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import yaml

from provisioner.inventory import Inventory
from provisioner.sites import Site
from provisioner.trial import Check

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
WITA = dt.timezone(dt.timedelta(hours=8), "WITA")


def now() -> dt.datetime:
    """Times in records are in Kota Tarakan's offset, WITA (UTC+8)."""
    return dt.datetime.now(WITA).replace(microsecond=0)


def _markdown_cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def environment(lang: str = "id") -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES / lang)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown; cells are escaped by the md filter
    )
    env.filters["md"] = _markdown_cell
    return env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def configuration(site: Site, inventory: Inventory, versions: dict[str, str], applied_at: str) -> dict[str, Any]:
    """Data Konfigurasi Aplikasi: what is needed to rebuild the installation, and no secret."""
    case, v = site.case, site.vars
    data: dict[str, Any] = {
        "case": case.id,
        "fqdn": site.fqdn,
        "public_ip": site.ip,
        "inventory": inventory.name,
        "applied_at": applied_at,
        "application": {
            "name": case.app_name, "title": case.app_title, "category": case.category,
            "source": case.source_kind, "vendor": case.vendor, "runtime": case.runtime,
            "upstream": case.upstream,
            "release": ({"file": case.release.name, "sha256": _sha256(case.release)} if case.release else None),
        },
        "hosts": {
            "web": inventory.web.name,
            "database": (inventory.database_host(case.database.engine).name if case.database else None),
            "dns_primary": inventory.dns_primary.name,
            "dns_secondary": [h.name for h in inventory.group("dns_secondary")],
        },
        "web": {
            "system_user": v["user"], "root": v["root"], "document_root": v["docroot"], "logs": v["logdir"],
            "vhost": v["vhost_file"], "php_fpm_pool": v["pool_file"] or None,
            "php_fpm_socket": v["pool_socket"] or None, "settings_file": v["env_file"] or None,
        },
        "tls": {"mode": case.tls, "certificate": v["tls_cert"] or None, "key": v["tls_key"] or None},
        "dns": {"zone": case.zone, "a": f"{site.fqdn}. A {site.ip}",
                "ptr": f"{v['ptr_name']} PTR {site.fqdn}.", "reverse_zone": inventory.reverse_zone},
        "database": None,
        "software": versions,
    }
    if case.database is not None:
        db = v["db"]
        data["database"] = {
            "engine": db["engine"], "name": db["name"], "user": db["user"], "host": db["host"],
            "address": db["address"], "port": db["port"], "allowed_from": db["client_address"],
            "password": "generated; kept owner-only on the controller, never in records",
        }
    return data


def _case_copy(site: Site) -> str:
    """The case as applied, its file paths made absolute so the copy loads from the records."""
    assert site.case.source is not None
    data = yaml.safe_load(site.case.source.read_text(encoding="utf-8"))
    absolute = {("application", "release"): site.case.release, ("hosting", "tls_cert"): site.case.tls_cert,
                ("hosting", "tls_key"): site.case.tls_key}
    for (section, key), path in absolute.items():
        if path is not None:
            data[section][key] = str(path)
    return (f"# Case {site.id} as applied, copied from {site.case.source}; file paths made absolute.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


class Records:
    def __init__(self, root: Path) -> None:
        self.root = root

    def case_dir(self, case_id: str) -> Path:
        path = self.root / case_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _write(self, path: Path, text: str) -> Path:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    def write_configuration(self, site: Site, inventory: Inventory, versions: dict[str, str],
                            applied_at: str) -> list[Path]:
        folder = self.case_dir(site.id)
        written = []
        if site.case.source is not None and site.case.source.resolve() != (folder / "case.yml").resolve():
            written.append(self._write(folder / "case.yml", _case_copy(site)))
        data = configuration(site, inventory, versions, applied_at)
        written.append(self._write(folder / "konfigurasi.yml",
                                   "# Data Konfigurasi Aplikasi (written by provisioner; no secrets)\n"
                                   + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)))
        return written

    def write_trial(self, site: Site, inventory: Inventory, checks: list[Check], tested_at: str) -> list[Path]:
        folder = self.case_dir(site.id)
        passed = all(c.ok for c in checks)
        payload = {"case": site.id, "fqdn": site.fqdn, "public_ip": site.ip, "inventory": inventory.name,
                   "tested_at": tested_at, "passed": passed, "checks": [c.as_dict() for c in checks]}
        text = environment().get_template("uji-coba.md.j2").render(
            case=site.case, fqdn=site.fqdn, public_ip=site.ip, inventory=inventory.name,
            tested_at=tested_at, passed=passed, checks=checks)
        return [self._write(folder / "uji-coba.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n"),
                self._write(folder / "uji-coba.md", text)]

    def write_incident(self, case_id: str, fqdn: str, command: str, stage: str,
                       failures: Iterable[str], undone: Iterable[str]) -> Path:
        when = now()
        folder = self.case_dir(case_id) / "insiden"
        folder.mkdir(exist_ok=True)
        text = environment().get_template("insiden.md.j2").render(
            case_id=case_id, fqdn=fqdn, when=when.isoformat(), command=command, stage=stage,
            failures=list(failures), undone=list(undone))
        name = when.strftime("%Y%m%dT%H%M%S")
        path = folder / f"{name}.md"
        counter = 1
        while path.exists():
            counter += 1
            path = folder / f"{name}-{counter}.md"
        return self._write(path, text)
