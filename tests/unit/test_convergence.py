"""The fast path of apply: each thing it compares, changed alone, sends the case through Ansible."""

from __future__ import annotations

import copy
import dataclasses
import json
import types
from pathlib import Path
from typing import Any

import pytest

from provisioner import convergence, placement, site
from provisioner.case import load_case
from provisioner.hosts import WebState
from provisioner.inventory import Host, load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY

INV = load_inventory(LOCAL_INVENTORY)


def _site(name: str = "sikesda", ip: str = "198.19.0.11", **changes: Any) -> site.Site:
    case = load_case(next(EXAMPLES.glob(f"*{name}*.yml")))
    case = case.__class__(**{**case.__dict__, **changes})
    built = site.build(case, site.Placement(ip, "localhost"), INV, password_file=Path("/dev/null"))
    built.vars.inputs_digest = convergence.inputs_digest(built, INV)
    return built


def _converged_live(s: site.Site) -> placement.LiveState:
    """What the servers say right after a successful apply of ``s``."""
    v = s.vars
    sums = {path: f"sum-of-{path}" for path in v.checked_files}
    record = {"case": s.id, "fqdn": s.fqdn, "ip": s.ip, "inputs_digest": v.inputs_digest, "checksums": dict(sums),
              "web_host": v.web_host}
    live = placement.LiveState(ptrs={} if v.shared else {s.ip: s.fqdn}, names={s.fqdn: {"A": [s.ip]}},
                               registry={s.id: record},
                               webs={v.web_host: WebState({s.id: record}, dict(sums), {"apache2", "php-fpm8.2"})})
    live.bound = {v.web_host: {s.ip}}
    if v.db:
        live.databases = {v.db.engine: {v.db.host: ({v.db.name}, {v.db.user})}}
        live.grants = {v.db.engine: {v.db.host: {(v.db.name, v.db.user, v.db.client_address)}}}
    return live


@pytest.mark.parametrize("name", ["sikesda", "ppid", "simpeg"])
def test_a_site_as_applied_is_converged(name: str) -> None:
    s = _site(name)
    assert convergence.differences(s, INV, _converged_live(s)) == []


def test_a_changed_input_is_a_difference() -> None:
    before = _site()
    live = _converged_live(before)
    after = _site(app_title="Sistem Informasi Kesehatan Daerah, versi baru")
    assert after.vars.inputs_digest != before.vars.inputs_digest
    assert convergence.differences(after, INV, live) == [
        "applied from other inputs (case, release, playbooks or inventory)"]


def test_a_changed_release_archive_is_a_changed_input(tmp_path: Path) -> None:
    archive = tmp_path / "rilis.tar.gz"
    archive.write_bytes(b"versi 1")
    first = _site(release=archive).vars.inputs_digest
    archive.write_bytes(b"versi 2")
    convergence._file_digest.cache_clear()
    assert _site(release=archive).vars.inputs_digest != first


def test_the_digest_ignores_whether_the_site_was_installed_before() -> None:
    s = _site()
    again = dataclasses.replace(s.vars, installed=False, recover=True)
    assert convergence.inputs_digest(site.Site(s.case, s.ip, again), INV) == s.vars.inputs_digest


@pytest.mark.parametrize("path_attr", ["vhost_file", "vhost_link", "pool_file", "env_file"])
def test_a_changed_or_missing_live_file_is_a_difference(path_attr: str) -> None:
    s = _site()
    path = getattr(s.vars, path_attr)
    for now in ("edited-by-hand", None):
        live = _converged_live(s)
        live.webs["localhost"].checksums[path] = now
        assert convergence.differences(s, INV, live) == [f"{path} is missing or differs from what apply wrote"]


def test_a_record_without_checksums_is_a_difference() -> None:
    s = _site()
    live = _converged_live(s)
    live.webs["localhost"].records[s.id].pop("checksums")
    assert len(convergence.differences(s, INV, live)) == len(s.vars.checked_files)


@pytest.mark.parametrize("what", ["A", "PTR"])
def test_a_deleted_dns_record_is_a_difference(what: str) -> None:
    s = _site()
    live = _converged_live(s)
    if what == "A":
        live.names[s.fqdn] = {}
    else:
        live.ptrs.clear()
    assert convergence.differences(s, INV, live) == [
        f"DNS: {s.fqdn} A is not only {s.ip}" if what == "A" else f"DNS: {s.ip} PTR is not {s.fqdn}"]


def test_a_shared_site_needs_no_ptr_of_its_own() -> None:
    s = _site(public_ip="shared", ip="198.19.0.5")
    assert s.vars.shared
    assert convergence.differences(s, INV, _converged_live(s)) == []


def test_an_unbound_address_is_a_difference() -> None:
    s = _site()
    live = _converged_live(s)
    live.bound = {"localhost": set()}
    assert convergence.differences(s, INV, live) == [f"{s.ip} is not bound on provpub0 of localhost"]


@pytest.mark.parametrize("name", ["sikesda", "simpeg"])
def test_a_dropped_grant_is_a_difference(name: str) -> None:
    s = _site(name)
    assert s.vars.db is not None
    live = _converged_live(s)
    live.grants[s.vars.db.engine] = {"localhost": set()}
    assert convergence.differences(s, INV, live) == [
        f"{s.vars.db.engine}: {s.vars.db.user} has no grant on {s.vars.db.name} from {s.vars.db.client_address}"]


def test_a_dropped_database_is_a_difference() -> None:
    s = _site()
    live = _converged_live(s)
    live.databases = {"mariadb": {"localhost": (set(), {"sikesda"})}}
    assert "database sikesda or user sikesda is missing" in convergence.differences(s, INV, live)[0]


