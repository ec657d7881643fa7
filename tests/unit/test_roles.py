"""Each role documents its inputs, and each site role reports per site what it changed.

defaults/main.yml and meta/argument_specs.yml stay in step; the site roles end with a set_stats
report (playbooks/filter_plugins/provisioner_changes.py) that provisioner/ansible.py reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import site
from tests.conftest import LOCAL_INVENTORY, ROOT

ROLES = sorted(p for p in (ROOT / "playbooks" / "roles").iterdir() if p.is_dir())
SITE_ROLES = [ROOT / "playbooks" / "roles" / name
              for name in ("apache_vhost", "database", "dns_record", "public_ip", "site_registry")]
PLUGIN = ROOT / "playbooks" / "filter_plugins" / "provisioner_changes.py"


def _defaults(role: Path) -> dict[str, Any]:
    return yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}


def _entry_points(role: Path) -> dict[str, dict[str, Any]]:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name: entry.get("options") or {} for name, entry in specs.items()}


def _tasks(role: Path) -> list[dict[str, Any]]:
    """Every task of the role's task files, those inside blocks included."""
    found: list[dict[str, Any]] = []

    def walk(tasks: list[dict[str, Any]]) -> None:
        for task in tasks or []:
            found.append(task)
            for part in ("block", "rescue", "always"):
                walk(task.get(part) or [])

    for path in sorted((role / "tasks").glob("*.yml")):
        walk(yaml.safe_load(path.read_text()))
    return found


def _report(role: Path) -> dict[str, Any]:
    """The role's set_stats task: the last of its tasks/main.yml, in the always of the role's block."""
    main = yaml.safe_load((role / "tasks" / "main.yml").read_text())
    always = main[-1].get("always") or []
    assert main[-1].get("block") and always, f"{role.name}: the role's work is not a block with an always"
    return always[-1]


