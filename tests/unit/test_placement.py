"""Placement of cases on an inventory: addresses from the pool, and conflicts with what is live."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import journal, placement, site
from provisioner.case import Case, load_case
from provisioner.errors import InvalidInput
from provisioner.inventory import Host, Inventory, load_inventory, ptr_name
from tests.conftest import EXAMPLES, LOCAL_INVENTORY

INV = load_inventory(LOCAL_INVENTORY)


def _case(name: str, **changes: Any) -> Case:
    case = load_case(next(EXAMPLES.glob(f"*{name}*.yml")))
    return case.__class__(**{**case.__dict__, **changes})


def _live(ptrs: dict[str, str] | None = None, names: dict[str, Any] | None = None,
          registry: dict[str, Any] | None = None) -> placement.LiveState:
    return placement.LiveState(ptrs=ptrs or {}, names=names or {}, registry=registry or {})


def _on(ip: str, db: str | None = None) -> site.Placement:
    """A placement on the local inventory's one web host (its database, if any, there too)."""
    return site.Placement(ip, "localhost", db)


def test_auto_takes_the_lowest_free_address_of_the_range() -> None:
    chosen, conflicts = placement.place([_case("ppid"), _case("sikesda")], INV,
                                    _live(ptrs={"198.19.0.10": "other.tarakankota.go.id"}))
    assert conflicts == []
    assert chosen == {"2026-011": _on("198.19.0.11"), "2026-014": _on("198.19.0.12", "localhost")}


def test_an_installed_case_keeps_its_address() -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.77",
                             "web_host": "localhost"}}
    names = {"ppid.tarakankota.go.id": {"A": ["198.19.0.77"]}}
    chosen, conflicts = placement.place([_case("ppid")], INV, _live(names=names, registry=registry))
    assert (chosen, conflicts) == ({"2026-011": _on("198.19.0.77")}, [])


def test_a_name_holding_a_cname_is_a_conflict() -> None:
    names = {"ppid.tarakankota.go.id": {"CNAME": ["elsewhere.example."]}}
    chosen, conflicts = placement.place([_case("ppid")], INV, _live(names=names))
    assert chosen == {}
    assert conflicts[0].path == "2026-011: hosting.subdomain"
    assert "CNAME elsewhere.example." in conflicts[0].message


def test_a_name_pointing_elsewhere_is_a_conflict() -> None:
    names = {"ppid.tarakankota.go.id": {"A": ["203.0.113.9"]}}
    _, conflicts = placement.place([_case("ppid")], INV, _live(names=names))
    assert "already holds other data in DNS (A 203.0.113.9)" in conflicts[0].message


def test_an_address_held_by_another_name_is_a_conflict() -> None:
    case = _case("ppid", public_ip="198.19.0.40")
    _, conflicts = placement.place([case], INV, _live(ptrs={"198.19.0.40": "other.tarakankota.go.id"}))
    assert conflicts[0].path == "2026-011: hosting.public_ip"
    assert "held by other.tarakankota.go.id" in conflicts[0].message


def test_moving_an_installed_case_is_refused() -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.77",
                             "web_host": "localhost"}}
    _, conflicts = placement.place([_case("ppid", public_ip="198.19.0.78")], INV, _live(registry=registry))
    assert "moving it is not supported" in conflicts[0].message


@pytest.mark.parametrize("key", ["system_user", "database"])
def test_what_another_case_owns_is_a_conflict(key: str) -> None:
    record: dict[str, Any] = {"case": "2025-001", "fqdn": "lama.tarakankota.go.id", "ip": "198.19.0.90",
                              "system_user": "lama", "database": None, "web_host": "localhost"}
    if key == "system_user":
        record["system_user"] = "sikesda"
        want = "system user sikesda belongs to case 2025-001"
    else:
        record["database"] = {"engine": "mariadb", "name": "sikesda", "user": "lama"}
        want = "mariadb database sikesda belongs to case 2025-001"
    _, conflicts = placement.place([_case("sikesda")], INV, _live(registry={"2025-001": record}))
    assert any(want in c.message for c in conflicts), conflicts


def test_an_exhausted_pool_is_a_conflict() -> None:
    ptrs = {str(a): f"x{i}.tarakankota.go.id" for i, a in enumerate(INV.pool_addresses())}
    _, conflicts = placement.place([_case("ppid")], INV, _live(ptrs=ptrs))
    assert "no free address left" in conflicts[0].message


@pytest.mark.parametrize("address", ["198.19.0.0", "198.19.0.1", "198.19.0.9", "198.19.1.255", "198.19.2.10",
                                     "10.0.0.5"])
def test_an_address_outside_the_pool_range_is_invalid(address: str) -> None:
    errors = placement.check_against_inventory(_case("ppid", public_ip=address), INV)
    assert errors[0].path == "hosting.public_ip"
    assert "outside the pool" in errors[0].message


def test_a_zone_the_inventory_does_not_serve_is_invalid() -> None:
    errors = placement.check_against_inventory(_case("ppid", zone="example.org"), INV)
    assert errors[0].path == "hosting.zone"
    assert "served: tarakankota.go.id" in errors[0].message


def test_cases_in_one_run_must_not_claim_the_same_name() -> None:
    with pytest.raises(InvalidInput) as info:
        placement.validate_all([_case("ppid"), _case("sikesda", subdomain="ppid")], INV)
    assert any("also claimed by case 2026-011" in e.message for e in info.value.errors)


def test_site_vars_hold_no_secret_but_the_password_path(tmp_path: Path) -> None:
    v = site.build(_case("sikesda"), site.Placement("198.19.0.10", "localhost"),
                   INV, password_file=tmp_path / "pw").vars.as_vars()
    assert v["db"]["password_file"] == str(tmp_path / "pw")
    assert not any("password" in k and k != "password_file" for k in v["db"])
    assert v["pool_file"] == "/etc/php/8.2/fpm/pool.d/sikesda.conf"
    assert v["files"] == [v["vhost_file"], v["pool_file"], v["env_file"], v["logrotate_file"]]


