"""The batched user and address modules (playbooks/library) and the filters that feed the batches
(playbooks/filter_plugins), without touching the machine: the commands they would run are read."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.playbook_code import load

USERS = load("library/provisioner_users.py")
ADDRESSES = load("library/provisioner_addresses.py")
RENDER = load("filter_plugins/provisioner_render.py")
BATCH = load("filter_plugins/provisioner_batch.py")
TEMPLATES = ROOT / "playbooks" / "roles" / "apache_vhost" / "templates"


def test_a_missing_user_is_added_as_a_system_account_with_its_own_group() -> None:
    wanted = {"name": "nosuchuser-prov", "home": "/srv/www/x", "comment": "provisioner case 1"}
    changed, command = USERS._present(wanted)
    assert changed
    assert command[:2] == ["useradd", "--system"] and command[-1] == "nosuchuser-prov"
    assert "--user-group" in command and command[command.index("--home-dir") + 1] == "/srv/www/x"
    assert command[command.index("--shell") + 1] == "/usr/sbin/nologin"


def test_an_existing_user_changes_only_where_it_differs() -> None:
    root = pwd.getpwnam("root")
    same = {"name": "root", "home": root.pw_dir, "shell": root.pw_shell, "comment": root.pw_gecos}
    assert USERS._present(same) == (False, None)
    changed, command = USERS._present({**same, "shell": "/usr/sbin/nologin-other"})
    assert changed and command == ["usermod", "--shell", "/usr/sbin/nologin-other", "root"]


def test_an_absent_user_is_deleted_only_if_it_exists() -> None:
    assert USERS._absent({"name": "nosuchuser-prov"}) == (False, None)
    assert USERS._absent({"name": "root"}) == (True, ["userdel", "root"])


def test_account_commands_run_in_the_c_locale_and_report_their_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "id_ID.UTF-8")
    assert USERS.run(["sh", "-c", 'echo "$LC_ALL: no such user" >&2; exit 6']) == (6, "C: no such user\n")
    assert USERS.run(["sh", "-c", "exit 0"]) == (0, "")
    rc, error = USERS.run(["/nonexistent/useradd", "x"])
    assert rc == 127 and "/nonexistent/useradd" in error


class FakeModule:
    """What provisioner_addresses asks of AnsibleModule: parameters, run_command, exit and fail."""

    def __init__(self, items: list[dict[str, Any]], bound: list[str], batch_rc: int = 0,
                 check_mode: bool = False) -> None:
        self.params = {"interface": "provpub0", "loop_var": "site", "items": items}
        self.check_mode = check_mode
        self.bound = list(bound)
        self.batch_rc = batch_rc
        self.batches: list[str] = []
        self.exit: dict[str, Any] = {}

    def run_command(self, argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        if argv[:2] == ["ip", "-j"]:
            return 0, json.dumps([{"addr_info": [{"local": ip} for ip in self.bound]}]), ""
        assert argv == ["ip", "-batch", "-"] and data is not None
        self.batches.append(data)
        if self.batch_rc:
            first = data.splitlines()[0].split()[2].split("/")[0]  # ip did the first line, then failed
            self.bound.append(first)
            return self.batch_rc, "", "RTNETLINK answers: File exists"
        for line in data.splitlines():
            verb, ip = line.split()[1], line.split()[2].split("/")[0]
            self.bound = [*self.bound, ip] if verb == "add" else [b for b in self.bound if b != ip]
        return 0, "", ""

    def exit_json(self, **kwargs: Any) -> None:
        self.exit = kwargs
        raise SystemExit(0)

    def fail_json(self, **kwargs: Any) -> None:
        self.exit = {**kwargs, "failed": True}
        raise SystemExit(1)


def _run(fake: FakeModule, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(ADDRESSES, "AnsibleModule", lambda **_: fake)
    with pytest.raises(SystemExit):
        ADDRESSES.main()
    return fake.exit


def test_addresses_change_in_one_batch_and_report_per_site(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"site": {"id": "a"}, "ip": "198.19.0.10", "state": "present"},
             {"site": {"id": "b"}, "ip": "198.19.0.11", "state": "present"},
             {"site": {"id": "c"}, "ip": "198.19.0.12", "state": "absent"}]
    fake = FakeModule(items, bound=["198.19.0.1", "198.19.0.11", "198.19.0.12"])
    result = _run(fake, monkeypatch)
    assert fake.batches == ["addr add 198.19.0.10/32 dev provpub0\naddr del 198.19.0.12/32 dev provpub0\n"]
    assert [(r["site"]["id"], r["changed"]) for r in result["results"]] == [("a", True), ("b", False), ("c", True)]
    assert result["changed"] and not result.get("failed")
    assert all(r["ansible_loop_var"] == "site" for r in result["results"])
    again = FakeModule(items, bound=fake.bound)
    assert _run(again, monkeypatch)["changed"] is False and again.batches == []


def test_an_address_named_twice_in_a_batch_changes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two removed cases once held the same address (lab down removes both): one `del`, or ip fails.
    items = [{"site": {"id": "a"}, "ip": "198.19.0.5", "state": "absent"},
             {"site": {"id": "b"}, "ip": "198.19.0.5", "state": "absent"}]
    fake = FakeModule(items, bound=["198.19.0.5"])
    result = _run(fake, monkeypatch)
    assert fake.batches == ["addr del 198.19.0.5/32 dev provpub0\n"] and not result.get("failed")
    assert [(r["site"]["id"], r["changed"]) for r in result["results"]] == [("a", True), ("b", False)]


def test_check_mode_runs_no_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeModule([{"site": {"id": "a"}, "ip": "198.19.0.10"}], bound=[], check_mode=True)
    assert _run(fake, monkeypatch)["changed"] is True and fake.batches == []


def test_a_failed_batch_reports_only_what_really_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"site": {"id": "a"}, "ip": "198.19.0.10"}, {"site": {"id": "b"}, "ip": "198.19.0.11"}]
    result = _run(FakeModule(items, bound=[], batch_rc=2), monkeypatch)
    assert result["failed"] and "File exists" in result["msg"]
    assert [(r["site"]["id"], r["changed"]) for r in result["results"]] == [("a", True), ("b", False)]


def test_an_address_someone_bound_meanwhile_is_refused_before_any_change(monkeypatch: pytest.MonkeyPatch) -> None:
    # A case not yet installed whose address was free at provisioner's check and is bound now.
    items = [{"site": {"id": "a"}, "ip": "198.19.0.10", "state": "present", "refuse_if_bound": True},
             {"site": {"id": "b"}, "ip": "198.19.0.11", "state": "present", "refuse_if_bound": True},
             {"site": {"id": "c"}, "ip": "198.19.0.12", "state": "present", "refuse_if_bound": False}]
    for check_mode in (False, True):
        fake = FakeModule(items, bound=["198.19.0.11", "198.19.0.12"], check_mode=check_mode)
        result = _run(fake, monkeypatch)
        assert result["failed"] and fake.batches == [] and "results" not in result
        assert result["msg"] == ("198.19.0.11 for case b was bound on provpub0 by someone else after the check; "
                                 "it is left alone: find who holds it, or choose another address")
    # Installed (c, refuse_if_bound false): its own address is simply there; the others are bound.
    fake = FakeModule(items, bound=["198.19.0.12"])
    assert not _run(fake, monkeypatch).get("failed") and fake.batches == [
        "addr add 198.19.0.10/32 dev provpub0\naddr add 198.19.0.11/32 dev provpub0\n"]


def test_the_shared_address_is_bound_once_and_reported_for_no_site(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"site": None, "ip": "198.19.0.5", "state": "present"}]
    fake = FakeModule(items, bound=[])
    result = _run(fake, monkeypatch)
    assert fake.batches == ["addr add 198.19.0.5/32 dev provpub0\n"]
    assert result["changed"] and result["results"][0]["site"] is None
    again = FakeModule(items, bound=fake.bound)
    assert _run(again, monkeypatch)["changed"] is False and again.batches == []


def _site(**extra: Any) -> dict[str, Any]:
    return {"id": "2026-001", "fqdn": "simpeg.tarakankota.go.id", "ip": "198.19.0.10", "app": "simpeg",
            "user": "simpeg", "root": "/srv/www/simpeg", "docroot": "/srv/www/simpeg/public",
            "logdir": "/srv/www/simpeg/logs", "pool_socket": "/run/php/simpeg.sock", "runtime": "php",
            "tls": "none", "db": None,
            "application": {"writable": [], "shared_dir": "", "php_packages": [], "php_settings": [], "env": [],
                            "commands": [], "cron_file": "/etc/cron.d/provisioner-simpeg", "cron": []}, **extra}


def test_the_vhost_renders_from_the_site_alone() -> None:
    text = RENDER.render(_site(), str(TEMPLATES / "vhost.conf.j2"))
    assert text.startswith("# Managed by provisioner for case 2026-001")
    assert "<VirtualHost 198.19.0.10:80>" in text and "proxy:unix:/run/php/simpeg.sock|fcgi://simpeg" in text
    proxy = RENDER.render(_site(runtime="proxy", upstream="http://127.0.0.1:8081/"), str(TEMPLATES / "vhost.conf.j2"))
    assert "ProxyPass / http://127.0.0.1:8081/\n" in proxy


def test_the_password_is_the_one_the_role_passes(tmp_path: Path) -> None:
    # The role reads it with the file lookup (which decrypts it, provisioner/secrets.py).
    db = {"engine": "mariadb", "address": "127.0.0.1", "port": 3306, "name": "simpeg", "user": "simpeg",
          "password_file": str(tmp_path / "not-read-here")}
    text = RENDER.render(_site(db=db), str(TEMPLATES / "app.env.j2"), password="s3cret-for-test")
    assert "DB_PASSWORD=s3cret-for-test\n" in text and "DB_NAME=simpeg\n" in text


def test_a_render_error_names_the_template_and_site_never_a_value() -> None:
    with pytest.raises(ValueError, match=r"vhost\.conf\.j2 for site 2026-001: UndefinedError"):
        RENDER.render({"id": "2026-001", "tls": "none"}, str(TEMPLATES / "vhost.conf.j2"), password="s3cret")


def test_absent_items_carry_their_site() -> None:
    sites = [{"id": "a", "files": ["/x", "/y"], "root": "/srv/a"}, {"id": "b", "files": [], "root": "/srv/b"}]
    assert [(i["site"]["id"], i["path"]) for i in BATCH.absent(sites, "files")] == [("a", "/x"), ("a", "/y")]
    assert [i["path"] for i in BATCH.absent(sites, "root")] == ["/srv/a", "/srv/b"]
    assert all(i["state"] == "absent" for i in BATCH.absent(sites, "root"))


def test_the_folders_of_the_sites_paths_come_once_each_and_name_no_site() -> None:
    sites = [{"id": "a", "marker": "/var/lib/provisioner/sites/a.yml"},
             {"id": "b", "marker": "/var/lib/provisioner/sites/b.yml"},
             {"id": "c", "marker": "/srv/other/c.yml"}]
    assert BATCH.folders(sites, "marker") == [
        {"site": None, "path": "/var/lib/provisioner/sites", "state": "directory", "owner": "root", "group": "root",
         "mode": "0755"},
        {"site": None, "path": "/srv/other", "state": "directory", "owner": "root", "group": "root", "mode": "0755"}]
    assert BATCH.folders([], "marker") == []


RELEASES = load("library/provisioner_releases.py")


@pytest.fixture
def release_item(tmp_path: Path) -> dict[str, Any]:
    import grp

    return {"site": {"id": "a"}, "root": str(tmp_path), "release_id": "app-1.0-aaaaaaaaaaaa",
            "owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}


def _unpack(item: dict[str, Any], text: str) -> None:
    """What the unpack step does between prepare and switch."""
    (Path(item["root"]) / "releases" / item["release_id"] / "index.php").write_text(text)


def test_a_release_is_unpacked_once_and_current_moves_atomically(release_item: dict[str, Any]) -> None:
    root = Path(release_item["root"])
    assert RELEASES.prepare(release_item, check_mode=True) is True
    assert not (root / "releases").exists()
    assert RELEASES.prepare(release_item, check_mode=False) is True
    _unpack(release_item, "v1")
    assert RELEASES.switch(release_item, 3, check_mode=False) is True
    assert os.readlink(root / "current") == "releases/app-1.0-aaaaaaaaaaaa"
    assert (root / "current" / "index.php").read_text() == "v1"
    # Unpacked and current: nothing to do, and the marker is not inside the served folder.
    assert RELEASES.prepare(release_item, check_mode=False) is False
    assert RELEASES.switch(release_item, 3, check_mode=False) is False
    assert sorted(p.name for p in (root / "releases" / "app-1.0-aaaaaaaaaaaa").iterdir()) == ["index.php"]


def _archives(folder: Path) -> tuple[Path, Path]:
    """The same release as a .tar.gz (its files owned by a user this host may not have) and a .zip."""
    import io
    import tarfile
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    tar, zipped = folder / "app.tar.gz", folder / "app.zip"
    with tarfile.open(tar, "w:gz") as archive:
        for name, data in (("index.php", b"<?php echo 1;"), ("lib/util.php", b"<?php")):
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid, info.uname, info.gname = len(data), 4242, 4242, "vendor", "vendor"
            archive.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("index.php", "<?php echo 1;")
        archive.writestr("lib/util.php", "<?php")
    return tar, zipped


def test_new_releases_are_unpacked_from_one_copy_of_their_archive_which_then_goes(
        release_item: dict[str, Any], tmp_path: Path) -> None:
    tar, zipped = _archives(tmp_path / "cache")
    items = []
    for number, archive in enumerate((tar, tar, zipped)):
        root = tmp_path / f"site{number}"
        root.mkdir()
        items.append({**release_item, "site": {"id": str(number)}, "root": str(root), "archive": str(archive)})
        assert RELEASES.prepare(items[-1], check_mode=False) is True
    assert RELEASES.unpack(items, check_mode=False, workers=2) == {}
    for item in items:
        folder = Path(item["root"]) / "releases" / item["release_id"]
        assert (folder / "index.php").read_text() == "<?php echo 1;" and (folder / "lib" / "util.php").exists()
        assert (folder / "index.php").stat().st_uid == os.getuid()  # not the archive's 4242
    assert not tar.exists() and not zipped.exists()


def test_a_release_that_does_not_unpack_fails_its_site_alone_and_the_copies_still_go(
        release_item: dict[str, Any], tmp_path: Path) -> None:
    tar, _zipped = _archives(tmp_path / "cache")
    broken = tmp_path / "cache" / "broken.tar.gz"
    broken.write_bytes(b"not an archive")
    items = []
    for number, archive in enumerate((broken, tar)):
        root = tmp_path / f"site{number}"
        root.mkdir()
        items.append({**release_item, "root": str(root), "archive": str(archive)})
        RELEASES.prepare(items[-1], check_mode=False)
    errors = RELEASES.unpack(items, check_mode=False)
    assert list(errors) == [0] and "tar failed" in str(errors[0])
    assert (Path(items[1]["root"]) / "releases" / release_item["release_id"] / "index.php").exists()
    assert not broken.exists() and not tar.exists()


def test_check_mode_unpacks_nothing_and_keeps_the_copies(release_item: dict[str, Any], tmp_path: Path) -> None:
    tar, _zipped = _archives(tmp_path / "cache")
    assert RELEASES.unpack([{**release_item, "archive": str(tar)}], check_mode=True) == {}
    assert tar.exists() and not (Path(release_item["root"]) / "releases").exists()


def test_prepare_makes_the_archive_copies_folder_for_root_alone(release_item: dict[str, Any], tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "releases"
    RELEASES.prepare({**release_item, "archive": str(cache / release_item["release_id"])}, check_mode=False)
    assert cache.is_dir() and cache.stat().st_mode & 0o777 == 0o700


def test_a_folder_left_half_unpacked_is_emptied_and_unpacked_again(release_item: dict[str, Any]) -> None:
    RELEASES.prepare(release_item, check_mode=False)
    _unpack(release_item, "half")  # the run died here: no switch, no marker
    assert RELEASES.prepare(release_item, check_mode=False) is True
    assert list((Path(release_item["root"]) / "releases" / release_item["release_id"]).iterdir()) == []


def test_older_releases_beyond_keep_go_but_never_the_current(release_item: dict[str, Any]) -> None:
    root = Path(release_item["root"])
    for version in ("1", "2", "3", "4"):
        item = {**release_item, "release_id": f"app-{version}"}
        RELEASES.prepare(item, check_mode=False)
        _unpack(item, version)
        RELEASES.switch(item, 3, check_mode=False)
    assert sorted(p.name for p in (root / "releases").iterdir() if not p.name.startswith(".")) == \
        ["app-2", "app-3", "app-4"]
    assert not (root / "releases" / ".app-1.complete").exists()
    # Back to a kept older release (an undo or a rollback): no unpacking, the link moves back.
    back = {**release_item, "release_id": "app-2"}
    assert RELEASES.prepare(back, check_mode=False) is False
    assert RELEASES.switch(back, 3, check_mode=False) is True
    assert (root / "current" / "index.php").read_text() == "2"
    assert (root / "releases" / ".history").read_text().split() == ["app-3", "app-4", "app-2"]


def test_a_current_folder_that_is_not_a_link_is_left_alone(release_item: dict[str, Any]) -> None:
    root = Path(release_item["root"])
    RELEASES.prepare(release_item, check_mode=False)
    (root / "current").mkdir()
    with pytest.raises(OSError, match="is a directory, not a link"):
        RELEASES.switch(release_item, 3, check_mode=False)



def _vendor_item(release_item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A release with writable folders and commands; the code's owner and the user are this test's user."""
    root = release_item["root"]
    return {**release_item, "user": release_item["owner"], "shared": f"{root}/shared", "env_file": "",
            "writable": [], "commands": [], **extra}


