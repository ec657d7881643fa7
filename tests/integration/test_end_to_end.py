"""Install and trial on the embedded lab, against real Apache, php-fpm, MariaDB, PostgreSQL and BIND.

The tests of this module run in order and share the lab: the examples go live first, later
tests re-apply, verify, break things on purpose and check what the tool did about it.
"""

from __future__ import annotations

import copy
import http.client
import subprocess
from pathlib import Path
from typing import Any

import dns.query
import dns.update
import yaml

from provisioner import dns as dnsq
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, Cli, assert_no_secret_leaked, example

INV = load_inventory(EXAMPLES.parent.parent / "inventories" / "local")
PRIMARY = INV.dns_primary.address
ALL_EXAMPLES = [str(p) for p in sorted(EXAMPLES.glob("*.yml"))]


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


def test_a_changed_case_file_goes_through_ansible(cli: Cli, lab: Path, write_case) -> None:
    data = example("ppid")
    data["application"]["title"] = data["application"]["title"] + " (judul baru)"
    changed = write_case(data, "ppid-judul-baru.yml")
    _healed(cli, lab, str(changed))
    _healed(cli, lab, str(EXAMPLES / "2026-011-ppid-static.yml"))


def test_an_unbound_address_goes_through_ansible(cli: Cli, lab: Path) -> None:
    assert _sh(f"ip addr del 198.19.0.10/32 dev {INV.public_interface}").returncode == 0
    _healed(cli, lab, str(EXAMPLES / "2026-011-ppid-static.yml"))
    assert "198.19.0.10/32" in _sh(f"ip -4 addr show dev {INV.public_interface}").stdout


def test_a_database_open_to_everyone_goes_through_ansible(cli: Cli, lab: Path) -> None:
    opened = _sh("runuser -u postgres -- psql -X -c 'GRANT CONNECT ON DATABASE simpeg TO PUBLIC'")
    assert opened.returncode == 0, opened.stderr
    _healed(cli, lab, str(EXAMPLES / "2026-020-simpeg-proxy.yml"))


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


def test_plan_of_a_new_case_changes_nothing(cli: Cli, lab: Path, write_case) -> None:
    path = _scratch_case(write_case, "rencana")
    result = cli("plan", str(path), "-i", str(lab))
    assert result.rc == 0, result.out
    plan = {(p["action"], p["role"], p["thing"]) for p in result.out["cases"][0]["plan"]}
    assert {("add", "database", "database"), ("add", "database", "user"), ("add", "apache_vhost", "vhost"),
            ("add", "apache_vhost", "php_pool"), ("add", "public_ip", "address"),
            ("add", "dns_record", "a_record"), ("add", "site_registry", "ownership_record")} <= plan, plan
    assert {action for action, _, _ in plan} == {"add"}
    assert result.out["cases"][0]["changed"] == len(plan)
    assert _a("rencana.tarakankota.go.id") == []
    assert not Path("/etc/apache2/sites-available/rencana.tarakankota.go.id.conf").exists()
    assert _sh("id rencana").returncode != 0
    assert _sh("mariadb -N -B -e \"SHOW DATABASES LIKE 'rencana'\"").stdout.strip() == ""


def test_plan_of_a_new_tls_postgresql_case_changes_nothing(cli: Cli, lab: Path, write_case) -> None:
    data = example("simpeg")
    data.update(id="uji-rencana-pg")
    data["application"]["name"] = "rencanapg"
    data["hosting"]["subdomain"] = "rencanapg"
    data["hosting"]["database"] = {"engine": "postgresql"}
    result = cli("plan", str(write_case(data, "rencanapg.yml")), "-i", str(lab))
    assert result.rc == 0, result.out
    assert result.out["cases"][0]["changed"] > 0
    assert not Path("/etc/apache2/provisioner-tls/rencanapg.tarakankota.go.id.key").exists()
    assert _sh("runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='rencanapg'\"").stdout == ""


def test_plan_of_an_installed_case_changes_nothing(cli: Cli, lab: Path) -> None:
    result = cli("plan", *ALL_EXAMPLES, "-i", str(lab))
    assert result.rc == 0, result.out
    assert [c["changed"] for c in result.out["cases"]] == [0, 0, 0]
    assert [c["plan"] for c in result.out["cases"]] == [[], [], []]
    assert result.out["message"] == "no changes: the servers match the cases"


