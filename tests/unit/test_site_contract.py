"""One contract between the code and the roles: each site role declares the site model's keys.

provisioner/site.py is the one definition of a site; every role that takes a site list declares it
in meta/argument_specs.yml (written by scripts/role-specs), and Ansible's own validator checks each
site against it before the role runs.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from provisioner import site
from provisioner.case import load_case
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, ROOT

ROLES = ROOT / "playbooks" / "roles"
SITE_ROLES = ["apache_vhost", "database", "dns_record", "public_ip", "site_registry"]
CASES = sorted(EXAMPLES.glob("*.yml"))


def _entry_points(role: str) -> dict[str, dict[str, Any]]:
    """Entry point name -> its options, for the entry points that take the role's site list."""
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name: entry["options"] for name, entry in specs.items() if f"{role}_sites" in entry.get("options", {})}


ENTRY_POINTS = [(role, entry) for role in SITE_ROLES for entry in _entry_points(role)]


def _ids(value: Any) -> str:
    return value.stem if isinstance(value, Path) else str(value)


@pytest.fixture(scope="module")
def sites() -> dict[str, dict[str, Any]]:
    """The site of each example case, as provisioner hands it to the roles."""
    inventory = load_inventory(LOCAL_INVENTORY)
    built = {}
    for number, path in enumerate(CASES):
        case = load_case(path)
        built[path.stem] = site.build(case, site.Placement(f"198.19.0.{30 + number}", "localhost"), inventory,
                                      password_file=Path("/nonexistent")).vars.as_vars()
    return built


def _errors(role: str, entry: str, sites: list[dict[str, Any]]) -> list[str]:
    """What Ansible's validator says of ``sites`` given as the role's site list."""
    result = ArgumentSpecValidator(_entry_points(role)[entry]).validate({f"{role}_sites": copy.deepcopy(sites)})
    return list(result.error_messages)


@pytest.mark.parametrize("role", SITE_ROLES)
def test_every_site_role_takes_the_site_list(role: str) -> None:
    assert "main" in _entry_points(role)


@pytest.mark.parametrize(("role", "entry"), ENTRY_POINTS, ids=lambda v: str(v))
def test_the_site_list_is_a_list_of_sites(role: str, entry: str) -> None:
    option = _entry_points(role)[entry][f"{role}_sites"]
    assert (option["type"], option["elements"], option["default"]) == ("list", "dict", [])
    assert option["description"]


@pytest.mark.parametrize(("role", "entry"), ENTRY_POINTS, ids=lambda v: str(v))
def test_the_role_declares_no_key_the_site_model_lacks(role: str, entry: str) -> None:
    declared = _entry_points(role)[entry][f"{role}_sites"]["options"]
    assert set(declared) - set(site.argument_spec()) == set()


@pytest.mark.parametrize(("role", "entry"), ENTRY_POINTS, ids=lambda v: str(v))
def test_the_role_declares_every_key_of_the_site_model(role: str, entry: str) -> None:
    declared = _entry_points(role)[entry][f"{role}_sites"]["options"]
    assert set(site.argument_spec()) - set(declared) == set()


@pytest.mark.parametrize(("role", "entry"), ENTRY_POINTS, ids=lambda v: str(v))
def test_each_key_has_the_site_models_type_choices_requirement_and_default(role: str, entry: str) -> None:
    declared = _entry_points(role)[entry][f"{role}_sites"]["options"]
    wanted = site.argument_spec()
    different = {key: (declared[key], wanted[key]) for key in wanted if declared.get(key) != wanted[key]}
    assert different == {}, "run scripts/role-specs"