def _unpack_vendor_app(item: dict[str, Any]) -> Path:
    folder = Path(item["root"]) / "releases" / item["release_id"]
    (folder / "public").mkdir()
    (folder / "public" / "index.php").write_text("<?php echo 'hi';")
    (folder / "storage" / "framework").mkdir(parents=True)
    (folder / "storage" / "framework" / ".gitignore").write_text("*\n")
    (folder / "artisan").write_text("#!/usr/bin/env php\n")
    os.chmod(folder / "artisan", 0o775)
    os.chmod(folder / "public" / "index.php", 0o666)
    return folder


def test_a_sealed_release_is_writable_by_its_owner_only(release_item: dict[str, Any]) -> None:
    item = _vendor_item(release_item)
    RELEASES.prepare(item, check_mode=False)
    folder = _unpack_vendor_app(item)
    assert RELEASES.seal(item, check_mode=True) is True
    assert RELEASES.seal(item, check_mode=False) is True
    modes = {p.relative_to(folder).as_posix(): p.stat().st_mode & 0o7777 for p in [folder, *folder.rglob("*")]}
    assert modes == {".": 0o755, "public": 0o755, "public/index.php": 0o644, "storage": 0o755,
                     "storage/framework": 0o755, "storage/framework/.gitignore": 0o644, "artisan": 0o755}
    assert RELEASES.seal(item, check_mode=False) is False


