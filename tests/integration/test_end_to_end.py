"""Install and trial on the embedded lab, against real Apache, php-fpm, MariaDB, PostgreSQL and BIND.

The tests of this module run in order and share the lab: the examples go live first, later
tests re-apply, verify, break things on purpose and check what the tool did about it.
"""

from __future__ import annotations

import copy
import http.client
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.query
import dns.update
import pytest
import yaml

from provisioner import dns as dnsq
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, Cli, Result, assert_no_secret_leaked, example
from tests.integration.conftest import FAILED_NAME, FailedApply

INV = load_inventory(EXAMPLES.parent.parent / "inventories" / "local")
PRIMARY = INV.dns_primary.address
ALL_EXAMPLES = [str(p) for p in sorted(EXAMPLES.glob("*.yml"))]
PPID, SIKESDA, SIMPEG = (str(EXAMPLES / name) for name in (
    "2026-011-ppid-static.yml", "2026-014-sikesda-php.yml", "2026-020-simpeg-proxy.yml"))


def _a(fqdn: str) -> list[str]:
    return dnsq.query(PRIMARY, fqdn, "A")[1]


def _sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False)


def _by_id(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["id"]: case for case in out["cases"]}


def _scratch_case(write_case, name: str = "ujicoba", **changes: Any) -> Path:  # type: ignore[no-untyped-def]
    """A new MariaDB PHP case that no example uses, with changes applied at dotted paths."""
    data = copy.deepcopy(example("sikesda"))
    data["id"] = f"uji-{name}"
    data["application"]["name"] = name
    data["hosting"]["subdomain"] = name
    data["application"]["trial"] = [{"path": "/", "status": 200, "contains": "database: ok"}]
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return write_case(data, f"{name}.yml")


def test_lab_status_reports_every_service_up(cli: Cli, lab: Path) -> None:
    result = cli("lab", "status", as_json=False)
    assert result.rc == 0, result.stdout
    assert "the lab is up" in result.stdout


def test_examples_go_live_and_pass_their_trial(cli: Cli, lab: Path, records: Path) -> None:
    result = cli("apply", *ALL_EXAMPLES, "-i", str(lab))
    assert result.rc == 0, (result.out, result.stderr[-3000:])
    assert result.out["status"] == "ok"
    cases = _by_id(result.out)
    assert set(cases) == {"2026-011", "2026-014", "2026-020"}
    for case in cases.values():
        failed = [c for c in case["checks"] if not c["ok"]]
        assert not failed, failed
        assert case["changed"] > 0
        assert _a(case["fqdn"]) == [case["public_ip"]]
        assert {Path(p).name for p in case["records"]} >= {"konfigurasi.yml", "uji-coba.json", "laporan.pdf"}


def test_trial_covers_dns_http_database_and_host(cli: Cli, lab: Path) -> None:
    result = cli("verify", str(EXAMPLES / "2026-020-simpeg-proxy.yml"), "-i", str(lab))
    names = {c["name"] for c in result.out["cases"][0]["checks"]}
    assert {"dns A on localhost", "dns PTR on localhost", "http redirects to https",
            "tls certificate names the site", "public address bound", "apache configtest passes",
            "database user logs in with the application's settings",
            "database user cannot reach other databases"} <= names


def _ansible_runs() -> set[str]:
    return {p.name for p in (INV.state_dir / "runs").iterdir()}


def test_reapply_changes_nothing(cli: Cli, lab: Path) -> None:
    runs = _ansible_runs()
    result = cli("apply", *ALL_EXAMPLES, "-i", str(lab))
    assert result.rc == 0, result.out
    assert {case["id"]: (case["changed"], case.get("note")) for case in result.out["cases"]} == {
        "2026-011": (0, "unchanged"), "2026-014": (0, "unchanged"), "2026-020": (0, "unchanged")}
    assert "no Ansible run" in result.out["message"]
    assert _ansible_runs() == runs