def test_an_existing_system_user_of_no_case_is_a_conflict() -> None:
    live = _live()
    live.users = {"localhost": {"sikesda"}}
    _, conflicts = placement.place([_case("sikesda")], INV, live)
    assert conflicts[0].path == "2026-014: application.name"
    assert "system user sikesda exists on the web host localhost" in conflicts[0].message


def test_an_existing_database_or_database_user_of_no_case_is_a_conflict() -> None:
    live = _live()
    live.databases = {"mariadb": {"localhost": ({"sikesda"}, {"sikesda"})}}
    _, conflicts = placement.place([_case("sikesda")], INV, live)
    assert {c.path for c in conflicts} == {"2026-014: hosting.database.name", "2026-014: hosting.database.user"}


def test_what_an_installed_case_has_is_its_own() -> None:
    registry = {"2026-014": {"case": "2026-014", "fqdn": "sikesda.tarakankota.go.id", "ip": "198.19.0.11",
                             "web_host": "localhost"}}
    live = _live(registry=registry)
    live.users, live.bound = {"localhost": {"sikesda"}}, {"localhost": {"198.19.0.11"}}
    live.databases = {"mariadb": {"localhost": ({"sikesda"}, {"sikesda"})}}
    assert placement.place([_case("sikesda")], INV, live) == ({"2026-014": _on("198.19.0.11", "localhost")}, [])


def test_auto_skips_an_address_bound_by_someone_else() -> None:
    live = _live()
    live.bound = {"localhost": {"198.19.0.10"}}
    assert placement.place([_case("ppid")], INV, live)[0] == {"2026-011": _on("198.19.0.11")}
    _, conflicts = placement.place([_case("ppid", public_ip="198.19.0.10")], INV, live)
    assert "held by an address bound on the web host localhost" in conflicts[0].message


# --- a pool larger than a /24, and the shared address ---------------------------------------

def test_the_pool_spans_two_reverse_zones() -> None:
    assert INV.reverse_zone_for("198.19.0.200") == "0.19.198.in-addr.arpa"
    assert INV.reverse_zone_for("198.19.1.20") == "1.19.198.in-addr.arpa"
    v = site.build(_case("ppid"), site.Placement("198.19.1.20", "localhost"), INV, password_file=None).vars
    assert (v.reverse_zone, v.ptr_name) == ("1.19.198.in-addr.arpa", "20.1.19.198.in-addr.arpa.")


@pytest.mark.parametrize("address", ["198.19.0.10", "198.19.1.255", "10.0.0.1", "2001:db8::1"])
def test_the_ptr_name_is_the_one_dns_resolvers_ask_for(address: str) -> None:
    """Computed with the standard library (a site's data need not load dnspython), as dnspython does."""
    import dns.reversename

    assert ptr_name(address) == dns.reversename.from_address(address).to_text()


def test_auto_goes_on_past_the_first_slash_24() -> None:
    ptrs = {str(a): f"x{i}.tarakankota.go.id" for i, a in enumerate(INV.pool_addresses()) if a.packed[2] == 0}
    chosen, conflicts = placement.place([_case("ppid")], INV, _live(ptrs=ptrs))
    assert (chosen, conflicts) == ({"2026-011": _on("198.19.1.0")}, [])


def test_shared_cases_share_the_web_host_address() -> None:
    cases = [_case("ppid", public_ip="shared"), _case("sikesda", public_ip="shared")]
    chosen, conflicts = placement.place(cases, INV, _live())
    assert conflicts == []
    assert chosen == {"2026-011": _on("198.19.0.5"), "2026-014": _on("198.19.0.5", "localhost")}
    built = site.build(cases[0], chosen["2026-011"], INV, password_file=None).vars
    assert built.shared is True
    assert site.build(_case("ppid"), site.Placement("198.19.0.10", "localhost"),
                      INV, password_file=None).vars.shared is False


def test_a_shared_case_beside_an_installed_shared_case_is_no_conflict() -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.5",
                             "shared": True, "web_host": "localhost"}}
    chosen, conflicts = placement.place([_case("sikesda", public_ip="shared")], INV, _live(registry=registry))
    assert (chosen, conflicts) == ({"2026-014": _on("198.19.0.5", "localhost")}, [])


def test_auto_never_hands_out_the_shared_address() -> None:
    assert "198.19.0.5" not in {str(a) for a in INV.pool_addresses()}
    chosen, _ = placement.place([_case("ppid")], INV, _live())
    assert chosen["2026-011"].ip != "198.19.0.5"


def test_the_shared_address_written_as_an_address_is_invalid() -> None:
    errors = placement.check_against_inventory(_case("ppid", public_ip="198.19.0.5"), INV)
    assert [e.path for e in errors] == ["hosting.public_ip"]
    assert "write public_ip: shared" in errors[0].message


def test_shared_without_a_shared_address_is_invalid() -> None:
    without = load_inventory(LOCAL_INVENTORY)
    without.hosts["localhost"].vars.pop("provisioner_shared_address")
    errors = placement.check_against_inventory(_case("ppid", public_ip="shared"), without)
    assert errors[0].path == "hosting.public_ip"
    assert "has no shared address (provisioner_shared_address)" in errors[0].message


def test_acme_needs_an_inventory_that_names_an_acme_ca() -> None:
    assert placement.check_against_inventory(_case("ppid", tls="acme"), INV) == []
    without = load_inventory(LOCAL_INVENTORY)
    without.settings.pop("provisioner_acme_directory")
    errors = placement.check_against_inventory(_case("ppid", tls="acme"), without)
    assert [e.path for e in errors] == ["hosting.tls"]
    assert "provisioner_acme_directory" in errors[0].message and "self-signed" in errors[0].message