def test_a_writable_folder_is_a_link_into_shared_seeded_from_the_release(release_item: dict[str, Any]) -> None:
    item = _vendor_item(release_item, writable=["storage", "bootstrap/cache"])
    RELEASES.prepare(item, check_mode=False)
    folder = _unpack_vendor_app(item)
    assert RELEASES.seal(item, check_mode=False) is True
    shared = Path(item["shared"])
    assert os.readlink(folder / "storage") == str(shared / "storage")
    assert os.readlink(folder / "bootstrap" / "cache") == str(shared / "bootstrap" / "cache")
    assert (shared / "storage" / "framework" / ".gitignore").read_text() == "*\n"
    assert RELEASES.seal(item, check_mode=False) is False
    assert RELEASES.seal(item, check_mode=True) is False


def test_what_the_application_wrote_survives_a_new_release(release_item: dict[str, Any]) -> None:
    first = _vendor_item(release_item, writable=["storage"])
    RELEASES.prepare(first, check_mode=False)
    _unpack_vendor_app(first)
    RELEASES.seal(first, check_mode=False)
    RELEASES.switch(first, 3, check_mode=False)
    (Path(first["shared"]) / "storage" / "framework" / ".gitignore").write_text("written by the application\n")
    second = {**first, "release_id": "app-2.0-bbbbbbbbbbbb"}
    RELEASES.prepare(second, check_mode=False)
    folder = _unpack_vendor_app(second)
    (folder / "storage" / "logs").mkdir()
    RELEASES.seal(second, check_mode=False)
    assert (folder / "storage" / "framework" / ".gitignore").read_text() == "written by the application\n"
    assert (folder / "storage" / "logs").is_dir()  # what the new release adds is copied in