def test_apply_full_runs_the_playbook_and_the_trial_anyway(cli: Cli, lab: Path) -> None:
    runs = _ansible_runs()
    result = cli("apply", *ALL_EXAMPLES, "-i", str(lab), "--full")
    assert result.rc == 0, result.out
    assert all(case["changed"] == 0 and case["checks"] and "note" not in case for case in result.out["cases"])
    assert len(_ansible_runs() - runs) == 1


def _healed(cli: Cli, lab: Path, case: str) -> dict[str, Any]:
    """Apply ``case`` after a disturbance: Ansible must run for it (no fast path), and heal it."""
    runs = _ansible_runs()
    result = cli("apply", case, "-i", str(lab))
    assert result.rc == 0, result.out
    assert result.out["cases"][0].get("note") != "unchanged"
    assert result.out["cases"][0]["changed"] > 0
    assert len(_ansible_runs() - runs) == 1
    again = cli("apply", case, "-i", str(lab))
    assert again.out["cases"][0].get("note") == "unchanged", again.out
    return result.out


@dataclass
class Heal:
    """One apply of several cases, each disturbed first (never two disturbances on one case), and
    the apply after it: one Ansible run heals them all, each test checks its own case's part."""

    result: Result
    runs: int  # Ansible runs the apply made
    again: Result


def _heal(cli: Cli, lab: Path, *cases: str) -> Heal:
    runs = _ansible_runs()
    result = cli("apply", *cases, "-i", str(lab))
    made = len(_ansible_runs() - runs)
    return Heal(result, made, cli("apply", *cases, "-i", str(lab)))


def _assert_healed(heal: Heal, case_id: str) -> None:
    """What `_healed` checks, for ``case_id`` of a shared heal: Ansible ran for it (no fast path) and
    changed it, and the apply after changes nothing."""
    assert heal.result.rc == 0, heal.result.out
    case = _by_id(heal.result.out)[case_id]
    assert case.get("note") != "unchanged"
    assert case["changed"] > 0
    assert heal.runs == 1
    assert _by_id(heal.again.out)[case_id].get("note") == "unchanged", heal.again.out


def test_a_changed_case_file_goes_through_ansible(cli: Cli, lab: Path, write_case, tmp_path: Path) -> None:
    data = example("ppid")
    # A title that Ansible would run as a template (a command on the controller) is only text.
    marker = tmp_path / "templated"
    data["application"]["title"] += f" (judul baru) {{{{ lookup('pipe', 'touch {marker}') }}}}"
    changed = write_case(data, "ppid-judul-baru.yml")
    _healed(cli, lab, str(changed))
    assert not marker.exists()
    _healed(cli, lab, str(EXAMPLES / "2026-011-ppid-static.yml"))


@pytest.fixture(scope="module")
def address_unbound_and_database_opened(cli: Cli, lab: Path) -> dict[str, Any]:
    """The disturbances of the next two tests, on two cases: ppid's address unbound, simpeg's
    database opened to everyone; then one apply of both heals them."""
    unbound = _sh(f"ip addr del 198.19.0.10/32 dev {INV.public_interface}")
    opened = _sh("runuser -u postgres -- psql -X -c 'GRANT CONNECT ON DATABASE simpeg TO PUBLIC'")
    return {"unbound": unbound, "opened": opened, "heal": _heal(cli, lab, PPID, SIMPEG)}


def test_an_unbound_address_goes_through_ansible(address_unbound_and_database_opened: dict[str, Any]) -> None:
    disturbed = address_unbound_and_database_opened
    assert disturbed["unbound"].returncode == 0, disturbed["unbound"].stderr
    _assert_healed(disturbed["heal"], "2026-011")
    assert "198.19.0.10/32" in _sh(f"ip -4 addr show dev {INV.public_interface}").stdout


