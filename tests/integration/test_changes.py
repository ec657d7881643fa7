"""Changes to an installed case are transactions (issue: live changes).

A new release that fails its trial puts the case back as it was; releases whose files carry the
same modification time are still served as they are on disk; `rollback` goes back to the case
file applied before. Against the real local lab, through the real command line.
"""

from __future__ import annotations

import http.client
import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cli, example

# Reproducible builds set every file to one date: opcache's timestamp check cannot tell them apart.
BUILD_TIME = 1_700_000_000


def release(folder: Path, name: str, php: str) -> Path:
    """A release archive whose one file, index.php, has ``php`` as its code."""
    path = folder / f"{name}.tar.gz"
    data = php.encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("index.php")
        info.size, info.mtime, info.mode = len(data), BUILD_TIME, 0o644
        archive.addfile(info, io.BytesIO(data))
    return path


def page(ip: str, fqdn: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection(ip, 80, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": fqdn})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def live_case(folder: Path, version: str, archive: Path, number: int = 1) -> Path:
    """A PHP case without a database (uji-ubah-<number>) on ``archive``, written in ``folder`` for ``version``."""
    data: dict[str, Any] = example("sikesda")
    data["application"].update(title="Uji perubahan", trial=[{"path": "/", "status": 200, "contains": "versi-"}])
    data["hosting"].update(database={"engine": "none"})
    data.update(id=f"uji-ubah-{number:03d}")
    data["application"].update(name=f"ujiubah{number}", release=str(archive))
    data["hosting"].update(subdomain=f"ujiubah{number}")
    path = folder / f"ujiubah{number}-{version}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass(frozen=True)
class Installed:
    """uji-ubah-001 as the module's fixture applied it: its folder (every release and case file of
    it, kept for the whole module: rollback and put back need the earlier archives), its first case
    file (versi-1), address and name."""

    folder: Path
    case: Path
    ip: str
    fqdn: str


@pytest.fixture(scope="module")
def installed(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """uji-ubah-001 applied once, on versi-1, for the three tests below that start from an installed
    case; they use it in file order: the rollback refusal first (only one case file applied yet), the
    failed upgrade next, the unexpected error last (its final step removes the case). Destroyed at
    the end of the module whatever the tests left (nothing to do after a full run)."""
    folder = tmp_path_factory.mktemp("ujiubah1")
    case = live_case(folder, "1", release(folder, "ujiubah-1", '<?php echo "versi-1";'))
    first = cli("apply", str(case), "-i", str(lab))
    assert first.rc == 0, first.out
    yield Installed(folder, case, first.out["cases"][0]["public_ip"], first.out["cases"][0]["fqdn"])
    gone = cli("destroy", "uji-ubah-001", "-i", str(lab), "--drop-database", "--remove-files", "--yes")
    assert gone.rc == 0, gone.out


def test_rollback_without_an_earlier_case_file_changes_nothing(cli: Cli, lab: Path, tmp_path: Path,
                                                                installed: Installed) -> None:
    """On the case as applied first, from one case file only (this module's first test of it)."""
    refused = cli("rollback", "uji-ubah-001", "-i", str(lab))
    assert refused.rc == 2, refused.out
    assert any("no earlier applied case file" in e["message"] for e in refused.out["errors"]), refused.out
    # A rename is refused naming the case's own old name, not "someone else".
    data = yaml.safe_load(installed.case.read_text())
    data["hosting"]["subdomain"] = "ujiubah1-baru"
    renamed = tmp_path / "renamed.yml"
    renamed.write_text(yaml.safe_dump(data, sort_keys=False))
    refused = cli("apply", str(renamed), "-i", str(lab))
    assert refused.rc == 3, refused.out
    assert [e["path"] for e in refused.out["errors"]] == ["uji-ubah-001: hosting.subdomain"], refused.out
    assert "is installed as ujiubah1.tarakankota.go.id" in refused.out["errors"][0]["message"]
    assert page(installed.ip, installed.fqdn) == (200, "versi-1")


def test_a_failed_upgrade_is_put_back_and_same_mtime_releases_are_served_as_on_disk(
        cli: Cli, lab: Path, installed: Installed) -> None:
    folder, ip, fqdn = installed.folder, installed.ip, installed.fqdn
    broken = live_case(folder, "2", release(folder, "ujiubah-2", '<?php http_response_code(500); echo "rusak";'))
    same_mtime = live_case(folder, "3", release(folder, "ujiubah-3", '<?php echo "versi-3";'))
    assert page(ip, fqdn) == (200, "versi-1")

    failed = cli("apply", str(broken), "-i", str(lab))
    assert failed.rc == 1, failed.out
    assert "put back as before" in failed.out["message"]
    assert page(ip, fqdn) == (200, "versi-1")
    incident = next(p for p in failed.out["cases"][0]["records"] if "insiden" in p and p.endswith(".yml"))
    said = yaml.safe_load(Path(incident).read_text())
    assert "restored to the case as applied before this run" in str(said), said
    assert "its trial passes again" in str(said), said
    kept = yaml.safe_load((cli.records / "uji-ubah-001" / "case.yml").read_text())
    assert kept["application"]["release"].endswith("ujiubah-1.tar.gz")
    assert cli("verify", str(cli.records / "uji-ubah-001" / "case.yml"), "-i", str(lab)).rc == 0

    # Same size, same modification time, other code: served once applied, and the trial saw it.
    third = cli("apply", str(same_mtime), "-i", str(lab))
    assert third.rc == 0, third.out
    assert page(ip, fqdn) == (200, "versi-3")

    back = cli("rollback", "uji-ubah-001", "-i", str(lab))
    assert back.rc == 0, back.out
    assert page(ip, fqdn) == (200, "versi-1")
    assert yaml.safe_load((cli.records / "uji-ubah-001" / "case.yml").read_text())["application"][
        "release"].endswith("ujiubah-1.tar.gz")
    again = cli("rollback", "uji-ubah-001", "-i", str(lab))  # back again to versi-3
    assert again.rc == 0, again.out
    assert page(ip, fqdn) == (200, "versi-3")


def test_an_unexpected_error_takes_the_path_of_any_failure(cli: Cli, lab: Path, tmp_path: Path,
                                                           installed: Installed) -> None:
    """A bug after Ansible ran (injected: PROVISIONER_FAILPOINT) undoes a new case and puts an
    installed one back, with an incident and a message saying what to do; never a bare traceback.

    The installed case is the module's uji-ubah-001, in whatever version the tests before left live;
    the destroy at the end removes it (the bug strikes after the removal)."""
    new_case = live_case(tmp_path, "1", release(tmp_path, "ujiubah-1", '<?php echo "versi-1";'), number=3)
    bug = {"PROVISIONER_FAILPOINT": "apply-after-provisioning"}
    gone = ("-i", str(lab), "--drop-database", "--remove-files", "--yes")
    try:
        new = cli("apply", str(new_case), "-i", str(lab), env=bug)
        assert new.rc == 1, new.out
        assert "unexpected error FailpointHit" in new.out["message"] and "--debug" in new.out["message"]
        assert any("insiden" in p for p in new.out["cases"][0]["records"]), new.out
        nothing = cli("destroy", str(new_case), *gone)
        assert nothing.rc == 0 and "nothing to do" in nothing.out["message"], nothing.out  # undone whole
    finally:
        cli("destroy", str(new_case), *gone)

    ip, fqdn = installed.ip, installed.fqdn
    before = page(ip, fqdn)
    assert before[0] == 200 and before[1].startswith("versi-"), before
    # Another size than any earlier release: what is served cannot be an older file's cached code.
    newer = live_case(installed.folder, "4", release(installed.folder, "ujiubah-4", '<?php echo "versi-4 baru";'))
    changed = cli("apply", str(newer), "-i", str(lab), env=bug)
    assert changed.rc == 1 and "put back as before" in changed.out["message"], changed.out
    assert page(ip, fqdn) == before
    broken = cli("destroy", str(installed.case), *gone, env={"PROVISIONER_FAILPOINT": "destroy-after-removal"})
    assert broken.rc == 1 and "unexpected error FailpointHit" in broken.out["message"], broken.out
    assert any("insiden" in p for p in broken.out["cases"][0]["records"]), broken.out


def test_what_a_destroy_kept_a_later_destroy_removes(cli: Cli, lab: Path, tmp_path: Path,
                                                      write_case: Callable[..., Path]) -> None:
    """Also: destroy takes a case id, and never needs the release archive (moved away here)."""
    data: dict[str, Any] = example("sikesda")
    data.update(id="uji-simpan-001")
    data["application"].update(name="ujisimpan")
    data["hosting"].update(subdomain="ujisimpan")
    path = write_case(data, "ujisimpan.yml")
    root = Path("/srv/www/ujisimpan.tarakankota.go.id")
    try:
        assert cli("apply", str(path), "-i", str(lab)).rc == 0
        kept = cli("destroy", str(path), "-i", str(lab), "--yes")
        assert kept.rc == 0 and "kept: databases, files" in kept.out["message"], kept.out
        assert root.is_dir() and "ujisimpan" in _mariadb("SHOW DATABASES")
        again = cli("destroy", str(path), "-i", str(lab), "--yes")
        assert again.rc == 0 and "nothing to do" in again.out["message"], again.out  # nothing more asked
        for archive in (tmp_path / "releases").glob("*"):
            archive.rename(archive.with_suffix(".moved"))
        gone = cli("destroy", "uji-simpan-001", "-i", str(lab), "--drop-database", "--remove-files", "--yes")
        assert gone.rc == 0 and gone.out["message"] == "1 case(s) removed", gone.out
        assert not root.exists() and "ujisimpan" not in _mariadb("SHOW DATABASES")
        assert not Path("/etc/provisioner/sites/uji-simpan-001.yml").exists()
        assert list(Path("/var/backups/provisioner/mariadb").glob("ujisimpan-*.sql.gz")), "dumped first"
    finally:
        cli("destroy", str(path), "-i", str(lab), "--drop-database", "--remove-files", "--yes")


def _mariadb(sql: str) -> list[str]:
    import subprocess

    return subprocess.run(["mysql", "-N", "-e", sql], capture_output=True, text=True, check=True).stdout.split()
