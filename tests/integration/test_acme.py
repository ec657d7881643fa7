"""Certificates from an ACME CA on the embedded lab (issue 14): pebble, Let's Encrypt's RFC 8555
test server, runs on loopback (`lab up`) and checks every challenge for real, over HTTP on the
site's address (http-01) or by asking the lab's BIND for a TXT record (dns-01).

The tests of this module run in order and share the lab: the example goes live with a certificate
from the CA, re-applies with nothing changed, is renewed only when due, and is destroyed; a dns-01
case; a CA that does not answer undoes the run.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, Cli

EXAMPLE = EXAMPLES / "acme" / "2026-041-ppid-publik.yml"
TXT_TASK = "Publish or withdraw the ACME challenges' TXT records"


def _served_certificate(ip: str, fqdn: str, roots: Path) -> dict[str, Any]:
    """The certificate the site serves, checked as a browser would: chain to the CA's root, name."""
    context = ssl.create_default_context(cafile=str(roots))
    with socket.create_connection((ip, 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=fqdn) as tls:
        return dict(tls.getpeercert() or {})


def _checks(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in case["checks"] if check.get("id")}


def _inventory_with(tmp_path: Path, lab: Path, **settings: str) -> Path:
    """A copy of the lab's inventory with some settings changed (same hosts, state and lab)."""
    copy = tmp_path / "inventory"
    shutil.copytree(lab, copy)
    group_vars = copy / "group_vars" / "all.yml"
    data = yaml.safe_load(group_vars.read_text())
    data.update(settings)
    group_vars.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def _txt(name: str) -> list[str]:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    answer = dns.query.udp(query, "127.0.0.1", timeout=5)
    return [rr.to_text() for rrset in answer.answer for rr in rrset]


def _last_run_events(state_dir: Path, playbook: str) -> list[dict[str, Any]]:
    runs = sorted((state_dir / "runs").glob(f"*-{playbook}"))
    assert runs, f"no {playbook} run in {state_dir / 'runs'}"
    return [json.loads(p.read_text()) for p in sorted(runs[-1].glob("artifacts/*/job_events/*.json"))]


def _changed_tasks(events: list[dict[str, Any]]) -> set[str]:
    return {e["event_data"].get("task", "") for e in events
            if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")}


def _incident_after_nothing_left(records: Path, case_id: str, subdomain: str) -> dict[str, Any]:
    """The new case left nothing (no site folder, virtual host or name); its incident record."""
    fqdn = f"{subdomain}.tarakankota.go.id"
    assert not Path(f"/srv/www/{fqdn}").exists()
    assert not Path(f"/etc/apache2/sites-enabled/{fqdn}.conf").exists()
    assert dns.query.udp(dns.message.make_query(f"{fqdn}.", dns.rdatatype.A), "127.0.0.1", timeout=5).answer == []
    return dict(yaml.safe_load(next((records / case_id / "insiden").glob("*.yml")).read_text()))


def _variant(write_case: Any, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["id"] = changes["id"]
    data["application"]["name"] = changes["name"]
    data["application"]["release"] = str(EXAMPLES.parent / "releases" / "ppid-2.0.0.tar.gz")
    data["hosting"]["subdomain"] = changes["subdomain"]
    return write_case(data, f"{changes['id']}.yml")


@pytest.fixture(scope="module")
def acme_example(cli: Cli, lab: Path) -> dict[str, Any]:
    cli("destroy", str(EXAMPLE), "-i", str(lab), "--remove-files", "--yes")  # leftovers of an earlier session
    applied = cli("apply", str(EXAMPLE), "-i", str(lab))
    assert applied.rc == 0, (applied.out, applied.stderr[-3000:])
    return dict(applied.out["cases"][0])


def test_an_acme_case_goes_live_with_a_certificate_its_ca_issued(cli: Cli, lab: Path,
                                                                 acme_example: dict[str, Any]) -> None:
    checks = _checks(acme_example)
    assert checks["tls.chain"]["ok"] and checks["tls.names"]["ok"] and checks["http.redirect"]["ok"]
    inventory = load_inventory(lab)
    assert inventory.acme_roots_file is not None
    # From outside, as a browser: the chain ends at pebble's root of this lab and names the site.
    served = _served_certificate(acme_example["public_ip"], acme_example["fqdn"], inventory.acme_roots_file)
    issuer = dict(pair[0] for pair in served["issuer"])
    assert issuer["commonName"].startswith("Pebble Intermediate CA")
    assert ("DNS", acme_example["fqdn"]) in served["subjectAltName"]
    # The challenge was answered and taken away.
    assert not any(Path(f"/srv/www/{acme_example['fqdn']}/acme-challenge").iterdir())
    # Nothing due: a re-apply changes nothing and never asks the CA.
    again = cli("apply", str(EXAMPLE), "-i", str(lab))
    assert again.rc == 0 and again.out["cases"][0]["changed"] == 0, again.out
    full = cli("apply", "--full", str(EXAMPLE), "-i", str(lab))
    assert full.rc == 0 and full.out["cases"][0]["changed"] == 0, full.out


def test_renew_asks_the_ca_only_for_certificates_due_and_verify_trusts_the_new_one(
        cli: Cli, lab: Path, acme_example: dict[str, Any]) -> None:
    roots = load_inventory(lab).acme_roots_file
    assert roots is not None
    before = _served_certificate(acme_example["public_ip"], acme_example["fqdn"], roots)["serialNumber"]
    # pebble's certificates last five years: none is due within 30 days, all within 3650.
    quiet = cli("renew", "-i", str(lab), "--days", "30")
    assert quiet.rc == 0 and [c["changed"] for c in quiet.out["cases"]] == [0], quiet.out
    assert _served_certificate(acme_example["public_ip"], acme_example["fqdn"], roots)["serialNumber"] == before
    due = cli("renew", "-i", str(lab), "--days", "3650")
    assert due.rc == 0, due.out
    assert [(c["id"], c["changed"] > 0) for c in due.out["cases"]] == [(acme_example["id"], True)]
    assert _served_certificate(acme_example["public_ip"], acme_example["fqdn"], roots)["serialNumber"] != before
    verified = cli("verify", str(EXAMPLE), "-i", str(lab))
    assert verified.rc == 0, verified.out
    assert _checks(verified.out["cases"][0])["tls.chain"]["ok"]


def test_renew_refuses_a_renewal_window_that_is_not_a_number_of_days(cli: Cli, lab: Path) -> None:
    refused = cli("renew", "-i", str(lab), "--days", "0", as_json=False)
    assert refused.rc == 2 and "--days" in refused.stderr


def test_a_dns01_case_proves_its_name_by_a_txt_record_on_the_primary(cli: Cli, lab: Path, tmp_path: Path,
                                                                     write_case: Any) -> None:
    inventory = _inventory_with(tmp_path, lab, provisioner_acme_challenge="dns-01")
    case = _variant(write_case, id="uji-acme-dns", name="ppiddns", subdomain="ppid-dns")
    cli("destroy", str(case), "-i", str(inventory), "--remove-files", "--yes")
    try:
        applied = cli("apply", str(case), "-i", str(inventory))
        assert applied.rc == 0, (applied.out, applied.stderr[-3000:])
        assert _checks(applied.out["cases"][0])["tls.chain"]["ok"]
        changed = _changed_tasks(_last_run_events(load_inventory(lab).state_dir, "provision"))
        assert TXT_TASK in changed  # published for the CA, and withdrawn
        assert "Put each http-01 challenge where the site serves it" not in changed
        assert _txt("_acme-challenge.ppid-dns.tarakankota.go.id.") == []
    finally:
        gone = cli("destroy", str(case), "-i", str(inventory), "--remove-files", "--yes")
        assert gone.rc == 0, gone.out


# A CA that does not answer is found by preflight, before anything is made. An HTTPS address that
# answers (preflight passes) but is no ACME directory fails the order in the last play, after the
# vhost, the address and the name were made for the new case: the run undoes them.
@pytest.mark.parametrize(("directory", "subdomain", "said", "made"), [
    ("https://127.0.0.1:14999/dir", "mati", "the ACME CA at https://127.0.0.1:14999/dir does not answer", False),
    ("https://127.0.0.1:15000/roots/0", "gagal", "Order each due site's certificate", True),
])
def test_a_ca_that_fails_fails_the_run_and_leaves_nothing_half_done(
        cli: Cli, lab: Path, tmp_path: Path, write_case: Any, records: Path, directory: str, subdomain: str,
        said: str, made: bool) -> None:
    inventory = _inventory_with(tmp_path, lab, provisioner_acme_directory=directory)
    case_id = f"uji-acme-{subdomain}"
    case = _variant(write_case, id=case_id, name=f"ppid{subdomain}", subdomain=f"ppid-{subdomain}")
    failed = cli("apply", str(case), "-i", str(inventory))
    assert failed.rc == 1, failed.out
    assert said in failed.out["message"], failed.out["message"]
    incident = _incident_after_nothing_left(records, case_id, f"ppid-{subdomain}")
    assert bool(incident["undone"]) == made, incident  # what the run had made, said and undone


def test_the_acme_example_is_destroyed(cli: Cli, lab: Path, acme_example: dict[str, Any]) -> None:
    gone = cli("destroy", str(EXAMPLE), "-i", str(lab), "--remove-files", "--yes")
    assert gone.rc == 0, gone.out
    assert not Path(f"/srv/www/{acme_example['fqdn']}").exists()