@pytest.fixture(scope="module")
def site_changes() -> Any:
    spec = importlib.util.spec_from_file_location("provisioner_changes", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["provisioner_site_changes"]


# --- inputs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_in_the_argument_spec_with_the_same_value(role: Path) -> None:
    for entry, options in _entry_points(role).items():
        declared = {name: options[name].get("default") for name in _defaults(role) if name in options}
        assert declared == {name: value for name, value in _defaults(role).items() if name in options}, entry
    assert set(_defaults(role)) <= set(_entry_points(role)["main"])


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_of_the_argument_spec_is_in_defaults(role: Path) -> None:
    for entry, options in _entry_points(role).items():
        with_default = {name: spec["default"] for name, spec in options.items() if "default" in spec}
        assert with_default == {name: _defaults(role).get(name) for name in with_default}, entry


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_option_is_described(role: Path) -> None:
    undocumented = [(entry, name) for entry, options in _entry_points(role).items()
                    for name, spec in options.items() if not spec.get("description")]
    assert not undocumented


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_variable_carries_the_role_prefix(role: Path) -> None:
    names = list(_defaults(role))
    if (role / "vars" / "main.yml").exists():
        names += list(yaml.safe_load((role / "vars" / "main.yml").read_text()) or {})
    assert all(name.startswith(f"{role.name}_") for name in names), names


def test_the_php_version_default_is_the_site_models() -> None:
    role = ROOT / "playbooks" / "roles" / "apache_vhost"
    assert _defaults(role)["apache_vhost_php_version"] == site.DEFAULT_PHP_VERSION
    for options in _entry_points(role).values():
        assert options["apache_vhost_php_version"]["default"] == site.DEFAULT_PHP_VERSION


# --- the report of what changed -------------------------------------------------------------

@pytest.mark.parametrize("role", SITE_ROLES, ids=lambda p: p.name)
def test_each_site_role_reports_in_the_always_of_its_block(role: Path) -> None:
    report = _report(role)
    stats = report["ansible.builtin.set_stats"]
    assert (stats["aggregate"], stats["per_host"]) == (True, False)
    assert list(stats["data"]) == ["provisioner_changes"]
    assert f"provisioner_site_changes('{role.name}'" in stats["data"]["provisioner_changes"]
    assert "check_mode=ansible_check_mode" in stats["data"]["provisioner_changes"]


@pytest.mark.parametrize("role", SITE_ROLES, ids=lambda p: p.name)
def test_the_report_reads_exactly_the_results_the_role_registers(role: Path) -> None:
    """A misspelt name would read as ``{}`` (nothing changed): the two sets must be equal. A task
    file run by a play of its own (apache_vhost's acme.yml) reports what it changed itself."""
    reports = [_report(role)] + [task for task in _tasks(role) if "ansible.builtin.set_stats" in task]
    read = set(re.findall(r"\b(\w+_result)\b", yaml.safe_dump(reports)))
    registered = {task["register"] for task in _tasks(role) if str(task.get("register", "")).endswith("_result")}
    assert read == registered


# Modules of our own that take the whole batch of sites and answer per site as a loop would.
# Every module of ours reports per site (module_utils/provisioner_batch); the DNS one lives in its role.
BATCH_MODULES = ("provisioner_dns_records",
                 *sorted(p.stem for p in (ROOT / "playbooks" / "library").glob("provisioner_*.py")))


@pytest.mark.parametrize("role", SITE_ROLES, ids=lambda p: p.name)
def test_every_registered_result_comes_from_a_loop_over_sites(role: Path) -> None:
    looped = [task["name"] for task in _tasks(role)
              if str(task.get("register", "")).endswith("_result") and "loop" not in task
              and not any(m in task for m in BATCH_MODULES)]
    assert looped == []


@pytest.mark.parametrize("role", SITE_ROLES, ids=lambda p: p.name)
def test_a_batch_module_names_its_sites_as_a_loop_would(role: Path) -> None:
    """Its results carry each site under the loop variable the report reads (``loop_var``)."""
    for block in _tasks(role):
        registered = [t for t in block.get("block") or [] if any(m in t for m in BATCH_MODULES) and "register" in t]
        for task in registered:
            module = next(m for m in BATCH_MODULES if m in task)
            given = {**(block.get("module_defaults") or {}).get(module, {}), **task[module]}
            assert str(given.get("loop_var", "")).startswith(role.name), task["name"]


@pytest.mark.parametrize("role", SITE_ROLES, ids=lambda p: p.name)
def test_a_per_site_condition_only_skips_in_check_mode(role: Path) -> None:
    """The report counts an item skipped in check mode as a change: no other per-item skip may exist."""
    others = [(task["name"], task["when"]) for task in _tasks(role) if "loop" in task and "when" in task
              and task["when"] != f"not ansible_check_mode or {task['loop_control']['loop_var']}.installed"]
    assert others == []


@pytest.mark.parametrize("role", SITE_ROLES, ids=lambda p: p.name)
def test_no_task_reports_by_name(role: Path) -> None:
    assert [t["name"] for t in _tasks(role) if str(t.get("name", "")).startswith("Report per site what changed")] == []


def _loop(var: str, *items: dict[str, Any], **task: Any) -> dict[str, Any]:
    """A registered loop result, as Ansible stores it."""
    return {"changed": any(i.get("changed") for i in items), "msg": "All items completed", **task,
            "results": [{"ansible_loop_var": var, **i} for i in items]}


SITE_A = {"id": "2026-011", "fqdn": "ppid.example"}
SITE_B = {"id": "2026-014", "fqdn": "sikesda.example"}


def test_a_changed_item_is_reported_for_its_site(site_changes: Any) -> None:
    result = _loop("apache_vhost_site", {"changed": True, "apache_vhost_site": SITE_A},
                   {"changed": False, "apache_vhost_site": SITE_B})
    assert site_changes({"vhost": result}, "apache_vhost") == {
        "2026-011": {"apache_vhost": {"changed": ["vhost"], "created": []}}}


def test_a_subelements_item_names_its_site_first(site_changes: Any) -> None:
    result = _loop("apache_vhost_dir", {"changed": True, "apache_vhost_dir": [SITE_B, {"path": "/srv/www/x"}]})
    assert site_changes({"directories": result}, "apache_vhost", created=["directories"]) == {
        "2026-014": {"apache_vhost": {"changed": ["directories"], "created": ["directories"]}}}


def test_created_is_the_declared_subset_of_changed(site_changes: Any) -> None:
    results = {"database": _loop("database_site", {"changed": True, "database_site": SITE_A}),
               "user": _loop("database_site", {"changed": True, "database_site": SITE_A})}
    assert site_changes(results, "database", created=["database"]) == {
        "2026-011": {"database": {"changed": ["database", "user"], "created": ["database"]}}}


def test_a_no_log_result_still_says_what_changed(site_changes: Any) -> None:
    censored = _loop("database_site", {"changed": True, "database_site": SITE_A, "diff": [{"after": "[[ hidden ]]"}]})
    assert site_changes({"user": censored}, "database")["2026-011"]["database"]["changed"] == ["user"]


def test_a_failed_item_counts_only_if_it_changed(site_changes: Any) -> None:
    result = _loop("database_site", {"changed": True, "database_site": SITE_A},
                   {"changed": False, "failed": True, "database_site": SITE_B}, failed=True)
    assert set(site_changes({"database": result}, "database")) == {"2026-011"}


def test_one_thing_may_come_from_several_tasks(site_changes: Any) -> None:
    generated = _loop("apache_vhost_site", {"changed": True, "apache_vhost_site": SITE_A})
    provided = _loop("apache_vhost_site", {"changed": True, "apache_vhost_site": SITE_B})
    report = site_changes({"tls_key": [generated, provided]}, "apache_vhost")
    assert {case: r["apache_vhost"]["changed"] for case, r in report.items()} == {
        "2026-011": ["tls_key"], "2026-014": ["tls_key"]}


@pytest.mark.parametrize("absent", [
    {},
    {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"},
    {"changed": False, "skipped": True, "results": []},
])
def test_a_task_that_did_not_run_reports_nothing(site_changes: Any, absent: dict[str, Any]) -> None:
    assert site_changes({"vhost": absent}, "apache_vhost", check_mode=True) == {}


def test_an_item_that_names_no_site_is_not_reported(site_changes: Any) -> None:
    result = _loop("apache_vhost_tls_dir", {"changed": True, "apache_vhost_tls_dir": "/etc/apache2/tls"})
    assert site_changes({"tls_dir": result}, "apache_vhost") == {}


@pytest.mark.parametrize("skipped", [
    {"skipped": True, "changed": False, "msg": "Command would have run if not in check mode"},
    {"skipped": True, "changed": False, "false_condition": "not ansible_check_mode or public_ip_site.installed"},
])
def test_in_check_mode_a_skipped_item_of_a_new_site_would_change(site_changes: Any,
                                                                  skipped: dict[str, Any]) -> None:
    result = _loop("public_ip_site", {**skipped, "public_ip_site": {**SITE_A, "installed": False}})
    assert site_changes({"address": result}, "public_ip", created=["address"], check_mode=True) == {
        "2026-011": {"public_ip": {"changed": ["address"], "created": ["address"]}}}
    assert site_changes({"address": result}, "public_ip", created=["address"], check_mode=False) == {}


@pytest.mark.parametrize("skipped", [
    {"changed": False, "skipped": True, "msg": "remote module (ansible.legacy.unarchive) does not support check "
                                              "mode when using gtar"},
])
def test_in_check_mode_a_skipped_item_of_an_installed_site_proves_nothing(site_changes: Any,
                                                                          skipped: dict[str, Any]) -> None:
    """unarchive cannot simulate with GNU tar: the plan of an installed site must not list it."""
    result = _loop("apache_vhost_site", {**skipped, "apache_vhost_site": {**SITE_A, "installed": True}})
    assert site_changes({"release": result}, "apache_vhost", check_mode=True) == {}


def _play_hosts(tmp_path: Path, sites: list[dict[str, str]]) -> dict[str, list[str]]:
    """Which hosts each play of provision.yml runs on for these sites (``--list-hosts``)."""
    (tmp_path / "sites.json").write_text(json.dumps({"provisioner_sites": sites}))
    playbooks = ROOT / "playbooks"
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(LOCAL_INVENTORY),
                           "-e", f"@{tmp_path / 'sites.json'}", "--list-hosts", str(playbooks / "provision.yml")],
                          capture_output=True, text=True, check=True, timeout=120,
                          env={**os.environ, "ANSIBLE_CONFIG": str(playbooks / "ansible.cfg")})
    plays: dict[str, list[str]] = {}
    hosts: list[str] = []
    for line in done.stdout.splitlines():
        if match := re.match(r"\s*play #\d+ \(.*?\): (.+?)\tTAGS", line):
            plays[match.group(1)] = hosts = []
        elif line.startswith("      "):
            hosts.append(line.strip())
    return plays


