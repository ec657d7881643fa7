"""Vendors' applications on the embedded lab (issue 13): WordPress on MariaDB, MediaWiki on
PostgreSQL and SILAPOR, a Laravel-style front controller on PostgreSQL, as their vendors ship
them (examples/cases/vendor, releases built from Debian's packages by the `vendor_examples`
fixture).

The tests of this module run in order and share the lab: the three go live, re-apply with
nothing changed, verify, are probed as their own users and over HTTP, and are destroyed.
"""

from __future__ import annotations

import copy
import http.client
import subprocess
from pathlib import Path
from typing import Any

import yaml

from provisioner.inventory import load_inventory
from tests.conftest import Cli, assert_no_secret_leaked

WWW = Path("/srv/www")
ZONE = "tarakankota.go.id"


def _sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False)


def _by_id(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["id"]: case for case in out["cases"]}


def _get(case: dict[str, Any], path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(case["public_ip"], 80, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": case["fqdn"]})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _applied(cli: Cli, lab: Path, vendor_examples: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """The three as installed (check with an inventory reads their addresses)."""
    checked = cli("check", *map(str, vendor_examples.values()), "-i", str(lab))
    assert checked.rc == 0, checked.out
    return {case["fqdn"].split(".")[0]: case for case in checked.out["cases"]}


def test_vendor_applications_go_live_and_pass_their_trial(cli: Cli, lab: Path,
                                                          vendor_examples: dict[str, Path]) -> None:
    cases = [str(path) for path in vendor_examples.values()]
    for path in cases:  # leftovers of an interrupted earlier session
        cli("destroy", path, "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    result = cli("apply", *cases, "-i", str(lab))
    assert result.rc == 0, (result.out, result.stderr[-3000:])
    applied = _by_id(result.out)
    assert set(applied) == {"2026-031", "2026-032", "2026-033"}
    for case in applied.values():
        failed = [c for c in case["checks"] if not c["ok"]]
        assert not failed, failed
        names = {c["name"] for c in case["checks"]}
        assert {"document root is the case's folder of the release", "code read-only to the application",
                "writable folders writable by the application", "php extensions loaded"} <= names, names
    assert "cron lines installed" in {c["name"] for c in applied["2026-033"]["checks"]}


def test_a_second_apply_changes_nothing(cli: Cli, lab: Path, vendor_examples: dict[str, Path]) -> None:
    result = cli("apply", *map(str, vendor_examples.values()), "-i", str(lab))
    assert result.rc == 0, result.out
    assert [case["changed"] for case in result.out["cases"]] == [0, 0, 0], result.out


def test_verify_passes(cli: Cli, lab: Path, vendor_examples: dict[str, Path]) -> None:
    result = cli("verify", *map(str, vendor_examples.values()), "-i", str(lab))
    assert result.rc == 0, result.out


def test_a_permalink_and_a_front_controller_route_answer_through_the_rewrite_rules(
        cli: Cli, lab: Path, vendor_examples: dict[str, Path]) -> None:
    sites = _applied(cli, lab, vendor_examples)
    status, body = _get(sites["portal"], "/hello-world/")
    assert status == 200 and "Hello world!" in body, (status, body[:500])
    status, body = _get(sites["silapor"], "/laporan/7")
    assert (status, body) == (200, "laporan 7 (front controller)\n")
    status, body = _get(sites["wiki"], "/index.php?title=Main_Page")
    assert status == 200 and "MediaWiki has been installed." in body, (status, body[:500])


def test_the_migration_ran_once_before_the_release_went_live(cli: Cli, lab: Path,
                                                             vendor_examples: dict[str, Path]) -> None:
    status, body = _get(_applied(cli, lab, vendor_examples)["silapor"], "/")
    assert status == 200 and "migrasi: 1\n" in body, body


def test_the_application_user_cannot_write_its_code(lab: Path) -> None:
    for user, fqdn, code in [("portal", f"portal.{ZONE}", "index.php"), ("wiki", f"wiki.{ZONE}", "index.php"),
                             ("silapor", f"silapor.{ZONE}", "public/index.php")]:
        current = WWW / fqdn / "current"
        refused = _sh(f"runuser -u {user} -- sh -c 'echo hacked >> {current / code}'")
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, (user, refused)
        added = _sh(f"runuser -u {user} -- touch {current / 'ditambahkan.php'}")
        assert added.returncode != 0, (user, added)
        assert (current / code).stat().st_uid == 0


def test_the_application_user_writes_its_writable_folders_which_outlive_the_release(lab: Path) -> None:
    for user, fqdn, folder in [("portal", f"portal.{ZONE}", "wp-content/uploads"), ("wiki", f"wiki.{ZONE}", "images"),
                               ("silapor", f"silapor.{ZONE}", "storage/app"),
                               ("silapor", f"silapor.{ZONE}", "bootstrap/cache")]:
        target = WWW / fqdn / "current" / folder / "uji-tulis.txt"
        wrote = _sh(f"runuser -u {user} -- sh -c 'echo ok > {target}'")
        assert wrote.returncode == 0, (user, wrote)
        # Kept in shared/, not in the release's own folder.
        assert (WWW / fqdn / "shared" / folder / "uji-tulis.txt").read_text() == "ok\n"


def test_php_written_into_an_upload_folder_is_never_run(cli: Cli, lab: Path,
                                                        vendor_examples: dict[str, Path]) -> None:
    uploads = WWW / f"portal.{ZONE}" / "current" / "wp-content" / "uploads"
    wrote = _sh(f"runuser -u portal -- sh -c \"echo '<?php echo 6*7;' > {uploads / 'shell.php'}\"")
    assert wrote.returncode == 0, wrote
    status, body = _get(_applied(cli, lab, vendor_examples)["portal"], "/wp-content/uploads/shell.php")
    assert status == 403 and "42" not in body, (status, body[:300])


def test_the_pool_carries_the_cases_php_settings_and_env(lab: Path) -> None:
    pool = Path("/etc/php/8.2/fpm/pool.d/silapor.conf").read_text()
    assert "php_admin_value[upload_max_filesize] = 20M\n" in pool
    assert "php_admin_value[max_execution_time] = 60\n" in pool
    assert 'env[DB_DATABASE] = "silapor"\n' in pool and 'env[DB_CONNECTION] = "pgsql"\n' in pool


def test_each_site_has_its_own_cron_file(lab: Path) -> None:
    cron = Path("/etc/cron.d/provisioner-silapor")
    assert cron.stat().st_uid == 0 and cron.stat().st_mode & 0o777 == 0o644
    assert f"* * * * * silapor cd {WWW}/silapor.{ZONE}/current && set -a && . {WWW}/silapor.{ZONE}/app.env" \
        in cron.read_text()


def test_a_failing_command_fails_the_apply_and_undoes_the_new_case(cli: Cli, lab: Path, write_case,  # type: ignore[no-untyped-def]
                                                                    vendor_examples: dict[str, Path]) -> None:
    data = copy.deepcopy(yaml.safe_load(vendor_examples["silapor"].read_text()))
    data.update(id="uji-perintah-gagal")
    release = vendor_examples["silapor"].parents[2] / "releases" / "silapor-1.0.0.tar.gz"
    data["application"].update(name="gagalmigrasi", release=str(release))
    data["application"]["commands"] = ["php artisan migrate"]  # refuses without --force: exit 1
    data["hosting"]["subdomain"] = "gagalmigrasi"
    result = cli("apply", str(write_case(data, "gagal.yml")), "-i", str(lab))
    assert result.rc == 1, result.out
    assert "command 1 (php artisan migrate) failed with exit code 1" in result.out["message"] + str(result.out)
    assert not Path(f"/etc/apache2/sites-available/gagalmigrasi.{ZONE}.conf").exists()
    assert _sh("getent passwd gagalmigrasi").returncode == 2
    pg = _sh("runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_database WHERE datname='gagalmigrasi'\"")
    assert pg.stdout.strip() == "", pg


def test_no_secret_appears_in_records_artifacts_or_output(cli: Cli, lab: Path, records: Path) -> None:
    assert_no_secret_leaked(load_inventory(lab).state_dir, records, cli.outputs)


def test_destroy_removes_the_sites_and_their_cron_files(cli: Cli, lab: Path, vendor_examples: dict[str, Path]) -> None:
    result = cli("destroy", *map(str, vendor_examples.values()), "-i", str(lab), "--drop-database",
                 "--remove-files", "--yes")
    assert result.rc == 0, result.out
    for name in ("portal", "wiki", "silapor"):
        assert not Path(f"/etc/cron.d/provisioner-{name}").exists()
        assert not (WWW / f"{name}.{ZONE}").exists()
        assert _sh(f"getent passwd {name}").returncode == 2