def test_an_acme_site_requests_for_its_name_and_keeps_its_certificate_out_of_the_drift_checksums() -> None:
    built = site.build(_case("ppid", tls="acme"), _on("198.19.0.40"), INV, password_file=None)
    assert built.vars.tls_csr and built.vars.acme_dir == f"{built.vars.root}/acme-challenge"
    assert built.vars.acme_dir in [d.path for d in built.vars.dirs]
    # A renewal changes the certificate: its chain and expiry are trial checks, not drift.
    assert built.vars.tls_cert not in built.vars.checked_files and built.vars.tls_key in built.vars.checked_files


@pytest.mark.parametrize(("installed", "wanted"), [("198.19.0.77", "shared"), ("198.19.0.5", "198.19.0.77")])
def test_moving_between_own_and_shared_is_refused(installed: str, wanted: str) -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": installed,
                             "shared": installed == "198.19.0.5", "web_host": "localhost"}}
    _, conflicts = placement.place([_case("ppid", public_ip=wanted)], INV, _live(registry=registry))
    assert "moving it is not supported" in conflicts[0].message


def _installed_sikesda(**record: Any) -> dict[str, Any]:
    base = {"case": "2026-014", "fqdn": "sikesda.tarakankota.go.id", "ip": "198.19.0.12", "application": "sikesda",
            "system_user": "sikesda", "database": {"engine": "mariadb", "name": "sikesda", "user": "sikesda"},
            "web_host": "localhost"}
    return {"2026-014": {**base, **record}}


def test_a_renamed_installed_case_is_told_its_own_old_name_once() -> None:
    case = _case("sikesda", subdomain="sikesda-baru")
    names = {"sikesda.tarakankota.go.id": {"A": ["198.19.0.12"]}}
    chosen, conflicts = placement.place([case], INV, _live(names=names, registry=_installed_sikesda()))
    assert chosen == {}
    assert [c.path for c in conflicts] == ["2026-014: hosting.subdomain"]
    assert "installed as sikesda.tarakankota.go.id" in conflicts[0].message
    assert "held by" not in conflicts[0].message


def test_the_database_engine_of_an_installed_case_cannot_change_in_place() -> None:
    sikesda = _case("sikesda")
    assert sikesda.database is not None
    moved = _case("sikesda", database=sikesda.database.__class__(
        **{**sikesda.database.__dict__, "engine": "postgresql"}))
    _, conflicts = placement.place([moved], INV, _live(registry=_installed_sikesda()))
    assert [c.path for c in conflicts] == ["2026-014: hosting.database.engine"]
    assert "keeps its data in mariadb; moving it to postgresql is not done in place" in conflicts[0].message
    _, dropped = placement.place([_case("sikesda", database=None)], INV, _live(registry=_installed_sikesda()))
    assert "moving it to none" in dropped[0].message


def test_an_unchanged_installed_case_passes_and_a_new_database_may_be_added() -> None:
    chosen, conflicts = placement.place([_case("sikesda")], INV, _live(registry=_installed_sikesda()))
    assert (chosen, conflicts) == ({"2026-014": _on("198.19.0.12", "localhost")}, [])
    without = _installed_sikesda(database=None)
    chosen, conflicts = placement.place([_case("sikesda")], INV, _live(registry=without))
    assert conflicts == []


def test_a_user_and_database_of_another_case_get_one_reason_each() -> None:
    """Not also "exists and belongs to no installed case": the record says whose it is."""
    other = _installed_sikesda()
    other["2026-099"] = other.pop("2026-014")
    live = _live(registry=other)
    live.users = {"localhost": {"sikesda"}}
    live.databases = {"mariadb": {"localhost": ({"sikesda"}, {"sikesda"})}}
    _, conflicts = placement.place([_case("sikesda", subdomain="sikesda2")], INV, live)
    messages = [c.message for c in conflicts]
    assert "system user sikesda belongs to case 2026-099" in messages
    assert not any("belongs to no installed case" in m for m in messages), messages
    assert sorted(c.path for c in conflicts) == ["2026-014: application.name", "2026-014: hosting.database.name",
                                                 "2026-014: hosting.database.user"]


def _installed_ppid(**record: Any) -> dict[str, Any]:
    base = {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.10", "shared": False,
            "application": "ppid", "system_user": "ppid", "database": None, "web_host": "localhost"}
    return {"2026-011": {**base, **record}}


@pytest.mark.parametrize("address", ["198.19.0.10", "198.19.0.5"])
def test_a_name_and_user_of_an_installed_case_get_one_reason_each(address: str) -> None:
    """The issue's case: subdomain and application name of installed 2026-011, on its own address
    or the shared one (whose A record is not "other data in DNS" as well)."""
    live = _live(names={"ppid.tarakankota.go.id": {"A": [address]}},
                 registry=_installed_ppid(ip=address, shared=address == "198.19.0.5"),
                 ptrs={} if address == "198.19.0.5" else {address: "ppid.tarakankota.go.id"})
    live.users, live.bound = {"localhost": {"ppid"}}, {"localhost": {address}}
    chosen, conflicts = placement.place([_case("ppid", id="2026-031")], INV, live)
    assert chosen == {}
    assert [(c.path, c.message) for c in conflicts] == [
        ("2026-031: hosting.subdomain", "ppid.tarakankota.go.id belongs to case 2026-011"),
        ("2026-031: application.name", "system user ppid belongs to case 2026-011")]