def test_the_role_specs_are_as_scripts_role_specs_writes_them() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "role-specs"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize(("role", "entry"), ENTRY_POINTS, ids=lambda v: str(v))
def test_the_site_of_each_example_passes_ansibles_validator(sites: dict[str, dict[str, Any]], role: str,
                                                            entry: str, case: Path) -> None:
    assert _errors(role, entry, [sites[case.stem]]) == []


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_removal_of_each_example_passes_ansibles_validator(case: Path) -> None:
    built = site.build(load_case(case), site.Placement("198.19.0.30", "localhost"), load_inventory(LOCAL_INVENTORY),
                       password_file=Path("/nonexistent"))
    removal = built.vars.removal(drop_database=True, remove_files=True)
    assert _errors("apache_vhost", "main", [removal]) == []


def test_a_removed_cases_kept_parts_go_without_its_old_address() -> None:
    # What a removed case kept is removed from its ownership record alone (lab down, with its case
    # file elsewhere); its old address may be another case's now: neither address nor PTR is touched.
    from provisioner.lab import _kept_parts

    record = {"case": "2026-090", "fqdn": "lama.tarakankota.go.id", "removed": True, "ip_was": "198.19.0.5",
              "application": "lama", "system_user": "lama", "kept": ["files", "system_user", "database"],
              "database": {"engine": "mariadb", "name": "lama", "user": "lama"}}
    built = site.build(_kept_parts(record), site.Placement("198.19.0.5", "localhost"),
                       load_inventory(LOCAL_INVENTORY), password_file=None)
    removal = built.vars.removal(drop_database=True, remove_files=True, holds_address=False)
    assert removal["shared"] and removal["state"] == "absent"
    assert (removal["root"], removal["user"], removal["db"]["name"]) == ("/srv/www/lama.tarakankota.go.id",
                                                                          "lama", "lama")
    assert all(_errors(role, "main", [removal]) == [] for role in SITE_ROLES)
    assert not built.vars.removal(drop_database=True, remove_files=True)["shared"]


@pytest.mark.parametrize("role", SITE_ROLES)
def test_a_key_outside_the_contract_is_refused(sites: dict[str, dict[str, Any]], role: str) -> None:
    one = {**next(iter(sites.values())), "docroot_extra": "/srv/www/x"}
    errors = _errors(role, "main", [one])
    assert any(e.startswith(f"{role}_sites.docroot_extra. Supported parameters include") for e in errors), errors


@pytest.mark.parametrize(("key", "value"), [("runtime", "cgi"), ("tls", "letsencrypt"), ("state", "gone"),
                                            ("db_engine", "oracle")])
@pytest.mark.parametrize("role", SITE_ROLES)
def test_a_value_outside_the_choices_is_refused(sites: dict[str, dict[str, Any]], role: str, key: str,
                                                value: str) -> None:
    one = {**next(iter(sites.values())), key: value}
    errors = _errors(role, "main", [one])
    assert any(f"value of {key} must be one of" in e and value in e for e in errors), errors


@pytest.mark.parametrize("role", SITE_ROLES)
def test_a_missing_key_is_refused(sites: dict[str, dict[str, Any]], role: str) -> None:
    one = {k: v for k, v in next(iter(sites.values())).items() if k != "vhost_file"}
    errors = _errors(role, "main", [one])
    assert any("missing required arguments: vhost_file" in e for e in errors), errors


def test_a_database_outside_its_contract_is_refused(sites: dict[str, dict[str, Any]]) -> None:
    with_db = next(s for s in sites.values() if s["db"])
    one = {**with_db, "db": {**with_db["db"], "engine": "sqlite", "port": "not a port"}}
    errors = _errors("database", "main", [one])
    assert any("value of engine must be one of" in e for e in errors), errors
    assert any("port" in e and "int" in e for e in errors), errors


def test_an_ownership_record_is_read_as_json_after_its_comments_and_an_older_one_as_yaml() -> None:
    assert site.ownership_record('# Managed by provisioner\n{"case": "2026-014", "ip": "198.19.0.20"}\n') == {
        "case": "2026-014", "ip": "198.19.0.20"}
    assert site.ownership_record("# older\ncase: '2026-014'\nip: 198.19.0.20\n") == {
        "case": "2026-014", "ip": "198.19.0.20"}
    with pytest.raises(ValueError):
        site.ownership_record("case: [unclosed\n")
