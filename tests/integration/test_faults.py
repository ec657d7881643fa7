"""Faults injected on the real lab: conflicts with what exists, servers down, a run stopped or
killed halfway. After each, nothing is left half-done, and a normal apply works again."""

from __future__ import annotations

import copy
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import dns as dnsq
from provisioner.inventory import load_inventory
from provisioner.processes import HeldProcesses
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, Cli, example
from tests.process_tree import command_line, stop_descendants

INV = load_inventory(LOCAL_INVENTORY)
LAB_ZONES = Path("/etc/bind/named.conf.provisioner-lab")


def _sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False)


def _case_data(name: str, **hosting: Any) -> dict[str, Any]:
    data = copy.deepcopy(example("sikesda"))
    data["id"] = f"uji-{name}"
    data["application"]["name"] = name
    data["application"]["trial"] = [{"path": "/", "status": 200, "contains": "database: ok"}]
    data["hosting"]["subdomain"] = name
    data["hosting"].update(hosting)
    return data


def _case(write_case, name: str, **hosting: Any) -> Path:  # type: ignore[no-untyped-def]
    return write_case(_case_data(name, **hosting), f"{name}.yml")


# The cases the SIGTERM, SIGKILL and concurrent-run tests leave installed, for
# test_drop_database_writes_a_dump_first to destroy in one run.
LEFT_INSTALLED = ("dihentikan", "dibunuh", "bersamaan")


