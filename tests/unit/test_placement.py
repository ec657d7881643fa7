"""Placement of cases on an inventory: addresses from the pool, and conflicts with what is live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioner import placement, site
from provisioner.case import Case, load_case
from provisioner.errors import InvalidInput
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY

INV = load_inventory(LOCAL_INVENTORY)


def _case(name: str, **changes: Any) -> Case:
    case = load_case(next(EXAMPLES.glob(f"*{name}*.yml")))
    return case.__class__(**{**case.__dict__, **changes})


def _live(ptrs: dict[str, str] | None = None, names: dict[str, Any] | None = None,
          registry: dict[str, Any] | None = None) -> placement.LiveState:
    return placement.LiveState(ptrs=ptrs or {}, names=names or {}, registry=registry or {})


def test_auto_takes_the_lowest_free_address_of_the_range() -> None:
    chosen, conflicts = placement.place([_case("ppid"), _case("sikesda")], INV,
                                    _live(ptrs={"198.19.0.10": "other.tarakankota.go.id"}))
    assert conflicts == []
    assert chosen == {"2026-011": "198.19.0.11", "2026-014": "198.19.0.12"}


def test_an_installed_case_keeps_its_address() -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.77"}}
    names = {"ppid.tarakankota.go.id": {"A": ["198.19.0.77"]}}
    chosen, conflicts = placement.place([_case("ppid")], INV, _live(names=names, registry=registry))
    assert (chosen, conflicts) == ({"2026-011": "198.19.0.77"}, [])


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
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.77"}}
    _, conflicts = placement.place([_case("ppid", public_ip="198.19.0.78")], INV, _live(registry=registry))
    assert "moving it is not supported" in conflicts[0].message


@pytest.mark.parametrize("key", ["system_user", "database"])
def test_what_another_case_owns_is_a_conflict(key: str) -> None:
    record: dict[str, Any] = {"case": "2025-001", "fqdn": "lama.tarakankota.go.id", "ip": "198.19.0.90",
                              "system_user": "lama", "database": None}
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
    v = site.build(_case("sikesda"), "198.19.0.10", INV, password_file=tmp_path / "pw").vars.as_vars()
    assert v["db"]["password_file"] == str(tmp_path / "pw")
    assert not any("password" in k and k != "password_file" for k in v["db"])
    assert v["pool_file"] == "/etc/php/8.2/fpm/pool.d/sikesda.conf"
    assert v["files"] == [v["vhost_file"], v["pool_file"], v["env_file"]]


def test_an_existing_system_user_of_no_case_is_a_conflict() -> None:
    live = _live()
    live.users = {"sikesda"}
    _, conflicts = placement.place([_case("sikesda")], INV, live)
    assert conflicts[0].path == "2026-014: application.name"
    assert "system user sikesda exists" in conflicts[0].message


def test_an_existing_database_or_database_user_of_no_case_is_a_conflict() -> None:
    live = _live()
    live.databases = {"mariadb": ({"sikesda"}, {"sikesda"})}
    _, conflicts = placement.place([_case("sikesda")], INV, live)
    assert {c.path for c in conflicts} == {"2026-014: hosting.database.name", "2026-014: hosting.database.user"}


def test_what_an_installed_case_has_is_its_own() -> None:
    registry = {"2026-014": {"case": "2026-014", "fqdn": "sikesda.tarakankota.go.id", "ip": "198.19.0.11"}}
    live = _live(registry=registry)
    live.users, live.bound = {"sikesda"}, {"198.19.0.11"}
    live.databases = {"mariadb": ({"sikesda"}, {"sikesda"})}
    assert placement.place([_case("sikesda")], INV, live) == ({"2026-014": "198.19.0.11"}, [])


def test_auto_skips_an_address_bound_by_someone_else() -> None:
    live = _live()
    live.bound = {"198.19.0.10"}
    assert placement.place([_case("ppid")], INV, live)[0] == {"2026-011": "198.19.0.11"}
    _, conflicts = placement.place([_case("ppid", public_ip="198.19.0.10")], INV, live)
    assert "held by an address bound on the web host" in conflicts[0].message


# --- a pool larger than a /24, and the shared address ---------------------------------------

def test_the_pool_spans_two_reverse_zones() -> None:
    assert INV.reverse_zone_for("198.19.0.200") == "0.19.198.in-addr.arpa"
    assert INV.reverse_zone_for("198.19.1.20") == "1.19.198.in-addr.arpa"
    v = site.build(_case("ppid"), "198.19.1.20", INV, password_file=None).vars
    assert (v.reverse_zone, v.ptr_name) == ("1.19.198.in-addr.arpa", "20.1.19.198.in-addr.arpa.")


def test_auto_goes_on_past_the_first_slash_24() -> None:
    ptrs = {str(a): f"x{i}.tarakankota.go.id" for i, a in enumerate(INV.pool_addresses()) if a.packed[2] == 0}
    chosen, conflicts = placement.place([_case("ppid")], INV, _live(ptrs=ptrs))
    assert (chosen, conflicts) == ({"2026-011": "198.19.1.0"}, [])


def test_shared_cases_share_the_web_host_address() -> None:
    cases = [_case("ppid", public_ip="shared"), _case("sikesda", public_ip="shared")]
    chosen, conflicts = placement.place(cases, INV, _live())
    assert conflicts == []
    assert chosen == {"2026-011": "198.19.0.5", "2026-014": "198.19.0.5"}
    built = site.build(cases[0], chosen["2026-011"], INV, password_file=None).vars
    assert built.shared is True
    assert site.build(_case("ppid"), "198.19.0.10", INV, password_file=None).vars.shared is False


def test_a_shared_case_beside_an_installed_shared_case_is_no_conflict() -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.5",
                             "shared": True}}
    chosen, conflicts = placement.place([_case("sikesda", public_ip="shared")], INV, _live(registry=registry))
    assert (chosen, conflicts) == ({"2026-014": "198.19.0.5"}, [])


def test_auto_never_hands_out_the_shared_address() -> None:
    assert "198.19.0.5" not in {str(a) for a in INV.pool_addresses()}
    chosen, _ = placement.place([_case("ppid")], INV, _live())
    assert chosen["2026-011"] != "198.19.0.5"


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


@pytest.mark.parametrize(("installed", "wanted"), [("198.19.0.77", "shared"), ("198.19.0.5", "198.19.0.77")])
def test_moving_between_own_and_shared_is_refused(installed: str, wanted: str) -> None:
    registry = {"2026-011": {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": installed,
                             "shared": installed == "198.19.0.5"}}
    _, conflicts = placement.place([_case("ppid", public_ip=wanted)], INV, _live(registry=registry))
    assert "moving it is not supported" in conflicts[0].message


def _installed_sikesda(**record: Any) -> dict[str, Any]:
    base = {"case": "2026-014", "fqdn": "sikesda.tarakankota.go.id", "ip": "198.19.0.12", "application": "sikesda",
            "system_user": "sikesda", "database": {"engine": "mariadb", "name": "sikesda", "user": "sikesda"}}
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
    assert (chosen, conflicts) == ({"2026-014": "198.19.0.12"}, [])
    without = _installed_sikesda(database=None)
    chosen, conflicts = placement.place([_case("sikesda")], INV, _live(registry=without))
    assert conflicts == []


def test_a_user_and_database_of_another_case_get_one_reason_each() -> None:
    """Not also "exists and belongs to no installed case": the record says whose it is."""
    other = _installed_sikesda()
    other["2026-099"] = other.pop("2026-014")
    live = _live(registry=other)
    live.users = {"sikesda"}
    live.databases = {"mariadb": ({"sikesda"}, {"sikesda"})}
    _, conflicts = placement.place([_case("sikesda", subdomain="sikesda2")], INV, live)
    messages = [c.message for c in conflicts]
    assert "system user sikesda belongs to case 2026-099" in messages
    assert not any("belongs to no installed case" in m for m in messages), messages
    assert sorted(c.path for c in conflicts) == ["2026-014: application.name", "2026-014: hosting.database.name",
                                                 "2026-014: hosting.database.user"]


def _installed_ppid(**record: Any) -> dict[str, Any]:
    base = {"case": "2026-011", "fqdn": "ppid.tarakankota.go.id", "ip": "198.19.0.10", "shared": False,
            "application": "ppid", "system_user": "ppid", "database": None}
    return {"2026-011": {**base, **record}}


@pytest.mark.parametrize("address", ["198.19.0.10", "198.19.0.5"])
def test_a_name_and_user_of_an_installed_case_get_one_reason_each(address: str) -> None:
    """The issue's case: subdomain and application name of installed 2026-011, on its own address
    or the shared one (whose A record is not "other data in DNS" as well)."""
    live = _live(names={"ppid.tarakankota.go.id": {"A": [address]}},
                 registry=_installed_ppid(ip=address, shared=address == "198.19.0.5"),
                 ptrs={} if address == "198.19.0.5" else {address: "ppid.tarakankota.go.id"})
    live.users, live.bound = {"ppid"}, {address}
    chosen, conflicts = placement.place([_case("ppid", id="2026-031")], INV, live)
    assert chosen == {}
    assert [(c.path, c.message) for c in conflicts] == [
        ("2026-031: hosting.subdomain", "ppid.tarakankota.go.id belongs to case 2026-011"),
        ("2026-031: application.name", "system user ppid belongs to case 2026-011")]


def test_what_a_removal_kept_is_named_with_what_frees_it() -> None:
    kept = _installed_sikesda(removed=True, kept=["files", "system_user", "database"])
    kept["2026-014"].pop("ip")
    live = _live(registry=kept)
    live.users = {"sikesda"}
    live.databases = {"mariadb": ({"sikesda"}, {"sikesda"})}
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
    live.databases = {"mariadb": ({"sikesda"}, {"sikesda"})}
    _, conflicts = placement.place([_case("sikesda", id="2026-031", subdomain="sikesda2")], INV, live)
    assert [c.path for c in conflicts] == ["2026-031: hosting.database.name", "2026-031: hosting.database.user"]