def test_a_database_open_to_everyone_goes_through_ansible(address_unbound_and_database_opened: dict[str, Any]) -> None:
    disturbed = address_unbound_and_database_opened
    assert disturbed["opened"].returncode == 0, disturbed["opened"].stderr
    _assert_healed(disturbed["heal"], "2026-020")


def test_verify_all_passes(cli: Cli, lab: Path) -> None:
    result = cli("verify", "--all", "-i", str(lab))
    assert result.rc == 0, result.out
    assert len(result.out["cases"]) == 3


def test_php_application_reads_and_writes_its_database(cli: Cli, lab: Path) -> None:
    case = _by_id(cli("check", str(EXAMPLES / "2026-014-sikesda-php.yml"), "-i", str(lab)).out)["2026-014"]

    def visits() -> int:
        conn = http.client.HTTPConnection(case["public_ip"], 80, timeout=5)
        conn.request("GET", "/", headers={"Host": case["fqdn"]})
        body = conn.getresponse().read().decode()
        assert "database: ok (mariadb)" in body, body
        return int(body.split("kunjungan: ")[1].split()[0])

    first = visits()
    assert visits() == first + 1
    rows = _sh("mariadb -N -B -e 'SELECT COUNT(*) FROM sikesda.kunjungan'")
    assert int(rows.stdout.strip()) == first + 1


def test_database_user_is_granted_from_the_web_host_only(lab: Path) -> None:
    hosts = _sh("mariadb -N -B -e \"SELECT host FROM mysql.user WHERE user='sikesda'\"").stdout.split()
    assert hosts == [INV.web_host("localhost").address]
    grants = _sh("mariadb -N -B -e \"SHOW GRANTS FOR 'sikesda'@'127.0.0.1'\"").stdout
    assert "ON `sikesda`.*" in grants and "ON *.*" in grants and "ALL PRIVILEGES ON *.*" not in grants


def test_records_carry_the_configuration_and_no_secret(lab: Path, records: Path) -> None:
    config = yaml.safe_load((records / "2026-014" / "konfigurasi.yml").read_text())
    assert config["fqdn"] == "sikesda.tarakankota.go.id"
    assert config["database"]["engine"] == "mariadb"
    assert config["web"]["php_fpm_pool"] == "/etc/php/8.2/fpm/pool.d/sikesda.conf"
    assert config["software"]["apache"].startswith("Server version: Apache/2.4")


def _case_writer(folder: Path) -> Callable[..., Path]:
    """The `write_case` fixture's writer, in a folder of a module-scoped fixture."""
    (folder / "releases").mkdir()
    for archive in (EXAMPLES.parent / "releases").glob("*.tar.gz"):
        (folder / "releases" / archive.name).write_bytes(archive.read_bytes())
    (folder / "cases").mkdir()

    def write(data: dict[str, Any], name: str = "case.yml") -> Path:
        path = folder / "cases" / name
        path.write_text(yaml.safe_dump(copy.deepcopy(data), sort_keys=False))
        return path

    return write