@pytest.fixture(scope="module")
def left_installed(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The case files of LEFT_INSTALLED by name, written once for the module (beside a copy of the
    releases, as write_case does) so that an apply of the same case finds the same inputs.

    Whatever of them is still installed at the end of the module (after a test run alone, or one
    that failed) is destroyed here; after a full run there is nothing to do."""
    folder = tmp_path_factory.mktemp("faults")
    (folder / "releases").mkdir()
    for archive in (EXAMPLES.parent / "releases").glob("*.tar.gz"):
        shutil.copyfile(archive, folder / "releases" / archive.name)
    (folder / "cases").mkdir()
    paths = {name: folder / "cases" / f"{name}.yml" for name in LEFT_INSTALLED}
    for name, path in paths.items():
        path.write_text(yaml.safe_dump(_case_data(name), sort_keys=False))
    yield paths
    gone = cli("destroy", *(str(p) for p in paths.values()), "-i", str(lab), "--drop-database", "--remove-files",
               "--yes")
    assert gone.rc == 0, gone.out


def _nothing_of(name: str) -> None:
    """No trace of the application on any server."""
    fqdn = f"{name}.tarakankota.go.id"
    assert dnsq.query(INV.dns_primary.address, fqdn, "A")[1] == []
    assert not Path(f"/etc/apache2/sites-available/{fqdn}.conf").exists()
    assert not Path(f"/srv/www/{fqdn}").exists()
    assert not Path(f"/etc/provisioner/sites/uji-{name}.yml").exists()
    assert _sh(f"getent passwd {name}").returncode != 0
    assert _sh(f"mariadb -N -B -e \"SHOW DATABASES LIKE '{name}'\"").stdout.strip() == ""
    assert _sh(f"mariadb -N -B -e \"SELECT user FROM mysql.user WHERE user='{name}'\"").stdout.strip() == ""


def test_an_existing_system_user_is_refused(cli: Cli, lab: Path, write_case) -> None:
    assert _sh("useradd --system --shell /usr/sbin/nologin gadungan").returncode == 0
    try:
        result = cli("apply", str(_case(write_case, "gadungan")), "-i", str(lab))
        assert result.rc == 3, result.out
        assert "system user gadungan exists" in result.out["errors"][0]["message"]
        assert dnsq.query(INV.dns_primary.address, "gadungan.tarakankota.go.id", "A")[1] == []
        assert _sh("mariadb -N -B -e \"SHOW DATABASES LIKE 'gadungan'\"").stdout.strip() == ""
    finally:
        _sh("userdel gadungan")


def test_an_existing_database_is_refused(cli: Cli, lab: Path, write_case) -> None:
    assert _sh("mariadb -e 'CREATE DATABASE tiruan'").returncode == 0
    try:
        result = cli("check", str(_case(write_case, "tiruan")), "-i", str(lab))
        assert result.rc == 3, result.out
        assert "mariadb database tiruan exists" in result.out["errors"][0]["message"]
        result = cli("apply", str(_case(write_case, "tiruan")), "-i", str(lab))
        assert result.rc == 3
        assert _sh("getent passwd tiruan").returncode != 0
    finally:
        _sh("mariadb -e 'DROP DATABASE tiruan'")


def test_an_address_bound_by_someone_else_is_refused(cli: Cli, lab: Path, write_case) -> None:
    address = "198.19.0.222"
    assert _sh(f"ip addr add {address}/32 dev {INV.public_interface}").returncode == 0
    try:
        result = cli("apply", str(_case(write_case, "terikat", public_ip=address)), "-i", str(lab))
        assert result.rc == 3, result.out
        assert "held by an address bound on the web host" in result.out["errors"][0]["message"]
        _nothing_of("terikat")
    finally:
        _sh(f"ip addr del {address}/32 dev {INV.public_interface}")


@pytest.mark.parametrize("service", ["named", "mariadb"])
def test_a_server_that_is_down_fails_the_run_before_any_change(cli: Cli, lab: Path, write_case,
                                                               service: str) -> None:
    assert _sh(f"service {service} stop").returncode == 0
    try:
        result = cli("apply", str(_case(write_case, "padam")), "-i", str(lab))
        assert result.rc == 1, result.out
        assert "cannot be read" in result.out["message"] and "nothing was changed" in result.out["message"]
        assert any("/insiden/" in p for p in result.out["cases"][0]["records"])
    finally:
        assert _sh(f"service {service} start").returncode == 0
    _nothing_of("padam")


def test_name_server_refusing_the_update_midrun_undoes_the_run(cli: Cli, lab: Path, write_case) -> None:
    original = LAB_ZONES.read_text()
    LAB_ZONES.write_text(original.replace('allow-update { key "provisioner-lab"; };', "allow-update { none; };"))
    _sh("rndc reconfig && rndc reload")
    try:
        result = cli("apply", str(_case(write_case, "ditolak")), "-i", str(lab))
        assert result.rc == 1, result.out
        assert "Publish each site's A record" in result.out["message"]
    finally:
        LAB_ZONES.write_text(original)
        _sh("rndc reconfig && rndc reload")
    _nothing_of("ditolak")


def _start_apply(cli: Cli, case: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "provisioner", "--records", str(cli.records), "apply", str(case),
               "-i", str(LOCAL_INVENTORY), "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "the run ended before the fault could be injected"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigterm_halfway_undoes_the_run(cli: Cli, lab: Path, left_installed: dict[str, Path]) -> None:
    """The case stays installed: test_drop_database_writes_a_dump_first destroys it."""
    case = left_installed["dihentikan"]
    process = _start_apply(cli, case)
    _wait_for(Path("/etc/apache2/sites-available/dihentikan.tarakankota.go.id.conf"), process)
    # Every process of the run (the playbook, its task workers in their own sessions, Mitogen's),
    # held by pidfds: none may outlive the stopped run, orphaned.
    run = HeldProcesses()
    run.hold_below(process.pid)
    assert run.pidfds, "the run started no process"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    try:
        assert run.alive() == [], f"left running: {[command_line(p) for p in run.alive()]}"
    finally:
        run.end()
    assert process.returncode == 1, out + err[-2000:]
    assert "stopped by SIGTERM" in out
    _nothing_of("dihentikan")
    assert cli("apply", str(case), "-i", str(lab)).rc == 0


def test_after_sigkill_the_next_run_finishes_the_leftovers(cli: Cli, lab: Path,
                                                          left_installed: dict[str, Path]) -> None:
    """The case stays installed: test_drop_database_writes_a_dump_first destroys it."""
    case = left_installed["dibunuh"]
    process = _start_apply(cli, case)
    _wait_for(Path("/etc/apache2/sites-available/dibunuh.tarakankota.go.id.conf"), process)
    # This run's playbook only, found below its pid and held first: once provisioner is killed it
    # would be orphaned, no longer below that pid, and could meanwhile go on with its tasks.
    playbook = stop_descendants(process.pid, r"provisioner\.playbook_process.*provision\.yml")
    try:
        process.kill()
        process.communicate(timeout=60)
    finally:
        playbook.kill()
    assert _sh("getent passwd dibunuh").returncode == 0, "the killed run left its user behind"
    again = cli("apply", str(case), "-i", str(lab))
    assert again.rc == 0, again.out
    assert not any(Path(INV.state_dir / "journal").glob("uji-dibunuh.json"))


def test_a_second_concurrent_run_is_refused_naming_the_holder(cli: Cli, lab: Path,
                                                              left_installed: dict[str, Path]) -> None:
    """The case stays installed: test_drop_database_writes_a_dump_first destroys it."""
    case = left_installed["bersamaan"]
    process = _start_apply(cli, case)
    try:
        _wait_for(INV.state_dir / "journal" / "uji-bersamaan.json", process)
        second = cli("apply", str(case), "-i", str(lab))
        assert second.rc == 3
        assert f"pid {process.pid}" in second.out["message"]
    finally:
        out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out


def test_an_address_bound_meanwhile_stops_the_public_ip_role(lab: Path, write_case) -> None:
    """Between provisioner's check and the role, someone binds the address: the role refuses."""
    from provisioner.ansible import run_playbook
    from provisioner.case import load_case
    from provisioner.site import Placement, build

    data = copy.deepcopy(example("ppid"))
    data.update(id="uji-disela")
    data["hosting"].update(subdomain="disela", public_ip="198.19.0.223")
    data["application"]["name"] = "disela"
    case = load_case(write_case(data, "disela.yml"))
    assert _sh(f"ip addr add 198.19.0.223/32 dev {INV.public_interface}").returncode == 0
    try:
        site = build(case, Placement("198.19.0.223", "localhost"),
                     INV, password_file=None, installed=False).vars.as_vars()
        result = run_playbook("provision.yml", INV.path, INV.state_dir, {"provisioner_sites": [site]})
        assert not result.ok
        assert "was bound on provpub0 by someone else after the check" in str(result.failures[0])
        assert not Path("/etc/apache2/sites-available/disela.tarakankota.go.id.conf").exists()
    finally:
        _sh(f"ip addr del 198.19.0.223/32 dev {INV.public_interface}")


def test_drop_database_writes_a_dump_first(cli: Cli, lab: Path, left_installed: dict[str, Path]) -> None:
    """One destroy --drop-database --remove-files of the cases the SIGTERM, SIGKILL and concurrent-run
    tests left installed: each database dumped first, and nothing of any case left after what those
    runs went through. Run alone, the apply installs them; after those tests it finds each as its
    case file says and runs no Ansible."""
    paths = [str(p) for p in left_installed.values()]
    applied = cli("apply", *paths, "-i", str(lab))
    assert applied.rc == 0, applied.out
    folder = Path("/var/backups/provisioner/mariadb")
    before = {name: set(folder.glob(f"{name}-*.sql.gz")) for name in left_installed}
    gone = cli("destroy", *paths, "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out
    assert gone.out["message"] == f"{len(paths)} case(s) removed", gone.out
    for name in left_installed:
        dumps = set(folder.glob(f"{name}-*.sql.gz")) - before[name]
        assert len(dumps) == 1, (name, dumps)
        assert "CREATE TABLE `kunjungan`" in _sh(f"zcat {dumps.pop()}").stdout, name
        _nothing_of(name)


def test_destroy_keeps_the_database_for_the_same_case_only(cli: Cli, lab: Path, write_case) -> None:
    case = _case(write_case, "disimpan")
    assert cli("apply", str(case), "-i", str(lab)).rc == 0
    _sh("mariadb -e 'INSERT INTO disimpan.kunjungan (waktu) VALUES (\"data lama\")'")
    assert cli("destroy", str(case), "-i", str(lab)).rc == 0
    assert _sh("mariadb -N -B -e \"SHOW DATABASES LIKE 'disimpan'\"").stdout.strip() == "disimpan"
    assert dnsq.query(INV.dns_primary.address, "disimpan.tarakankota.go.id", "A")[1] == []
    # Another case may not take what the removed case kept ...
    data = copy.deepcopy(example("sikesda"))
    data.update(id="uji-perebut")
    data["application"]["name"] = "perebut"
    data["hosting"].update(subdomain="perebut", database={"engine": "mariadb", "name": "disimpan"})
    other = cli("check", str(write_case(data, "perebut.yml")), "-i", str(lab))
    assert other.rc == 3 and "belongs to case uji-disimpan" in other.out["errors"][0]["message"]
    # ... and the same case comes back with its data.
    again = cli("apply", str(case), "-i", str(lab))
    assert again.rc == 0, again.out
    kept = _sh("mariadb -N -B -e \"SELECT COUNT(*) FROM disimpan.kunjungan WHERE waktu='data lama'\"")
    assert kept.stdout.strip() == "1"
    assert cli("destroy", str(case), "-i", str(lab), "--drop-database", "--remove-files", "--yes").rc == 0
    _nothing_of("disimpan")


def test_a_user_that_cannot_be_removed_fails_the_destroy_and_keeps_its_record(cli: Cli, lab: Path,
                                                                              write_case) -> None:
    """userdel refuses a user still running a process: the destroy fails naming it and keeps the
    ownership record. Run again once the process is gone, the same destroy finishes the removal,
    also when the database went meanwhile (as a run that failed after its drops leaves it): there
    is nothing to dump, which is not an error."""
    case = _case(write_case, "bertahan")
    assert cli("apply", str(case), "-i", str(lab)).rc == 0
    holder = subprocess.Popen(["setpriv", "--reuid=bertahan", "--regid=bertahan", "--init-groups", "sleep", "600"])
    try:
        gone = cli("destroy", str(case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
        assert gone.rc == 1, gone.out
        assert "bertahan" in gone.out["message"] and "userdel" in gone.out["message"], gone.out
        assert Path("/etc/provisioner/sites/uji-bertahan.yml").exists()
        assert _sh("getent passwd bertahan").returncode == 0
    finally:
        holder.terminate()
        holder.wait(timeout=30)
    assert _sh("mariadb -e 'DROP DATABASE bertahan'").returncode == 0
    again = cli("destroy", str(case), "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert again.rc == 0, again.out
    _nothing_of("bertahan")


def _server_state() -> dict[str, str]:
    """A fingerprint of everything a run could touch on the lab's servers."""
    key = dnsq.read_tsig_key(INV.tsig_key_file)
    return {
        "ptrs": str(sorted(dnsq.zone_ptrs(INV.dns_primary.address, INV.reverse_zones[0], key).items())),
        "serial": str(dnsq.soa_serial(INV.dns_primary.address, "tarakankota.go.id")),
        "vhosts": _sh("ls /etc/apache2/sites-enabled /etc/php/8.2/fpm/pool.d /srv/www").stdout,
        "users": _sh("getent passwd | cut -d: -f1 | sort").stdout,
        "databases": _sh("mariadb -N -B -e 'SHOW DATABASES'").stdout
        + _sh("runuser -u postgres -- psql -X -tA -c 'SELECT datname FROM pg_database'").stdout,
        "addresses": _sh(f"ip -4 -o addr show dev {INV.public_interface}").stdout,
        "registry": _sh("ls /etc/provisioner/sites").stdout,
    }


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"hosting": {"subdomain": "Salah_Nama."}}, "hosting.subdomain"),
        ({"hosting": {"subdomain": "www"}}, "hosting.subdomain"),
        ({"hosting": {"zone": "example.org"}}, "hosting.zone"),
        ({"hosting": {"public_ip": "198.19.1.255"}}, "hosting.public_ip"),
        ({"hosting": {"public_ip": "10.1.2.3"}}, "hosting.public_ip"),
        ({"application": {"name": "root"}}, "application.name"),
        ({"application": {"release": "/etc/hostname"}}, "application.release"),
        ({"hosting": {"database": {"engine": "mariadb", "name": "information_schema"}}}, "hosting.database.name"),
        ({"hosting": {"database": {"engine": "mariadb", "user": "u" * 81}}}, "hosting.database.user"),
    ],
)
def test_bad_input_changes_nothing_on_any_server(cli: Cli, lab: Path, write_case, change: dict[str, Any],
                                                 path: str) -> None:
    data = copy.deepcopy(example("sikesda"))
    data["id"] = "uji-salah"
    data["application"]["name"] = "salah"
    data["hosting"]["subdomain"] = "salah"
    for section, values in change.items():
        data[section].update(values)
    before = _server_state()
    result = cli("apply", str(write_case(data, "salah.yml")), "-i", str(lab))
    assert result.rc == 2, result.out
    assert path in {e["path"] for e in result.out["errors"]}
    assert _server_state() == before