def test_what_a_removal_kept_is_named_with_what_frees_it() -> None:
    kept = _installed_sikesda(removed=True, kept=["files", "system_user", "database"])
    kept["2026-014"].pop("ip")
    live = _live(registry=kept)
    live.users = {"localhost": {"sikesda"}}
    live.databases = {"mariadb": {"localhost": ({"sikesda"}, {"sikesda"})}}
    chosen, conflicts = placement.place([_case("sikesda", id="2026-031", subdomain="sikesda2")], INV, live)
    assert chosen == {}
    assert [c.path for c in conflicts] == ["2026-031: application.name", "2026-031: hosting.database.name",
                                           "2026-031: hosting.database.user"]
    assert conflicts[0].message == ("system user sikesda belongs to case 2026-014 (removed; its files were kept: "
                                    "destroy 2026-014 --remove-files removes them)")
    assert "destroy 2026-014 --drop-database dumps and drops it" in conflicts[1].message


def test_what_a_removal_took_away_is_no_longer_claimed() -> None:
    """Files removed, database kept: the system user went with the files; only the database is claimed."""
    kept = _installed_sikesda(removed=True, kept=["database"])
    live = _live(registry=kept)
    live.databases = {"mariadb": {"localhost": ({"sikesda"}, {"sikesda"})}}
    _, conflicts = placement.place([_case("sikesda", id="2026-031", subdomain="sikesda2")], INV, live)
    assert [c.path for c in conflicts] == ["2026-031: hosting.database.name", "2026-031: hosting.database.user"]


# --- several web hosts and database hosts ------------------------------------------------------
#
# An inventory of two web hosts (web1, web2), two MariaDB hosts (db1, db2; db1 also runs
# PostgreSQL) and one name server, with the settings of inventories/local. "shared": both web
# hosts hand out the inventory's one pool; "own": each has a pool of its own (host vars).

WEB_ADDRESSES = {"web1": "198.18.0.11", "web2": "198.18.0.15"}
DB_ADDRESSES = {"db1": "198.18.0.12", "db2": "198.18.0.16"}
OWN_POOLS = {"web1": {"provisioner_pool": "198.19.0.0/24", "provisioner_pool_first": "198.19.0.10",
                      "provisioner_pool_last": "198.19.0.250", "provisioner_shared_address": "198.19.0.5"},
             "web2": {"provisioner_pool": "198.19.1.0/24", "provisioner_pool_first": "198.19.1.10",
                      "provisioner_pool_last": "198.19.1.250", "provisioner_shared_address": "198.19.1.5"}}
ONE_POOL = {"web1": {"provisioner_shared_address": "198.19.0.5"},
            "web2": {"provisioner_shared_address": "198.19.0.6"}}