def test_commands_run_in_the_new_release_once_as_the_user(release_item: dict[str, Any]) -> None:
    item = _vendor_item(release_item, commands=["pwd > ../ran.txt", "echo again >> ../ran.txt"])
    RELEASES.prepare(item, check_mode=False)
    folder = _unpack_vendor_app(item)
    calls = []

    def fake_run(argv: list[str], **kwargs: Any) -> Any:
        calls.append((argv, kwargs["cwd"]))
        return type("Done", (), {"returncode": 0, "stdout": b""})()

    real = RELEASES.subprocess.run
    RELEASES.subprocess.run = fake_run
    try:
        assert RELEASES.run(item, check_mode=True, timeout=5) is True and calls == []
        assert RELEASES.run(item, check_mode=False, timeout=5) is True
        RELEASES.switch(item, 3, check_mode=False)
        assert RELEASES.run(item, check_mode=False, timeout=5) is False  # complete: not again
    finally:
        RELEASES.subprocess.run = real
    assert [cwd for _argv, cwd in calls] == [str(folder)] * 2
    argv = calls[0][0]
    assert argv[:4] == ["runuser", "-u", item["user"], "--"] and argv[-1] == "pwd > ../ran.txt"


def test_a_failed_command_names_itself_and_masks_the_password(release_item: dict[str, Any]) -> None:
    env_file = Path(release_item["root"]) / "app.env"
    env_file.write_text("DB_USER=app\nDB_PASSWORD=s3cretPassw0rdXYZ\n")
    item = _vendor_item(release_item, env_file=str(env_file), commands=["php artisan migrate --force"])
    RELEASES.prepare(item, check_mode=False)
    _unpack_vendor_app(item)

    def fake_run(argv: list[str], **kwargs: Any) -> Any:
        return type("Done", (), {"returncode": 1, "stdout": b"access denied for app using s3cretPassw0rdXYZ"})()

    real = RELEASES.subprocess.run
    RELEASES.subprocess.run = fake_run
    try:
        with pytest.raises(OSError) as info:
            RELEASES.run(item, check_mode=False, timeout=5)
    finally:
        RELEASES.subprocess.run = real
    assert "command 1 (php artisan migrate --force) failed with exit code 1" in str(info.value)
    assert "s3cret" not in str(info.value) and "********" in str(info.value)


def test_a_command_reads_the_settings_file_in_a_clean_environment() -> None:
    argv = RELEASES.command_line({"user": "app", "root": "/srv/www/a", "env_file": "/srv/www/a/app.env"}, "php x")
    assert argv[argv.index("env"):argv.index("env") + 2] == ["env", "-i"]
    assert argv[-1] == "set -a; . /srv/www/a/app.env; set +a; php x"