def test_plan_shows_a_list_per_case_and_no_raw_ansible_output(cli: Cli, lab: Path, write_case) -> None:
    result = cli("plan", str(_scratch_case(write_case, "rencanateks")), "-i", str(lab), as_json=False)
    assert result.rc == 0, result.stderr[-2000:]
    assert "uji-rencanateks  rencanateks.tarakankota.go.id" in result.stdout
    assert "  + database: database\n" in result.stdout and "  + dns_record: a_record\n" in result.stdout
    for raw in ("TASK [", "PLAY [", "\x1b[", "failed to look up user", "[WARNING]"):
        assert raw not in result.stdout, raw
    diffed = cli("plan", str(_scratch_case(write_case, "rencanateks")), "-i", str(lab), "--diff")
    assert diffed.rc == 0 and diffed.out["diffs"], diffed.out


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


def test_a_failed_trial_undoes_the_run_and_records_the_incident(cli: Cli, lab: Path, write_case,
                                                                 records: Path) -> None:
    path = _scratch_case(write_case, "gagal",
                         application__trial=[{"path": "/", "status": 200, "contains": "TIDAK ADA TEKS INI"}])
    result = cli("apply", str(path), "-i", str(lab))
    assert result.rc == 1, result.out
    assert result.out["status"] == "failed"
    case = result.out["cases"][0]
    incident = [p for p in case["records"] if "/insiden/" in p]
    assert incident and "body lacks" in Path(incident[0]).read_text()
    assert "database: database" in Path(incident[0]).read_text()  # what the database role reported creating
    # Everything this run created is gone again.
    assert _a("gagal.tarakankota.go.id") == []
    assert not Path("/etc/apache2/sites-enabled/gagal.tarakankota.go.id.conf").exists()
    assert not Path("/srv/www/gagal.tarakankota.go.id").exists()
    assert _sh("id gagal").returncode != 0
    assert _sh("mariadb -N -B -e \"SHOW DATABASES LIKE 'gagal'\"").stdout.strip() == ""
    assert case["public_ip"] not in _sh(f"ip -4 -o addr show dev {INV.public_interface}").stdout


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


def test_verify_names_drift_and_apply_restores_it(cli: Cli, lab: Path) -> None:
    link = Path("/etc/apache2/sites-enabled/ppid.tarakankota.go.id.conf")
    link.unlink()
    _sh("service apache2 reload")
    drifted = cli("verify", str(EXAMPLES / "2026-011-ppid-static.yml"), "-i", str(lab))
    assert drifted.rc == 1
    failed = {c["name"] for c in drifted.out["cases"][0]["checks"] if not c["ok"]}
    assert "virtual host enabled" in failed
    _healed(cli, lab, str(EXAMPLES / "2026-011-ppid-static.yml"))
    assert link.is_symlink()


def test_verify_names_a_vhost_edited_by_hand_and_apply_restores_it(cli: Cli, lab: Path) -> None:
    vhost = Path("/etc/apache2/sites-available/sikesda.tarakankota.go.id.conf")
    vhost.write_text(vhost.read_text() + "# edited by hand\n")
    case = str(EXAMPLES / "2026-014-sikesda-php.yml")
    drifted = cli("verify", case, "-i", str(lab))
    assert drifted.rc == 1
    assert {c["name"] for c in drifted.out["cases"][0]["checks"] if not c["ok"]} == {"virtual host as applied"}
    _healed(cli, lab, case)
    assert "edited by hand" not in vhost.read_text()
    assert cli("verify", case, "-i", str(lab)).rc == 0


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
    again = cli("destroy", case, "-i", str(lab))
    assert again.rc == 0 and "not installed" in again.out["message"]
    back = cli("apply", case, "-i", str(lab))
    assert back.rc == 0, back.out


def test_no_secret_appears_in_records_artifacts_or_output(cli: Cli, lab: Path, records: Path) -> None:
    assert_no_secret_leaked(INV.state_dir, records, cli.outputs)
