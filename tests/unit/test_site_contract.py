"""One contract between the code and the roles: each site role declares the site model's keys.

provisioner/site.py is the one definition of a site; every role that takes a site list declares it
in meta/argument_specs.yml (written by scripts/role-specs), and Ansible's own validator checks each
site against it before the role runs: once for the run's whole list when provisioner runs the
playbook (site.checked; each role then leaves its list out of its own check), else in each role.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from provisioner import ansible as ansible_run
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


PLAYS = ROOT / "playbooks" / "plays"
SELECTED = re.compile(r"\{\{ provisioner_sites( \| selectattr\('[a-z_.]+', 'equalto', "
                      r"('[a-z_]+'|[a-z_]+( \| default\(''\))?)\))*( \| list)? \}\}")


def _site_lists() -> dict[str, str]:
    """Every ``<role>_sites`` the plays give a role: where it is set -> its expression."""
    found = {}
    for path in sorted(PLAYS.rglob("*.yml")):
        loaded = yaml.safe_load(path.read_text()) or {}
        # A vars file is one scope; a play file holds plays, each with its vars.
        scopes = [loaded] if isinstance(loaded, dict) else [play.get("vars") or {} for play in loaded]
        for number, scope in enumerate(scopes):
            for name, value in scope.items():
                if name.endswith("_sites"):
                    found[f"{path.relative_to(PLAYS)}[{number}] {name}"] = " ".join(str(value).split())
    return found


def test_every_roles_site_list_is_the_runs_site_list_selected_by_host() -> None:
    # What lets the roles' own check leave out their site list when the run's list was checked
    # (site.checked, the strategy's without_checked_sites): each is that list, selected, never changed.
    lists = _site_lists()
    assert {key.split()[-1] for key in lists} >= {f"{role}_sites" for role in SITE_ROLES}
    assert {key: value for key, value in lists.items() if not SELECTED.fullmatch(value)} == {}


def test_the_run_checks_its_site_list_as_each_role_would(sites: dict[str, dict[str, Any]]) -> None:
    every = list(sites.values())
    removals = [site.build(load_case(path), site.Placement("198.19.0.30", "localhost"),
                           load_inventory(LOCAL_INVENTORY), password_file=Path("/nonexistent"))
                .vars.removal(drop_database=True, remove_files=True) for path in CASES]
    assert site.checked(every) and site.checked(removals)
    for broken in ({**every[0], "runtime": "cgi"}, {k: v for k, v in every[0].items() if k != "vhost_file"},
                   {**every[0], "docroot_extra": "/srv/www/x"}, {**every[0], "port": "not a port"}):
        assert _errors("apache_vhost", "main", [broken]) != []
        assert not site.checked([*every, broken])


def _role_check_run(tmp_path: Path, sites: list[dict[str, Any]], port: Any, flag: bool | None) -> str:
    """Run a play with a role whose spec holds a site list and a port, through provisioner's strategy;
    return what ansible-playbook printed (its exit status first)."""
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True, exist_ok=True)
    (role / "tasks").mkdir(exist_ok=True)
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": {"main": {
        "short_description": "a demo", "options": {
            "demo_sites": {"type": "list", "elements": "dict", "default": [], "description": "the sites",
                           "options": {"fqdn": {"type": "str", "required": True, "description": "the name"}}},
            "demo_port": {"type": "int", "required": True, "description": "a port"}}}}}))
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump([{"name": "done", "ansible.builtin.debug": {
        "msg": "{{ demo_sites | length }} sites"}}]))
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "roles": ["demo"],
                                         "vars": {"demo_sites": "{{ provisioner_sites }}", "demo_port": port}}]))
    extravars = {"provisioner_sites": sites, **({site.SITES_CHECKED: flag} if flag is not None else {})}
    (tmp_path / "extravars").write_text(json.dumps(ansible_run.as_data(extravars)))
    strategy = {k: v for k, v in ansible_run._mitogen_strategy().items() if not k.endswith("_CACHE_DIR")}
    env = {**os.environ, **strategy, "ANSIBLE_CONFIG": str(ROOT / "playbooks" / "ansible.cfg"),
           "ANSIBLE_ROLES_PATH": str(tmp_path / "roles"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(playbook), "-e", f"@{tmp_path / 'extravars'}"], capture_output=True, text=True,
                          env=env, check=False, timeout=120)
    return f"rc={done.returncode}\n{done.stdout}{done.stderr}"


def test_a_role_leaves_out_its_site_list_only_when_the_run_checked_it_and_checks_the_rest(tmp_path: Path) -> None:
    unnamed = [{"fqdn": "a.go.id"}, {"name": "no fqdn"}]  # what site.checked would have refused
    assert _role_check_run(tmp_path, unnamed, 80, flag=True).startswith("rc=0\n")
    for flag in (None, False):
        refused = _role_check_run(tmp_path, unnamed, 80, flag=flag)
        assert refused.startswith("rc=2\n") and "missing required arguments: fqdn" in refused, refused
    refused = _role_check_run(tmp_path, [{"fqdn": "a.go.id"}], "not a port", flag=True)
    assert refused.startswith("rc=2\n") and "demo_port" in refused, refused