def _two_web_inventory(folder: Path, web_vars: dict[str, dict[str, str]]) -> Path:
    """The inventory's folder: hosts.yml as above, group_vars/all.yml of inventories/local with
    its state and records outside the folder."""
    hosts = {
        "localhost": {"ansible_connection": "local", "provisioner_address": "127.0.0.1"},
        **{name: {"ansible_host": address, "provisioner_address": address, **web_vars.get(name, {})}
           for name, address in WEB_ADDRESSES.items()},
        **{name: {"ansible_host": address, "provisioner_address": address} for name, address in DB_ADDRESSES.items()},
        "ns1": {"ansible_host": "198.18.0.13", "provisioner_address": "198.18.0.13"},
    }
    groups = {"web": {"hosts": {"web1": None, "web2": None}}, "db_mariadb": {"hosts": {"db1": None, "db2": None}},
              "db_postgresql": {"hosts": {"db1": None}}, "dns_primary": {"hosts": {"ns1": None}},
              "dns_secondary": {"hosts": {}}}
    folder.mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": groups}}))
    settings = yaml.safe_load((LOCAL_INVENTORY / "group_vars" / "all.yml").read_text())
    settings.update(provisioner_state_dir=str(folder.parent / "state"),
                    provisioner_records_dir=str(folder.parent / "records"))
    (folder / "group_vars").mkdir()
    (folder / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
    return folder


def _load(folder: Path) -> Inventory:
    with pytest.MonkeyPatch.context() as patch:  # no inventory cache in the home folder
        patch.setenv("XDG_CACHE_HOME", str(folder.parent / "cache"))
        return load_inventory(folder)


@pytest.fixture(scope="module")
def one_pool(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """Two web hosts handing out one pool."""
    return _load(_two_web_inventory(tmp_path_factory.mktemp("one-pool") / "inv", ONE_POOL))


@pytest.fixture(scope="module")
def own_pools(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """Two web hosts, each with a pool of its own: web1 198.19.0.0/24, web2 198.19.1.0/24."""
    return _load(_two_web_inventory(tmp_path_factory.mktemp("own-pools") / "inv", OWN_POOLS))


def _record(case_id: str, web: str, ip: str, **more: Any) -> dict[str, Any]:
    """An ownership record as Hosts.web_state reads it on ``web``."""
    return {"case": case_id, "fqdn": f"x{case_id}.tarakankota.go.id", "ip": ip, "shared": False,
            "application": f"x{case_id.replace('-', '')}", "system_user": f"x{case_id.replace('-', '')}",
            "database": None, "web_host": web, **more}


def _on_db(name: str, server: str | None) -> Case:
    """An example whose database is asked of ``server``."""
    case = _case(name)
    assert case.database is not None
    return _case(name, database=dataclasses.replace(case.database, server=server))


def test_the_two_web_inventory_reads_as_written(one_pool: Inventory, own_pools: Inventory) -> None:
    for inventory in (one_pool, own_pools):
        assert [h.name for h in inventory.web_hosts] == ["web1", "web2"]
        assert {h.name: h.address for h in inventory.web_hosts} == WEB_ADDRESSES
        assert [h.name for h in inventory.database_hosts("mariadb")] == ["db1", "db2"]
        assert inventory.first("web").name == "web1"
    assert one_pool.pool_addresses(one_pool.web_host("web1")) == one_pool.pool_addresses(one_pool.web_host("web2"))
    assert [str(a) for a in own_pools.pool_addresses(own_pools.web_host("web2"))][:2] == ["198.19.1.10",
                                                                                           "198.19.1.11"]
    assert set(own_pools.all_pool_addresses()) == {*own_pools.pool_addresses(own_pools.web_host("web1")),
                                                   *own_pools.pool_addresses(own_pools.web_host("web2"))}


def test_auto_goes_to_the_web_host_with_the_fewest_sites_then_by_name(one_pool: Inventory) -> None:
    ppid = _case("ppid")
    chosen, conflicts = placement.place([ppid], one_pool, _live())
    assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.0.10", "web1")}, [])
    registry = {"2025-001": _record("2025-001", "web1", "198.19.0.10")}
    chosen, conflicts = placement.place([ppid], one_pool, _live(registry=registry))
    assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.0.11", "web2")}, [])
    registry["2025-002"] = _record("2025-002", "web2", "198.19.0.11")
    assert placement.place([ppid], one_pool, _live(registry=registry))[0]["2026-011"].web == "web1"
    # A removed case (that kept its files) serves no site: web2 has the fewer sites.
    registry["2025-003"] = _record("2025-003", "web1", "198.19.0.12")
    registry["2025-004"] = {**_record("2025-004", "web2", "198.19.0.13", removed=True, kept=["files"]),
                            "ip_was": "198.19.0.13"}
    registry["2025-004"].pop("ip")
    assert placement.place([ppid], one_pool, _live(registry=registry))[0]["2026-011"].web == "web2"


def test_new_cases_of_one_batch_spread_over_the_web_hosts(one_pool: Inventory, own_pools: Inventory) -> None:
    cases = [_case("ppid"), _case("sikesda"), _case("simpeg")]
    chosen, conflicts = placement.place(cases, one_pool, _live())
    assert conflicts == []
    assert chosen == {"2026-011": site.Placement("198.19.0.10", "web1"),
                      "2026-014": site.Placement("198.19.0.11", "web2", "db1"),
                      "2026-020": site.Placement("198.19.0.12", "web1", "db1")}
    chosen, conflicts = placement.place(cases, own_pools, _live())
    assert conflicts == []
    assert {case_id: (p.ip, p.web) for case_id, p in chosen.items()} == {
        "2026-011": ("198.19.0.10", "web1"), "2026-014": ("198.19.1.10", "web2"), "2026-020": ("198.19.0.11", "web1")}


@pytest.mark.parametrize(("pools", "asked", "held", "placed"), [
    # hosting.server is honoured though web2 has more sites
    ("one_pool", {"server": "web2"}, "198.19.0.10", site.Placement("198.19.0.11", "web2")),
    # an explicit address picks the web host whose pool holds it (auto would choose web1)
    ("own_pools", {"public_ip": "198.19.1.40"}, "198.19.1.10", site.Placement("198.19.1.40", "web2")),
])
def test_a_case_goes_to_the_web_host_it_asks_for(pools: str, asked: dict[str, str], held: str,
                                                 placed: site.Placement, request: pytest.FixtureRequest) -> None:
    inventory = request.getfixturevalue(pools)
    registry = {"2025-001": _record("2025-001", "web2", held)}
    chosen, conflicts = placement.place([_case("ppid", **asked)], inventory, _live(registry=registry))
    assert (chosen, conflicts) == ({"2026-011": placed}, [])
    placement.validate_all([_case("ppid", **asked)], inventory)


def test_an_unknown_hosting_server_is_refused(one_pool: Inventory) -> None:
    with pytest.raises(InvalidInput) as info:
        placement.validate_all([_case("ppid", server="web3")], one_pool)
    assert [e.path for e in info.value.errors] == ["hosting.server"]
    assert "'web3' is not a web host of inventory inv" in info.value.errors[0].message
    assert "its web hosts: web1, web2" in info.value.errors[0].message
    with pytest.raises(InvalidInput) as batch:
        placement.validate_all([_case("ppid", server="localhost"), _case("sikesda")], one_pool)
    assert [e.path for e in batch.value.errors] == ["2026-011: hosting.server"]
    assert "'localhost' is not a web host" in batch.value.errors[0].message


def test_an_installed_case_stays_on_its_web_host(one_pool: Inventory) -> None:
    registry = {"2026-011": _record("2026-011", "web1", "198.19.0.20", fqdn="ppid.tarakankota.go.id",
                                    application="ppid", system_user="ppid"),
                "2025-001": _record("2025-001", "web1", "198.19.0.10")}  # auto would choose web2
    live = _live(registry=registry, names={"ppid.tarakankota.go.id": {"A": ["198.19.0.20"]}})
    live.users, live.bound = {"web1": {"ppid"}}, {"web1": {"198.19.0.20", "198.19.0.10"}}
    for server in (None, "web1"):
        chosen, conflicts = placement.place([_case("ppid", server=server)], one_pool, live)
        assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.0.20", "web1")}, [])
    chosen, conflicts = placement.place([_case("ppid", server="web2")], one_pool, live)
    assert chosen == {}
    assert [c.path for c in conflicts] == ["2026-011: hosting.server"]
    assert "is on web1; moving it to web2 is not done in place" in conflicts[0].message


def test_auto_takes_from_the_pool_of_the_chosen_web_host(own_pools: Inventory) -> None:
    live = _live(ptrs={"198.19.1.10": "other.tarakankota.go.id"})
    chosen, conflicts = placement.place([_case("ppid", server="web2")], own_pools, live)
    assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.1.11", "web2")}, [])
    registry = {"2025-001": _record("2025-001", "web1", "198.19.0.10")}
    chosen, _ = placement.place([_case("ppid")], own_pools, _live(registry=registry))
    assert chosen == {"2026-011": site.Placement("198.19.1.10", "web2")}


def test_an_exhausted_pool_of_one_web_host_is_a_conflict_there(own_pools: Inventory) -> None:
    web2 = own_pools.web_host("web2")
    ptrs = {str(a): f"x{i}.tarakankota.go.id" for i, a in enumerate(own_pools.pool_addresses(web2))}
    _, conflicts = placement.place([_case("ppid", server="web2")], own_pools, _live(ptrs=ptrs))
    assert [c.path for c in conflicts] == ["2026-011: hosting.public_ip"]
    assert "the pool of web2 (198.19.1.10-198.19.1.250 in 198.19.1.0/24) has no free address left" \
        in conflicts[0].message
    assert placement.place([_case("ppid", server="web1")], own_pools, _live(ptrs=ptrs))[0]["2026-011"].web == "web1"




def test_an_explicit_address_outside_the_named_servers_pool_is_refused(own_pools: Inventory) -> None:
    with pytest.raises(InvalidInput) as info:
        placement.validate_all([_case("ppid", server="web1", public_ip="198.19.1.40")], own_pools)
    assert [e.path for e in info.value.errors] == ["hosting.public_ip"]
    assert info.value.errors[0].message == ("198.19.1.40 is outside the pool of web host web1: "
                                            "198.19.0.10-198.19.0.250 in 198.19.0.0/24 (web1)")
    errors = placement.check_against_inventory(_case("ppid", public_ip="198.19.2.40"), own_pools)
    assert [e.path for e in errors] == ["hosting.public_ip"]
    assert "outside the pool of inventory inv" in errors[0].message
    assert "(web1)" in errors[0].message and "198.19.1.10-198.19.1.250 in 198.19.1.0/24 (web2)" in errors[0].message


def test_an_address_outside_the_pool_of_where_the_case_stays_is_a_conflict(own_pools: Inventory) -> None:
    """A removed case that kept its files stays on web1: an address of web2's pool is not for it."""
    kept = {**_record("2026-011", "web1", "", fqdn="ppid.tarakankota.go.id", application="ppid",
                      system_user="ppid", removed=True, kept=["files"]), "ip_was": "198.19.0.20"}
    kept.pop("ip")
    chosen, conflicts = placement.place([_case("ppid", public_ip="198.19.1.40")], own_pools,
                                        _live(registry={"2026-011": kept}))
    assert chosen == {}
    assert [c.path for c in conflicts] == ["2026-011: hosting.public_ip"]
    assert "198.19.1.40 is outside the pool of web1, where the case is" in conflicts[0].message
    chosen, conflicts = placement.place([_case("ppid")], own_pools, _live(registry={"2026-011": kept}))
    assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.0.10", "web1")}, [])


def test_overlapping_pools_of_two_web_hosts_are_refused(tmp_path: Path) -> None:
    overlapping = {"web1": {**OWN_POOLS["web1"], "provisioner_pool_last": "198.19.0.120"},
                   "web2": {**OWN_POOLS["web1"], "provisioner_pool_first": "198.19.0.100",
                            "provisioner_shared_address": "198.19.0.6"}}
    with pytest.raises(InvalidInput) as info:
        _load(_two_web_inventory(tmp_path / "inv", overlapping))
    assert [e.path for e in info.value.errors] == ["host_vars/web2.provisioner_pool_first"]
    assert "the pool of web2 overlaps the pool of web1" in info.value.errors[0].message


def test_the_shared_address_is_that_of_the_cases_web_host(own_pools: Inventory, one_pool: Inventory) -> None:
    chosen, conflicts = placement.place([_case("ppid", public_ip="shared", server="web2")], own_pools, _live())
    assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.1.5", "web2")}, [])
    built = site.build(_case("ppid", public_ip="shared", server="web2"), chosen["2026-011"], own_pools,
                       password_file=None).vars
    assert (built.ip, built.web_host, built.shared) == ("198.19.1.5", "web2", True)
    cases = [_case("ppid", public_ip="shared"), _case("sikesda", public_ip="shared")]
    chosen, conflicts = placement.place(cases, one_pool, _live())
    assert conflicts == []
    assert chosen == {"2026-011": site.Placement("198.19.0.5", "web1"),
                      "2026-014": site.Placement("198.19.0.6", "web2", "db1")}


def test_a_shared_case_goes_to_a_web_host_that_has_a_shared_address(one_pool: Inventory) -> None:
    only_web2 = copy.deepcopy(one_pool)
    only_web2.hosts["web1"].vars.pop("provisioner_shared_address")
    placement.validate_all([_case("ppid", public_ip="shared")], only_web2)
    chosen, conflicts = placement.place([_case("ppid", public_ip="shared")], only_web2, _live())
    assert (chosen, conflicts) == ({"2026-011": site.Placement("198.19.0.6", "web2")}, [])
    with pytest.raises(InvalidInput) as info:
        placement.validate_all([_case("ppid", public_ip="shared", server="web1")], only_web2)
    assert [e.path for e in info.value.errors] == ["hosting.public_ip"]
    assert "the web host web1 of inventory inv has no shared address" in info.value.errors[0].message


def test_a_system_user_on_another_web_host_is_no_conflict(one_pool: Inventory) -> None:
    live = _live()
    live.users = {"web1": set(), "web2": {"sikesda"}}
    chosen, conflicts = placement.place([_case("sikesda", server="web1")], one_pool, live)
    assert (chosen, conflicts) == ({"2026-014": site.Placement("198.19.0.10", "web1", "db1")}, [])
    chosen, conflicts = placement.place([_case("sikesda", server="web2")], one_pool, live)
    assert chosen == {}
    assert [(c.path, c.message) for c in conflicts] == [
        ("2026-014: application.name", "system user sikesda exists on the web host web2 and belongs to no "
                                       "installed case of this inventory")]


def test_an_address_bound_on_either_web_host_is_not_handed_out(one_pool: Inventory) -> None:
    live = _live()
    live.bound = {"web1": {"198.19.0.10"}, "web2": {"198.19.0.11"}}
    chosen, _ = placement.place([_case("ppid", server="web1")], one_pool, live)
    assert chosen == {"2026-011": site.Placement("198.19.0.12", "web1")}
    _, conflicts = placement.place([_case("ppid", public_ip="198.19.0.11")], one_pool, live)
    assert "198.19.0.11 is held by an address bound on the web host web2" in conflicts[0].message


def test_the_database_client_is_the_cases_web_host(one_pool: Inventory, tmp_path: Path) -> None:
    chosen, conflicts = placement.place([_case("sikesda", server="web2")], one_pool, _live())
    assert conflicts == []
    built = site.build(_case("sikesda", server="web2"), chosen["2026-014"], one_pool,
                       password_file=tmp_path / "pw").vars
    assert built.web_host == "web2"
    assert built.db is not None
    assert (built.db.client_address, built.db.host, built.db.address) == (WEB_ADDRESSES["web2"], "db1",
                                                                          DB_ADDRESSES["db1"])
    on_web1 = site.build(_case("sikesda"), site.Placement("198.19.0.10", "web1", "db2"), one_pool,
                         password_file=tmp_path / "pw")
    assert on_web1.vars.db is not None
    assert (on_web1.vars.db.client_address, on_web1.vars.db.host, on_web1.vars.db.address) == (
        WEB_ADDRESSES["web1"], "db2", DB_ADDRESSES["db2"])
    assert on_web1.placement == site.Placement("198.19.0.10", "web1", "db2")


def test_the_database_goes_to_the_host_with_the_fewest_databases_then_by_name(one_pool: Inventory) -> None:
    db = {"engine": "mariadb", "name": "lama", "user": "lama"}
    assert placement.place([_case("sikesda")], one_pool, _live())[0]["2026-014"].db == "db1"
    registry = {"2025-001": _record("2025-001", "web1", "198.19.0.10", database={**db, "host": "db1"})}
    assert placement.place([_case("sikesda")], one_pool, _live(registry=registry))[0]["2026-014"].db == "db2"
    # A record written before several database hosts names none: its database is on the first.
    registry = {"2025-001": _record("2025-001", "web1", "198.19.0.10", database=db)}
    assert placement.place([_case("sikesda")], one_pool, _live(registry=registry))[0]["2026-014"].db == "db2"
    # Databases of another engine do not count.
    registry = {"2025-001": _record("2025-001", "web1", "198.19.0.10",
                                    database={"engine": "postgresql", "name": "lama", "user": "lama"})}
    assert placement.place([_case("sikesda")], one_pool, _live(registry=registry))[0]["2026-014"].db == "db1"
    # A batch spreads its databases too; PostgreSQL has db1 alone.
    second = _on_db("sikesda", None)
    assert second.database is not None
    second = _case("sikesda", id="2026-031", subdomain="sikesda2", app_name="sikesda2",
                   database=dataclasses.replace(second.database, name="sikesda2", user="sikesda2"))
    cases = [_case("sikesda"), second, _case("simpeg")]
    chosen, conflicts = placement.place(cases, one_pool, _live())
    assert conflicts == []
    assert {case_id: p.db for case_id, p in chosen.items()} == {"2026-014": "db1", "2026-031": "db2",
                                                                "2026-020": "db1"}


def test_hosting_database_server_is_honoured(one_pool: Inventory) -> None:
    registry = {"2025-001": _record("2025-001", "web1", "198.19.0.10",
                                    database={"engine": "mariadb", "name": "lama", "user": "lama", "host": "db2"})}
    chosen, conflicts = placement.place([_on_db("sikesda", "db2")], one_pool, _live(registry=registry))
    assert conflicts == []
    assert chosen["2026-014"].db == "db2"
    placement.validate_all([_on_db("sikesda", "db2")], one_pool)


def test_an_unknown_database_server_is_refused(one_pool: Inventory) -> None:
    for server in ("db3", "web1"):
        with pytest.raises(InvalidInput) as info:
            placement.validate_all([_on_db("sikesda", server)], one_pool)
        assert [e.path for e in info.value.errors] == ["hosting.database.server"]
        assert f"'{server}' is not a mariadb host of inventory inv; its mariadb hosts: db1, db2" \
            == info.value.errors[0].message
    with pytest.raises(InvalidInput) as postgresql:
        placement.validate_all([_on_db("simpeg", "db2")], one_pool)
    assert "its postgresql hosts: db1" in postgresql.value.errors[0].message


def test_an_installed_database_stays_on_its_host(one_pool: Inventory) -> None:
    registry = {"2026-014": _record("2026-014", "web2", "198.19.0.30", fqdn="sikesda.tarakankota.go.id",
                                    application="sikesda", system_user="sikesda",
                                    database={"engine": "mariadb", "name": "sikesda", "user": "sikesda",
                                              "host": "db2"})}
    live = _live(registry=registry, names={"sikesda.tarakankota.go.id": {"A": ["198.19.0.30"]}})
    chosen, conflicts = placement.place([_case("sikesda")], one_pool, live)
    assert (chosen, conflicts) == ({"2026-014": site.Placement("198.19.0.30", "web2", "db2")}, [])
    assert placement.of_record(registry["2026-014"], one_pool) == site.Placement("198.19.0.30", "web2", "db2")
    _, conflicts = placement.place([_on_db("sikesda", "db1")], one_pool, live)
    assert [c.path for c in conflicts] == ["2026-014: hosting.database.server"]
    assert "keeps its data on db2; moving it to db1 is not done in place" in conflicts[0].message


def test_a_database_on_another_database_host_is_no_conflict(one_pool: Inventory) -> None:
    live = _live()
    live.databases = {"mariadb": {"db1": (set(), set()), "db2": ({"sikesda"}, {"sikesda"})}}
    chosen, conflicts = placement.place([_on_db("sikesda", "db1")], one_pool, live)
    assert (chosen, conflicts) == ({"2026-014": site.Placement("198.19.0.10", "web1", "db1")}, [])
    _, conflicts = placement.place([_on_db("sikesda", "db2")], one_pool, live)
    assert [(c.path, c.message) for c in conflicts] == [
        ("2026-014: hosting.database.name", "mariadb database sikesda exists on db2 and belongs to no installed "
                                            "case of this inventory"),
        ("2026-014: hosting.database.user", "mariadb database user sikesda exists on db2 and belongs to no "
                                            "installed case of this inventory")]


def test_an_old_record_is_on_the_first_database_host(one_pool: Inventory) -> None:
    old = _record("2025-001", "web2", "198.19.0.10", database={"engine": "mariadb", "name": "lama", "user": "lama"})
    assert placement.of_record(old, one_pool) == site.Placement("198.19.0.10", "web2", "db1")
    removed = {**_record("2025-002", "web1", "", removed=True), "ip_was": "198.19.0.11"}
    removed.pop("ip")
    assert placement.of_record(removed, one_pool) == site.Placement("198.19.0.11", "web1", None)


def test_a_case_a_dead_run_left_stays_where_the_journal_says(one_pool: Inventory, tmp_path: Path) -> None:
    journal.begin(tmp_path, "2026-014", "sikesda.tarakankota.go.id", site.Placement("198.19.0.11", "web2", "db2"))
    live = _live(names={"sikesda.tarakankota.go.id": {"A": ["198.19.0.11"]}})
    live.unfinished = journal.unfinished(tmp_path)
    live.users = {"web2": {"sikesda"}}
    live.databases = {"mariadb": {"db2": ({"sikesda"}, {"sikesda"})}}
    chosen, conflicts = placement.place([_case("sikesda")], one_pool, live)  # auto would choose web1, db1
    assert (chosen, conflicts) == ({"2026-014": site.Placement("198.19.0.11", "web2", "db2")}, [])
    _, conflicts = placement.place([_case("sikesda", server="web1")], one_pool, live)
    assert [c.path for c in conflicts] == ["2026-014: hosting.server"]


def test_the_pool_check_of_doctor_is_one_per_web_host(own_pools: Inventory) -> None:
    from provisioner.commands import doctor

    class FakeHosts:
        def registry(self) -> dict[str, dict[str, Any]]:
            return {"2025-001": _record("2025-001", "web1", "198.19.0.10")}

        def bound_addresses(self, web: Host) -> set[str]:
            return {"web1": {"198.19.0.10", "198.19.0.5"}, "web2": {"198.19.1.5", "198.19.1.77"}}[web.name]

    checks = doctor.pool_checks(own_pools, FakeHosts())  # type: ignore[arg-type]
    assert [c.name for c in checks] == ["pool addresses of web1 free or held by a case",
                                        "pool addresses of web2 free or held by a case"]
    assert (checks[0].ok, checks[0].detail) == (True, "240 of 241 free")
    assert (checks[1].ok, checks[1].detail) == (False, "bound by no installed case: 198.19.1.77")


def test_a_removed_case_without_its_database_is_not_pinned_to_the_old_database_host(one_pool: Inventory) -> None:
    db = {"engine": "mariadb", "name": "sikesda", "user": "sikesda", "host": "db2"}
    removed = {**_record("2026-014", "web1", "198.19.0.10", removed=True, kept=["files", "system_user"],
                         database=db), "ip_was": "198.19.0.10"}
    removed.pop("ip")
    live = _live(registry={"2026-014": removed})
    chosen, conflicts = placement.place([_case("sikesda", server="web1")], one_pool, live)
    assert conflicts == []
    # Its files keep it on web1; its database was dropped: it goes where a new one would, and counts nowhere.
    assert (chosen["2026-014"].web, chosen["2026-014"].db) == ("web1", "db1")
    _, conflicts = placement.place([_on_db("sikesda", "db1")], one_pool, live)
    assert conflicts == []
    # Kept, the database holds it on db2, and asking for db1 says where the data is.
    live = _live(registry={"2026-014": {**removed, "kept": ["database"]}})
    _, conflicts = placement.place([_on_db("sikesda", "db1")], one_pool, live)
    assert [(c.path, "keeps its data on db2" in c.message) for c in conflicts] == \
        [("2026-014: hosting.database.server", True)]
    # Asking a removed case for another web host says how to free it.
    _, conflicts = placement.place([_case("sikesda", server="web2")], one_pool, live)
    assert [c.path for c in conflicts] == ["2026-014: hosting.server"]
    assert "destroy 2026-014 --drop-database --remove-files first" in conflicts[0].message


def test_a_case_recorded_on_two_web_hosts_is_where_it_is_installed() -> None:
    from provisioner.hosts import merge_records

    merged: dict[str, dict[str, Any]] = {}
    merge_records(merged, {"2026-014": {"case": "2026-014", "removed": True, "web_host": "web1"}})
    merge_records(merged, {"2026-014": {"case": "2026-014", "ip": "198.19.0.11", "web_host": "web2"},
                           "2026-011": {"case": "2026-011", "ip": "198.19.0.10", "web_host": "web2"}})
    merge_records(merged, {"2026-011": {"case": "2026-011", "ip": "198.19.0.12", "web_host": "web3"}})
    assert {k: v["web_host"] for k, v in merged.items()} == {"2026-014": "web2", "2026-011": "web2"}


def test_a_journal_naming_a_web_host_no_longer_in_the_inventory_is_a_conflict(one_pool: Inventory,
                                                                                tmp_path: Path) -> None:
    journal.begin(tmp_path, "2026-011", "ppid.tarakankota.go.id", site.Placement("198.19.0.11", "web9"))
    live = _live()
    live.unfinished = journal.unfinished(tmp_path)
    chosen, conflicts = placement.place([_case("ppid")], one_pool, live)
    assert chosen == {}
    assert [c.path for c in conflicts] == ["2026-011: hosting.server"]
    assert "web9, which is not a web host of inventory" in conflicts[0].message