@pytest.fixture(scope="module")
def new_cases_planned(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """One `plan --diff` (JSON) of three new cases no example uses, shared by the plan tests below,
    each checking its own case: uji-rencana (MariaDB PHP), uji-rencana-pg (PostgreSQL, self-signed
    TLS) and uji-rencanateks (the --diff part; its plan as text is run on its own)."""
    write = _case_writer(tmp_path_factory.mktemp("plans"))
    postgresql = example("simpeg")
    postgresql.update(id="uji-rencana-pg")
    postgresql["application"]["name"] = "rencanapg"
    postgresql["hosting"]["subdomain"] = "rencanapg"
    postgresql["hosting"]["database"] = {"engine": "postgresql"}
    paths = [_scratch_case(write, "rencana"), write(postgresql, "rencanapg.yml"), _scratch_case(write, "rencanateks")]
    return cli("plan", *map(str, paths), "-i", str(lab), "--diff")


def test_plan_of_a_new_case_changes_nothing(new_cases_planned: Result) -> None:
    result = new_cases_planned
    assert result.rc == 0, result.out
    case = _by_id(result.out)["uji-rencana"]
    plan = {(p["action"], p["role"], p["thing"]) for p in case["plan"]}
    assert {("add", "database", "database"), ("add", "database", "user"), ("add", "apache_vhost", "vhost"),
            ("add", "apache_vhost", "php_pool"), ("add", "public_ip", "address"),
            ("add", "dns_record", "a_record"), ("add", "site_registry", "ownership_record")} <= plan, plan
    assert {action for action, _, _ in plan} == {"add"}
    assert case["changed"] == len(plan)
    assert _a("rencana.tarakankota.go.id") == []
    assert not Path("/etc/apache2/sites-available/rencana.tarakankota.go.id.conf").exists()
    assert _sh("id rencana").returncode != 0
    assert _sh("mariadb -N -B -e \"SHOW DATABASES LIKE 'rencana'\"").stdout.strip() == ""


def test_plan_of_a_new_tls_postgresql_case_changes_nothing(new_cases_planned: Result) -> None:
    result = new_cases_planned
    assert result.rc == 0, result.out
    assert _by_id(result.out)["uji-rencana-pg"]["changed"] > 0
    assert not Path("/etc/apache2/provisioner-tls/rencanapg.tarakankota.go.id.key").exists()
    assert _sh("runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='rencanapg'\"").stdout == ""


def test_plan_of_an_installed_case_changes_nothing(cli: Cli, lab: Path) -> None:
    result = cli("plan", *ALL_EXAMPLES, "-i", str(lab))
    assert result.rc == 0, result.out
    assert [c["changed"] for c in result.out["cases"]] == [0, 0, 0]
    assert [c["plan"] for c in result.out["cases"]] == [[], [], []]
    assert result.out["message"] == "no changes: the servers match the cases"


def test_plan_shows_a_list_per_case_and_no_raw_ansible_output(cli: Cli, lab: Path, write_case,
                                                              new_cases_planned: Result) -> None:
    result = cli("plan", str(_scratch_case(write_case, "rencanateks")), "-i", str(lab), as_json=False)
    assert result.rc == 0, result.stderr[-2000:]
    assert "uji-rencanateks  rencanateks.tarakankota.go.id" in result.stdout
    assert "  + database: database\n" in result.stdout and "  + dns_record: a_record\n" in result.stdout
    for raw in ("TASK [", "PLAY [", "\x1b[", "failed to look up user", "[WARNING]"):
        assert raw not in result.stdout, raw
    diffed = new_cases_planned  # `plan --diff` of uji-rencanateks (and two other new cases)
    assert diffed.rc == 0 and "uji-rencanateks" in _by_id(diffed.out) and diffed.out["diffs"], diffed.out


def test_a_pending_case_is_refused_and_changes_nothing(cli: Cli, lab: Path, write_case) -> None:
    data = example("ppid")
    data.update(id="2026-950")
    data["approval"]["status"] = "pending"
    data["hosting"]["subdomain"] = "menunggu"
    result = cli("apply", str(write_case(data, "pending.yml")), "-i", str(lab))
    assert result.rc == 3
    assert result.out["status"] == "refused"
    assert _a("menunggu.tarakankota.go.id") == []


def test_a_name_holding_other_data_is_refused(cli: Cli, lab: Path, write_case) -> None:
    key = dnsq.read_tsig_key(INV.tsig_key_file)
    update = dns.update.UpdateMessage("tarakankota.go.id", keyring=key.keyring(), keyname=key.name,
                                      keyalgorithm=key.algorithm)
    update.add("dipakai", 300, "CNAME", "ppid.tarakankota.go.id.")
    dns.query.tcp(update, PRIMARY, timeout=5)
    try:
        path = _scratch_case(write_case, "dipakai")
        result = cli("apply", str(path), "-i", str(lab))
        assert result.rc == 3, result.out
        assert "already holds other data" in result.out["errors"][0]["message"]
        assert _a("dipakai.tarakankota.go.id") == []
        assert _sh("id dipakai").returncode != 0
    finally:
        cleanup = dns.update.UpdateMessage("tarakankota.go.id", keyring=key.keyring(), keyname=key.name,
                                           keyalgorithm=key.algorithm)
        cleanup.delete("dipakai")
        dns.query.tcp(cleanup, PRIMARY, timeout=5)


def test_a_failed_trial_undoes_the_run_and_records_the_incident(failed_apply: FailedApply) -> None:
    """The apply of a new MariaDB PHP case whose trial asks for a text the page lacks; made once per
    session by the fixture `failed_apply` (tests/integration/conftest.py), test_register reads it too."""
    result = failed_apply.result
    assert result.rc == 1, result.out
    assert result.out["status"] == "failed"
    case = result.out["cases"][0]
    incident = [p for p in case["records"] if "/insiden/" in p]
    assert incident and "body lacks" in Path(incident[0]).read_text()
    assert "database: database" in Path(incident[0]).read_text()  # what the database role reported creating
    # Everything this run created is gone again.
    fqdn = f"{FAILED_NAME}.tarakankota.go.id"
    assert _a(fqdn) == []
    assert not Path(f"/etc/apache2/sites-enabled/{fqdn}.conf").exists()
    assert not Path(f"/srv/www/{fqdn}").exists()
    assert _sh(f"id {FAILED_NAME}").returncode != 0
    assert _sh(f"mariadb -N -B -e \"SHOW DATABASES LIKE '{FAILED_NAME}'\"").stdout.strip() == ""
    assert case["public_ip"] not in failed_apply.addresses  # the addresses bound right after the run


def test_a_configuration_apache_refuses_is_never_activated(cli: Cli, lab: Path, write_case) -> None:
    """Someone left a broken file in Apache's configuration: the run stops at configtest."""
    broken = Path("/etc/apache2/conf-enabled/zz-broken-by-hand.conf")
    broken.write_text("ThisIsNotADirective on\n")
    try:
        result = cli("apply", str(_scratch_case(write_case, "rusak")), "-i", str(lab))
        assert result.rc == 1, result.out
        assert "Check Apache's configuration before changing anything" in result.out["message"]
        assert pgrep_apache(), "Apache must keep running on its checked configuration"
        assert not Path("/etc/apache2/sites-enabled/rusak.tarakankota.go.id.conf").exists()
        assert _a("rusak.tarakankota.go.id") == []
        assert _sh("id rusak").returncode != 0
        assert _sh("mariadb -N -B -e \"SHOW DATABASES LIKE 'rusak'\"").stdout.strip() == ""
    finally:
        broken.unlink()
    # The sites that were live stay live.
    assert cli("verify", *ALL_EXAMPLES, "-i", str(lab)).rc == 0


def pgrep_apache() -> bool:
    return _sh("pgrep -x apache2").returncode == 0


PPID_LINK = Path("/etc/apache2/sites-enabled/ppid.tarakankota.go.id.conf")
SIKESDA_VHOST = Path("/etc/apache2/sites-available/sikesda.tarakankota.go.id.conf")


@pytest.fixture(scope="module")
def vhost_disabled_and_edited(cli: Cli, lab: Path) -> dict[str, Any]:
    """The drifts of the next two tests, on two cases, each verified before the next is made: ppid's
    virtual host disabled, sikesda's edited by hand; then one apply of both heals them."""
    PPID_LINK.unlink()
    _sh("service apache2 reload")
    disabled = cli("verify", PPID, "-i", str(lab))
    SIKESDA_VHOST.write_text(SIKESDA_VHOST.read_text() + "# edited by hand\n")
    edited = cli("verify", SIKESDA, "-i", str(lab))
    return {"disabled": disabled, "edited": edited, "heal": _heal(cli, lab, PPID, SIKESDA)}


def test_verify_names_drift_and_apply_restores_it(vhost_disabled_and_edited: dict[str, Any]) -> None:
    drifted = vhost_disabled_and_edited["disabled"]
    assert drifted.rc == 1
    failed = {c["name"] for c in drifted.out["cases"][0]["checks"] if not c["ok"]}
    assert "virtual host enabled" in failed
    _assert_healed(vhost_disabled_and_edited["heal"], "2026-011")
    assert PPID_LINK.is_symlink()


def test_verify_names_a_vhost_edited_by_hand_and_apply_restores_it(cli: Cli, lab: Path,
                                                                   vhost_disabled_and_edited: dict[str, Any]) -> None:
    drifted = vhost_disabled_and_edited["edited"]
    assert drifted.rc == 1
    assert {c["name"] for c in drifted.out["cases"][0]["checks"] if not c["ok"]} == {"virtual host as applied"}
    _assert_healed(vhost_disabled_and_edited["heal"], "2026-014")
    assert "edited by hand" not in SIKESDA_VHOST.read_text()
    assert cli("verify", SIKESDA, "-i", str(lab)).rc == 0


def test_verify_names_a_deleted_dns_record_and_apply_restores_it(cli: Cli, lab: Path) -> None:
    key = dnsq.read_tsig_key(INV.tsig_key_file)
    update = dns.update.UpdateMessage("tarakankota.go.id", keyring=key.keyring(), keyname=key.name,
                                      keyalgorithm=key.algorithm)
    update.delete("sikesda", "A")
    dns.query.tcp(update, PRIMARY, timeout=5)
    case = str(EXAMPLES / "2026-014-sikesda-php.yml")
    drifted = cli("verify", case, "-i", str(lab))
    assert drifted.rc == 1
    failed = {c["name"] for c in drifted.out["cases"][0]["checks"] if not c["ok"]}
    assert failed == {"dns A on localhost"}
    _healed(cli, lab, case)
    assert _a("sikesda.tarakankota.go.id") != []


def test_verify_names_a_dropped_grant_and_apply_restores_it(cli: Cli, lab: Path) -> None:
    assert _sh("mariadb -e \"REVOKE ALL PRIVILEGES ON sikesda.* FROM 'sikesda'@'127.0.0.1'\"").returncode == 0
    case = str(EXAMPLES / "2026-014-sikesda-php.yml")
    drifted = cli("verify", case, "-i", str(lab))
    assert drifted.rc == 1
    failed = {c["name"] for c in drifted.out["cases"][0]["checks"] if not c["ok"]}
    assert "database user logs in with the application's settings" in failed
    assert any("/insiden/" in p for p in drifted.out["cases"][0]["records"])
    _healed(cli, lab, case)
    assert cli("verify", case, "-i", str(lab)).rc == 0


def test_destroy_then_apply_again(cli: Cli, lab: Path) -> None:
    case = str(EXAMPLES / "2026-011-ppid-static.yml")
    gone = cli("destroy", case, "-i", str(lab), "--remove-files", "--yes")
    assert gone.rc == 0, gone.out
    assert _a("ppid.tarakankota.go.id") == []
    assert not Path("/etc/apache2/sites-available/ppid.tarakankota.go.id.conf").exists()
    # Its log rotation and logs go too (test_log_rotation rotates this example's logs).
    assert not Path("/etc/logrotate.d/provisioner-ppid").exists()
    assert not Path("/srv/www/ppid.tarakankota.go.id/logs").exists()
    again = cli("destroy", case, "-i", str(lab))
    assert again.rc == 0 and "not installed" in again.out["message"]
    back = cli("apply", case, "-i", str(lab))
    assert back.rc == 0, back.out


def test_no_secret_appears_in_records_artifacts_or_output(cli: Cli, lab: Path, records: Path) -> None:
    assert_no_secret_leaked(INV.state_dir, records, cli.outputs)
