"""Generated cases for the fleet test and the bench: many small cases of every kind.

Kinds in turn: static; PHP with MariaDB (the example release, a trial on its page); proxy with
PostgreSQL and self-signed TLS. Every ``shared_every``-th case is on the web host's shared
address, the others get their own from the pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "examples" / "releases" / "sikesda-1.4.2.tar.gz"
KINDS = ("static", "php", "proxy")
LETTERS = {"static": "s", "php": "p", "proxy": "x"}


def case(index: int, kind: str, shared: bool = False, prefix: str = "fleet") -> dict[str, Any]:
    name = f"{prefix[:4]}{LETTERS[kind]}{index:03d}"
    data: dict[str, Any] = {
        "id": f"{prefix}-{index:03d}",
        "opd": {"code": "UJI", "name": "Uji Armada"},
        "letter": {"number": f"000/{index}/UJI/2026", "date": "2026-11-01"},
        "approval": {"status": "approved", "by": "Kepala Bidang Aplikasi Informatika", "date": "2026-11-02"},
        "application": {"name": name, "title": f"Aplikasi uji {index}", "category": "umum", "source": "inhouse",
                        "runtime": "static"},
        "hosting": {"subdomain": name, "zone": "tarakankota.go.id", "public_ip": "shared" if shared else "auto",
                    "tls": "none", "database": {"engine": "none"}},
        "contact": {"name": "Penguji", "email": "uji@example.go.id"},
    }
    if kind == "php":
        data["application"].update(runtime="php", release=str(RELEASE),
                                   trial=[{"path": "/", "status": 200, "contains": "database: ok"}])
        data["hosting"]["database"] = {"engine": "mariadb"}
    elif kind == "proxy":
        data["application"].update(runtime="proxy", upstream="http://127.0.0.1:8081")
        data["hosting"].update(tls="self-signed", database={"engine": "postgresql"})
    return data


def write(folder: Path, count: int, shared_every: int = 4, prefix: str = "fleet") -> list[str]:
    """``count`` case files in ``folder``; their paths, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        data = case(index, KINDS[index % len(KINDS)], shared=shared_every > 0 and index % shared_every == 0,
                    prefix=prefix)
        path = folder / f"{data['id']}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(str(path))
    return paths


def write_records(root: Path, case_file: Path, ip: str, passed: bool, checks: list[Any] | None = None) -> None:
    """A case's records as ``apply`` leaves them, without a lab: its copy, configuration, trial,
    and the installation in its trail when the trial passed, an incident when it did not.
    ``checks``: the trial's checks (default: two, one of them the case's own trial request)."""
    import datetime as dt

    from provisioner import trail
    from provisioner.case import load_case
    from provisioner.inventory import load_inventory
    from provisioner.records import Records
    from provisioner.site import Placement, build
    from provisioner.trial import Check

    wita = dt.timezone(dt.timedelta(hours=8))
    inventory = load_inventory(ROOT / "inventories" / "local")
    case = load_case(case_file)
    site = build(case, Placement(ip, "localhost"), inventory, password_file=Path("/nonexistent"))
    store = Records(root)
    store.write_case(site)
    store.write_configuration(site, inventory, {"apache": "Apache/2.4.71"}, "2026-11-27T10:00:00+08:00")
    checks = checks or [Check("dns A on ns1", True, f"-> {ip}", 0.001), Check("trial[0] GET /", passed, "200", 0.02)]
    store.write_trial(site, inventory, checks, "2026-11-27T10:05:00+08:00")
    if passed:
        trail.record_install(root, case, dt.datetime(2026, 11, 27, 10, 0, tzinfo=wita),
                             dt.datetime(2026, 11, 27, 10, 5, tzinfo=wita), "penguji")
    else:
        store.write_incident(case.id, case.fqdn, "apply", "trial", ["check 'trial[0] GET /': 500"],
                             [f"{case.id}: database: database, user, grant"])
