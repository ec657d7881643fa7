"""Vendors' applications (issue 13): what a case's application.* becomes on the web host (site
variables, the pool, settings file, virtual host and cron file rendered as the role renders them)
and how the trial judges it."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from provisioner import site, trial
from provisioner.case import Case, load_case
from provisioner.host_facts import CommandResult, FileFacts, HostFacts, InterfaceFacts, UserFacts
from provisioner.inventory import load_inventory
from tests.conftest import LOCAL_INVENTORY, ROOT, example
from tests.playbook_code import load

INV = load_inventory(LOCAL_INVENTORY)
RENDER = load("filter_plugins/provisioner_render.py")
TEMPLATES = ROOT / "playbooks" / "roles" / "apache_vhost" / "templates"
PASSWORD = "Pw0rdFromTheVaultForTests"
ROOT_DIR = "/srv/www/sikesda.tarakankota.go.id"

VENDOR = {
    "document_root": "public",
    "writable": ["storage", "bootstrap/cache"],
    "php": {"extensions": ["mbstring", "pdo_mysql", "ctype"],
            "settings": {"upload_max_filesize": "20M", "post_max_size": "25M", "display_errors": False,
                         "date.timezone": "Asia/Makassar"}},
    "env": {"DB_DATABASE": "{db.name}", "DB_USERNAME": "{db.user}", "DB_PASSWORD_LARAVEL": "{db.password}",
            "DATABASE_URL": "mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.name}",
            "APP_URL": "{site.url}", "APP_NAME": "SIKESDA {{v2}}"},
    "commands": ["php artisan migrate --force"],
    "cron": ["* * * * * php artisan schedule:run", "0 2 * * * date +%F > storage/logs/last-run"],
}


def _vendor_case(write_case: Any, **fields: Any) -> Case:
    data = copy.deepcopy(example("sikesda"))
    data["application"].update(copy.deepcopy({**VENDOR, **fields}))
    return load_case(write_case(data))


def _site(case: Case) -> site.Site:
    return site.build(case, site.Placement("198.19.0.30", "localhost", "localhost"), INV,
                      password_file=Path("/nonexistent"))


def _render(template: str, built: site.Site) -> str:
    return RENDER.render(built.vars.as_vars(), str(TEMPLATES / template), password=PASSWORD)


# --- the site ---------------------------------------------------------------------------------

def test_the_document_root_is_the_named_folder_of_the_current_release(write_case: Any) -> None:
    assert _site(_vendor_case(write_case)).vars.docroot == f"{ROOT_DIR}/current/public"


def test_without_a_document_root_the_release_top_is_served(write_case: Any) -> None:
    assert _site(_vendor_case(write_case, document_root=None)).vars.docroot == f"{ROOT_DIR}/current"


def test_writable_folders_live_in_shared(write_case: Any) -> None:
    v = _site(_vendor_case(write_case)).vars
    assert (v.application.writable, v.application.shared_dir) == (["storage", "bootstrap/cache"], f"{ROOT_DIR}/shared")
    assert site.SiteDir(f"{ROOT_DIR}/shared", "root", "root", "0755") in v.dirs


def test_extensions_become_the_distributions_packages_for_its_php(write_case: Any) -> None:
    # pdo_mysql is in php8.2-mysql; ctype is part of PHP itself.
    assert _site(_vendor_case(write_case)).vars.application.php_packages == ["php8.2-mbstring", "php8.2-mysql"]


def test_the_password_is_never_in_the_site_variables(write_case: Any) -> None:
    v = _site(_vendor_case(write_case)).vars
    env = {var.name: var.parts for var in v.application.env}
    assert env["DATABASE_URL"] == ["mysql://sikesda:", "@127.0.0.1:3306/sikesda"]
    assert env["DB_PASSWORD_LARAVEL"] == ["", ""]
    assert env["APP_URL"] == ["http://sikesda.tarakankota.go.id/"] and env["APP_NAME"] == ["SIKESDA {v2}"]
    assert PASSWORD not in yaml.safe_dump(v.as_vars())


def test_a_cron_line_gets_the_user_the_folder_and_the_settings(write_case: Any) -> None:
    v = _site(_vendor_case(write_case)).vars
    assert v.application.cron == [
        f"* * * * * sikesda cd {ROOT_DIR}/current && set -a && . {ROOT_DIR}/app.env && set +a && "
        "php artisan schedule:run",
        f"0 2 * * * sikesda cd {ROOT_DIR}/current && set -a && . {ROOT_DIR}/app.env && set +a && "
        "date +\\%F > storage/logs/last-run"]
    assert v.application.cron_file == "/etc/cron.d/provisioner-sikesda"
    assert v.application.cron_file in v.files and v.application.cron_file in v.checked_files


def test_a_case_without_cron_owns_no_cron_file(write_case: Any) -> None:
    v = _site(_vendor_case(write_case, cron=None)).vars
    assert v.application.cron == [] and v.application.cron_file not in v.files


def test_env_alone_gives_a_settings_file(write_case: Any) -> None:
    data = copy.deepcopy(example("ppid"))
    data["application"]["env"] = {"SITE": "{site.fqdn}"}
    v = _site(load_case(write_case(data))).vars
    assert v.env_file.endswith("/app.env") and v.env_file in v.files


# --- what the role writes ------------------------------------------------------------------------

def test_the_pool_carries_the_settings_as_admin_values_and_the_env(write_case: Any) -> None:
    pool = _render("php-fpm-pool.conf.j2", _site(_vendor_case(write_case)))
    assert "php_admin_value[upload_max_filesize] = 20M\n" in pool
    assert "php_admin_value[date.timezone] = Asia/Makassar\n" in pool
    assert "php_admin_flag[display_errors] = off\n" in pool
    assert f'env[DATABASE_URL] = "mysql://sikesda:{PASSWORD}@127.0.0.1:3306/sikesda"\n' in pool
    assert 'env[DB_DATABASE] = "sikesda"\n' in pool and f'env[DB_PASSWORD_LARAVEL] = "{PASSWORD}"\n' in pool


def test_the_settings_file_adds_the_env_for_a_shell(write_case: Any) -> None:
    text = _render("app.env.j2", _site(_vendor_case(write_case)))
    assert f"DB_PASSWORD={PASSWORD}\n" in text
    assert "DB_USERNAME='sikesda'\n" in text and "APP_NAME='SIKESDA {v2}'\n" in text


def test_the_vhost_serves_the_document_root_and_honours_vendors_htaccess(write_case: Any) -> None:
    vhost = _render("vhost.conf.j2", _site(_vendor_case(write_case)))
    assert f"DocumentRoot {ROOT_DIR}/current/public\n" in vhost
    assert f"<Directory {ROOT_DIR}/current/public>" in vhost
    assert "AllowOverride AuthConfig FileInfo Indexes Limit Options=" in vhost and "AllowOverride All" not in vhost


@pytest.mark.parametrize("folder", ["storage", "bootstrap/cache"])
def test_a_writable_folder_runs_no_php_and_takes_no_htaccess(write_case: Any, folder: str) -> None:
    vhost = _render("vhost.conf.j2", _site(_vendor_case(write_case)))
    block = vhost.split(f"<Directory {ROOT_DIR}/current/{folder}>", 1)[1].split("</Directory>", 1)[0]
    assert "AllowOverride None" in block and "Require all denied" in block and "php" in block


def test_the_cron_file_runs_as_the_user(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    text = RENDER.render(built.vars.as_vars(), str(TEMPLATES / "cron.j2"))
    assert text.endswith(built.vars.application.cron[-1] + "\n")
    assert "SHELL=/bin/sh\n" in text and PASSWORD not in text


# --- the trial -----------------------------------------------------------------------------------

def _file(path: str, *, kind: str = "file", user: str = "root", mode: int = 0o644,
          found: frozenset[str] = frozenset()) -> FileFacts:
    return FileFacts(path=path, exists=kind != "missing", is_symlink=False, kind=kind, user=user, mode=mode,
                     found=found)


class _Sparse(HostFacts):
    """What the checks of interest here read; anything else reads as missing."""

    def file(self, path: str) -> FileFacts:
        return self.files.get(path) or _file(path, kind="missing")

    def user(self, name: str) -> UserFacts:
        return UserFacts(name, False, "")

    def users_running(self, comm: str) -> list[str]:
        return []

    def interface(self, name: str) -> InterfaceFacts:
        return InterfaceFacts(name, ())

    def command(self, key: str) -> CommandResult:
        return self.commands.get(key) or CommandResult(1, "", "not asked here")


def _facts(built: site.Site, permissions: str, modules: str = "mbstring\nmysqli\npdo_mysql\nctype\n") -> HostFacts:
    v = built.vars
    return _Sparse(
        files={v.docroot: _file(v.docroot, kind="directory", mode=0o755),
               v.vhost_file: _file(v.vhost_file, found=frozenset({f"DocumentRoot {v.docroot}\n"})),
               v.application.cron_file: _file(v.application.cron_file)},
        commands={trial._permissions_key(built): CommandResult(0, permissions, ""),
                  "php modules": CommandResult(0, modules, "")})


def _checks(built: site.Site, facts: HostFacts) -> dict[str, trial.Check]:
    inventory = INV
    names = ("document root is the case's folder of the release", "code read-only to the application",
             "writable folders writable by the application", "php extensions loaded", "cron lines installed")
    checks = {c.name: c for c in trial._host_checks(built, inventory, facts) if c.name in names}
    assert list(checks) == list(names)
    return checks


def test_a_vendor_site_passes_when_only_its_writable_folders_are_its_users(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    checks = _checks(built, _facts(built, ""))
    assert all(c.ok for c in checks.values()), checks
    assert checks["document root is the case's folder of the release"].detail.endswith("the release's public")


def test_code_the_application_could_write_fails_the_trial(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    checks = _checks(built, _facts(built, f"code-writable {ROOT_DIR}/current/public/index.php\n"))
    code = checks["code read-only to the application"]
    assert not code.ok and code.detail == f"sikesda can write {ROOT_DIR}/current/public/index.php"


def test_a_writable_folder_the_application_cannot_write_fails_the_trial(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    checks = _checks(built, _facts(built, f"not-writable {ROOT_DIR}/current/storage\n"))
    assert not checks["writable folders writable by the application"].ok
    assert checks["code read-only to the application"].ok


def test_the_vendor_checks_carry_their_ids_and_say_it_in_indonesian(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    checks = _checks(built, _facts(built, "", modules="mysqli\npdo_mysql\n"))
    assert [c.id for c in checks.values()] == ["release.docroot", "release.code_read_only", "release.writable",
                                               "php.extensions", "cron.installed"]
    assert checks["php extensions loaded"].texts("id") == {"name": "ekstensi PHP termuat",
                                                          "detail": "tidak termuat: mbstring, ctype"}
    assert checks["document root is the case's folder of the release"].texts("id")["detail"] == \
        f"{ROOT_DIR}/current/public: folder public dari rilis"


def test_a_missing_extension_is_named(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    check = _checks(built, _facts(built, "", modules="mysqli\npdo_mysql\n"))["php extensions loaded"]
    assert not check.ok and check.detail == "missing: mbstring, ctype"


def test_the_permissions_probe_runs_as_the_application_user(write_case: Any) -> None:
    built = _site(_vendor_case(write_case))
    probe = trial._permissions_probe(built)
    assert probe.startswith("setpriv --reuid=sikesda ") and "app.env" not in probe
    assert f"{ROOT_DIR}/current/bootstrap/cache" in probe and "! -type l -writable" in probe


@pytest.mark.skipif(os.geteuid() != 0, reason="changing to another user needs root")
def test_a_probe_runs_as_the_application_user_with_its_groups_home_and_no_environment_of_roots(
        write_case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _site(_vendor_case(write_case))
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own folders are root's alone
    folder.chmod(0o755)
    env_file = folder / "app.env"
    env_file.write_text("DB_NAME=sikesda\n")
    env_file.chmod(0o644)
    built = dataclasses.replace(built, vars=dataclasses.replace(built.vars, user="nobody", env_file=str(env_file)))
    monkeypatch.setenv("PROVISIONER_ROOTS_OWN", "secret of root's environment")
    command = trial._as_app_user(built, 'id -u; id -g; id -G; echo "$HOME|$PATH|$DB_NAME"; env')
    try:
        out = subprocess.run(command, shell=True, capture_output=True, text=True, check=True).stdout.splitlines()
    finally:
        shutil.rmtree(folder)
    nobody = pwd.getpwnam("nobody")
    assert out[:2] == [str(nobody.pw_uid), str(nobody.pw_gid)]
    assert sorted(map(int, out[2].split())) == sorted(set(os.getgrouplist("nobody", nobody.pw_gid)))
    assert out[3] == f"{built.vars.root}|{trial.APP_PATH}|sikesda"
    assert not any("PROVISIONER_ROOTS_OWN" in line for line in out[4:])


def test_a_site_without_a_release_keeps_the_ownership_check(write_case: Any) -> None:
    data = copy.deepcopy(example("ppid"))
    del data["application"]["release"]
    built = _site(load_case(write_case(data)))
    v = built.vars
    facts = _Sparse(files={v.docroot: _file(v.docroot, kind="directory", user=v.user, mode=0o755)})
    names = [c.name for c in trial._host_checks(built, INV, facts)]
    assert "document root owned by the application" in names and "code read-only to the application" not in names


def test_the_vendor_fields_change_the_inputs_digest(write_case: Any) -> None:
    from provisioner import convergence

    plain = _site(_vendor_case(write_case))
    more = _site(dataclasses.replace(plain.case, cron=("@daily php other.php",)))
    assert convergence.inputs_digest(plain, INV) != convergence.inputs_digest(more, INV)


# --- the vendor examples and their releases -------------------------------------------------------

VENDOR_EXAMPLES = sorted((ROOT / "examples" / "cases" / "vendor").glob("*.yml"))


@pytest.mark.parametrize("path", VENDOR_EXAMPLES, ids=lambda p: p.name)
def test_every_vendor_example_is_valid(path: Path) -> None:
    """Their WordPress and MediaWiki releases are built by scripts/vendor-releases (not in git):
    the archives are left unread here (the integration tests apply them)."""
    from jsonschema import Draft202012Validator

    from provisioner.case_schema import json_schema

    data = yaml.safe_load(path.read_text())
    Draft202012Validator(json_schema()).validate(json.loads(json.dumps(data, default=str)))
    case = load_case(path, release_needed=False)
    assert case.approval_status == "approved" and case.runtime == "php" and case.writable and case.commands


@pytest.mark.parametrize("path", VENDOR_EXAMPLES, ids=lambda p: p.name)
def test_every_vendor_example_names_the_shipped_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../../docs/case.schema.json"
    assert (path.parent / first.partition("$schema=")[2]).resolve() == ROOT / "docs" / "case.schema.json"


def test_the_shipped_laravel_style_release_is_built_from_its_sources(tmp_path: Path) -> None:
    from tests import vendor_releases

    fresh = vendor_releases.silapor(tmp_path / "silapor.tar.gz")
    assert fresh.read_bytes() == (ROOT / "examples" / "releases" / vendor_releases.NAMES["silapor"]).read_bytes()


def test_a_packages_absolute_links_are_followed_inside_its_root(tmp_path: Path) -> None:
    from tests import vendor_releases

    (tmp_path / "usr/share/app").mkdir(parents=True)
    (tmp_path / "usr/share/javascript/lib").mkdir(parents=True)
    (tmp_path / "usr/share/javascript/lib/lib.js").write_text("js")
    (tmp_path / "usr/share/app/lib").symlink_to("/usr/share/javascript/lib")
    (tmp_path / "usr/share/app/gone").symlink_to("/var/lib/app/nothing")
    (tmp_path / "usr/share/app/loop").symlink_to("loop")
    resolve = vendor_releases.resolve
    assert resolve(tmp_path, PurePosixPath("/usr/share/app/lib/lib.js")) == tmp_path / "usr/share/javascript/lib/lib.js"
    assert resolve(tmp_path, PurePosixPath("/usr/share/app/gone")) is None
    assert resolve(tmp_path, PurePosixPath("/usr/share/app/loop")) is None
    archive = vendor_releases._write(tmp_path / "app.tar.gz", vendor_releases._tree(tmp_path, "/usr/share/app"))
    with tarfile.open(archive) as opened:
        assert sorted(opened.getnames()) == [".", "./lib", "./lib/lib.js"]
        assert not any(member.issym() for member in opened.getmembers())


def test_the_configuration_record_names_what_the_application_got_but_no_value_of_its_env(write_case: Any) -> None:
    from provisioner import records

    built = _site(_vendor_case(write_case))
    data = records.configuration(built, INV, {}, "2026-11-29T10:00:00+08:00")
    assert data["web"]["document_root"] == f"{ROOT_DIR}/current/public"
    assert data["web"]["writable"] == [f"{ROOT_DIR}/shared/storage", f"{ROOT_DIR}/shared/bootstrap/cache"]
    assert data["web"]["cron_file"] == "/etc/cron.d/provisioner-sikesda"
    assert data["application"]["php_extensions"] == ["mbstring", "pdo_mysql", "ctype"]
    assert data["application"]["php_settings"]["upload_max_filesize"] == "20M"
    assert data["application"]["env"] == list(VENDOR["env"])
    assert "mysql://" not in yaml.safe_dump(data)


def _document(name: str, lang: str, config: dict[str, Any], case: Case) -> str:
    from provisioner import documents

    return documents.environment(lang).get_template(f"{name}.md.j2").render(
        lang=lang, case=case, config=config, url=f"https://{case.fqdn}/", php_version="8.2", settings={})


@pytest.mark.parametrize(("lang", "owned"), [
    ("en", f"owned by root and read-only to the application; only its writable folders {ROOT_DIR}/shared/storage"),
    ("id", f"milik root dan hanya dapat dibaca oleh aplikasi; hanya folder tulisnya, {ROOT_DIR}/shared/storage")])
def test_the_documentation_says_the_code_is_roots_and_only_the_writable_folders_the_users(
        write_case: Any, lang: str, owned: str) -> None:
    from provisioner import records

    built = _site(_vendor_case(write_case))
    config = records.configuration(built, INV, {}, "2026-11-29T10:00:00+08:00")
    assert owned in _document("dokumentasi", lang, config, built.case)


@pytest.mark.parametrize(("lang", "rows"), [
    ("en", ["| PHP extensions | mbstring, pdo_mysql, ctype |", "| Release command 1 |", "| Cron file |"]),
    ("id", ["| Ekstensi PHP | mbstring, pdo_mysql, ctype |", "| Perintah rilis 1 |", "| Berkas cron |"])])
def test_the_configuration_document_shows_what_the_application_got(write_case: Any, lang: str,
                                                                   rows: list[str]) -> None:
    from provisioner import records

    built = _site(_vendor_case(write_case))
    config = records.configuration(built, INV, {}, "2026-11-29T10:00:00+08:00")
    text = _document("konfigurasi", lang, config, built.case)
    assert all(row in text for row in rows), text
    assert "upload_max_filesize = 20M" in text and "mysql://" not in text


def test_a_record_from_before_the_writable_folders_keeps_saying_the_user_owns_the_files(write_case: Any) -> None:
    from provisioner import records

    built = _site(_vendor_case(write_case))
    config = records.configuration(built, INV, {}, "2026-11-29T10:00:00+08:00")
    del config["web"]["writable"]
    assert "(owned by user sikesda)" in _document("dokumentasi", "en", config, built.case)