def test_a_stopped_service_is_a_difference() -> None:
    s = _site()
    live = _converged_live(s)
    live.webs["localhost"].processes.discard("php-fpm8.2")
    assert convergence.differences(s, INV, live) == ["not running: php-fpm8.2"]


def test_a_case_not_installed_or_removed_is_a_difference() -> None:
    s = _site()
    live = _converged_live(s)
    live.webs["localhost"].records[s.id]["removed"] = True
    assert convergence.differences(s, INV, live) == ["not installed"]
    assert convergence.differences(s, INV, placement.LiveState({}, {}, {})) == ["not installed"]


def test_split_sends_everything_through_ansible_with_full() -> None:
    s = _site()
    live = _converged_live(s)
    assert convergence.split([s], INV, live) == ([], [s])
    assert convergence.split([s], INV, live, full=True) == ([s], [])


def test_the_checksum_script_reads_records_and_the_files_they_list(tmp_path: Path) -> None:
    import hashlib
    import json
    import subprocess

    from provisioner.hosts import CHECKSUMS_SCRIPT

    kept = tmp_path / "vhost.conf"
    kept.write_text("<VirtualHost>\n")
    link = tmp_path / "enabled.conf"
    link.symlink_to(kept)
    folder = tmp_path / "sites"
    folder.mkdir()
    listed = {str(kept): "x", str(link): "x", str(tmp_path / "gone.conf"): "x"}
    (folder / "a.yml").write_text("# Managed by provisioner\n" + json.dumps({"case": "a", "checksums": listed}))
    (folder / "old.yml").write_text("# written before checksums\ncase: old\nip: 198.19.0.9\n")
    out = subprocess.run(["python3", "-c", CHECKSUMS_SCRIPT.read_text(), "--registry", str(folder)],
                         capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    want = hashlib.sha256(b"<VirtualHost>\n").hexdigest()
    assert found["checksums"] == {str(kept): want, str(link): want, str(tmp_path / "gone.conf"): None}
    assert set(found["records"]) == {str(folder / "a.yml"), str(folder / "old.yml")}
    assert "python3" in found["processes"] or "pytest" in " ".join(found["processes"])
    stdin = subprocess.run(["python3", "-c", CHECKSUMS_SCRIPT.read_text()], input=json.dumps([str(kept)]),
                           capture_output=True, text=True, check=True)
    assert json.loads(stdin.stdout) == {str(kept): want}
    # Only the files of the cases named (the cases an apply compares); none for a read of the records alone.
    (folder / "b.yml").write_text("# Managed by provisioner\n" + json.dumps({"case": "b", "checksums": {
        str(tmp_path / "b.conf"): "x"}}))
    for cases, files in ((["a"], set(listed)), (["b"], {str(tmp_path / "b.conf")}), ([], set()),
                         (None, {*listed, str(tmp_path / "b.conf")})):
        named = [json.dumps(cases)] if cases is not None else []
        out = subprocess.run(["python3", "-c", CHECKSUMS_SCRIPT.read_text(), "--registry", str(folder), *named],
                             capture_output=True, text=True, check=True)
        found = json.loads(out.stdout)
        assert set(found["checksums"]) == files, cases
        assert set(found["records"]) == {str(folder / name) for name in ("a.yml", "b.yml", "old.yml")}


def test_the_records_alone_are_read_when_no_checksum_is_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner.hosts import Hosts

    commands: list[str] = []

    class Connection:
        def run(self, command: str) -> Any:
            commands.append(command)
            return types.SimpleNamespace(rc=0, stdout=json.dumps({"records": {}, "checksums": {}, "processes": []}),
                                         stderr="")

    hosts = Hosts(INV)
    monkeypatch.setattr(hosts, "get", lambda host: Connection())
    hosts.registry()
    assert commands and commands[-1].endswith("--registry /etc/provisioner/sites '[]'")
    hosts.web_state(INV.hosts["localhost"], cases={"2026-014", "2026-011"})
    assert commands[-1].endswith("""--registry /etc/provisioner/sites '["2026-011", "2026-014"]'""")


def test_what_is_read_of_another_web_host_does_not_count() -> None:
    """A site on web2: its record, address and processes are those of web2; web1's do not stand in."""
    two = copy.deepcopy(INV)
    two.hosts["web2"] = Host("web2", {**INV.hosts["localhost"].vars, "provisioner_address": "198.18.0.15"})
    two.groups["web"] = ["localhost", "web2"]
    case = load_case(next(EXAMPLES.glob("*sikesda*.yml")))
    s = site.build(case, site.Placement("198.19.0.11", "web2", "localhost"), two, password_file=Path("/dev/null"))
    s.vars.inputs_digest = convergence.inputs_digest(s, two)
    assert s.vars.db is not None and s.vars.db.client_address == "198.18.0.15"
    live = _converged_live(s)
    assert set(live.webs) == set(live.bound) == {"web2"}
    assert convergence.differences(s, two, live) == []
    live.bound = {"localhost": {s.ip}, "web2": set()}
    assert convergence.differences(s, two, live) == [f"{s.ip} is not bound on provpub0 of web2"]
    live = _converged_live(s)
    live.webs = {"localhost": live.webs["web2"]}
    assert convergence.differences(s, two, live) == ["not installed"]
    live = _converged_live(s)
    live.grants["mariadb"] = {"localhost": {("sikesda", "sikesda", INV.hosts["localhost"].address)}}
    assert convergence.differences(s, two, live) == [
        "mariadb: sikesda has no grant on sikesda from 198.18.0.15"]