def test_a_play_with_no_site_of_its_kind_is_skipped_whole(tmp_path: Path) -> None:
    # An engine's database play, and the ACME play, run only when a site of the run needs them.
    mariadb = _play_hosts(tmp_path, [{"db_engine": "mariadb", "tls": "self-signed"}])
    assert mariadb["Databases on the MariaDB servers"] == ["localhost"]
    assert mariadb["Databases on the PostgreSQL servers"] == []
    assert mariadb["Certificates from the ACME CA"] == []
    assert mariadb["Virtual hosts on the web servers"] == ["localhost"]
    others = _play_hosts(tmp_path, [{"db_engine": "none", "tls": "acme"}, {"db_engine": "postgresql", "tls": "none"}])
    assert others["Databases on the MariaDB servers"] == []
    assert others["Databases on the PostgreSQL servers"] == ["localhost"]
    assert others["Certificates from the ACME CA"] == ["localhost"]


def test_batch_items_carry_a_ref_of_their_site_not_the_whole_site() -> None:
    from tests.playbook_code import load

    batch = load("filter_plugins/provisioner_batch.py")
    site = {**SITE_A, "marker": "/etc/provisioner/sites/a.yml", "files": ["/etc/a.conf", "/etc/a.env"]}
    assert batch.ref(site) == {"id": SITE_A["id"], "installed": SITE_A.get("installed", True)}
    items = batch.absent([site], "files")
    assert [i["path"] for i in items] == ["/etc/a.conf", "/etc/a.env"]
    assert all(i["site"] == batch.ref(site) for i in items)
