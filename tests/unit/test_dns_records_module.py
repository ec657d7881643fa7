"""The batched DNS module of the dns_record role: which records need an update, and what is refused."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT

PATH = ROOT / "playbooks/roles/dns_record/library/provisioner_dns_records.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provisioner_dns_records", PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


M = _module()
SITE = {"id": "2026-011", "installed": False, "zone": "tarakankota.go.id", "fqdn": "ppid.tarakankota.go.id",
        "ip": "198.19.0.10", "reverse_zone": "0.19.198.in-addr.arpa", "ptr_name": "10.0.19.198.in-addr.arpa."}


def test_records_are_derived_from_the_site() -> None:
    assert M._record(SITE, "A") == {"zone": "tarakankota.go.id", "name": "ppid.tarakankota.go.id.", "type": "A",
                                    "value": "198.19.0.10", "site": {"id": "2026-011", "installed": False}}
    ptr = M._record(SITE, "PTR")
    assert (ptr["zone"], ptr["name"], ptr["value"]) == ("0.19.198.in-addr.arpa", "10.0.19.198.in-addr.arpa.",
                                                        "ppid.tarakankota.go.id.")


def test_only_records_that_differ_are_sent() -> None:
    record = M._record(SITE, "A")
    key = ("ppid.tarakankota.go.id.", "A")
    assert M._wanted_change(record, {key: {"198.19.0.10"}}, "present") is False
    assert M._wanted_change(record, {}, "present") is True
    assert M._wanted_change(record, {key: {"198.19.0.10", "198.19.0.99"}}, "present") is True
    assert M._wanted_change(record, {key: {"198.19.0.10"}}, "absent") is True
    assert M._wanted_change(record, {}, "absent") is False


def test_other_data_at_the_name_is_named() -> None:
    record = M._record(SITE, "A")
    current = {("ppid.tarakankota.go.id.", "A"): {"203.0.113.9", "198.19.0.10"},
               ("ppid.tarakankota.go.id.", "CNAME"): {"elsewhere.example."}}
    assert M._other_data(record, current) == ["203.0.113.9", "CNAME elsewhere.example."]
    assert M._other_data(record, {("ppid.tarakankota.go.id.", "A"): {"198.19.0.10"}}) == []


def test_dnspython_loads_without_its_dns_over_https_clients_which_stay_importable(tmp_path: Path) -> None:
    # Debian 12's dnspython (2.3) imports httpx and requests in dns.query when they are installed
    # (0.4 s), for DNS over HTTPS this module never speaks. Stand-ins for both, and a dns.query that
    # imports them as 2.3 does; the module's interpreter may run other modules after it.
    (tmp_path / "dns").mkdir()
    for name in ("__init__", "name", "rcode", "rdatatype", "tsig", "tsigkeyring", "update", "xfr", "zone"):
        (tmp_path / "dns" / f"{name}.py").write_text("")
    (tmp_path / "dns" / "query.py").write_text(
        "try:\n    import httpx\n    import requests\n    have_doh = True\nexcept ImportError:\n    have_doh = False\n")
    for name in ("httpx", "requests"):
        (tmp_path / f"{name}.py").write_text("LOADED = True\n")
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('provisioner_dns_records', {str(PATH)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "import dns.query\n"
        "loaded = [name for name in ('httpx', 'requests') if name in sys.modules]\n"
        "import httpx, requests\n"
        "print(json.dumps([module.dns is not None, dns.query.have_doh, loaded, httpx.LOADED and requests.LOADED]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])})
    assert json.loads(done.stdout) == [True, False, [], True]
