"""The site: a case placed on an inventory, as every role, the trial and the records read it.

This module is the one definition of the contract between the Python side and the roles. The
typed ``SiteVars`` below is what ``provisioner_sites`` holds for each case; every role that takes
a site list declares exactly these keys, with these types and defaults, in its
``meta/argument_specs.yml`` (written from ``argument_spec()`` by ``scripts/role-specs``, and kept
equal by ``tests/unit/test_site_contract.py``). Ansible validates every site against that spec
before a role runs, so the roles need no hand-written asserts of their own.

The layout on the servers (paths, user, ports) is decided here, once.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from provisioner import secrets
from provisioner.case import Case, EnvPiece
from provisioner.case_schema import PHP_EXTENSIONS, PHP_SETTINGS
from provisioner.inventory import Inventory, ptr_name
from provisioner.release import release_id

# The layout on the servers, in one place (roles receive these paths inside each site).
WWW_ROOT = "/srv/www"
REGISTRY_DIR = "/etc/provisioner/sites"
# An extra var of provisioner's runs: the site list passed ``checked`` below, so the strategy
# (playbooks/strategy_plugins/provisioner_mitogen_linear.py) leaves each role's ``<role>_sites`` out
# of the role's own argument check. That check copies its whole input: about 2 s per role for 500.
SITES_CHECKED = "provisioner_sites_checked"
TLS_DIR = "/etc/apache2/provisioner-tls"
DEFAULT_PHP_VERSION = "8.2"
DB_PORTS = {"mariadb": 3306, "postgresql": 5432}
CRON_DIR = "/etc/cron.d"
LOGROTATE_DIR = "/etc/logrotate.d"

Runtime = Literal["static", "php", "proxy"]
TlsMode = Literal["none", "self-signed", "provided", "acme"]
Engine = Literal["mariadb", "postgresql"]
DbEngine = Literal["mariadb", "postgresql", "none"]
State = Literal["present", "absent"]


@dataclass(frozen=True)
class SiteDir:
    """One directory of the site, created with this owner and mode."""

    path: Annotated[str, "Absolute path on the web host."]
    owner: Annotated[str, "Owning user."]
    group: Annotated[str, "Owning group."]
    mode: Annotated[str, "Octal mode, as a string (0755)."]


@dataclass(frozen=True)
class SiteDatabase:
    """The site's database, its least-privilege user and where the application reaches it."""

    engine: Annotated[Engine, "The database engine."]
    name: Annotated[str, "Database name."]
    user: Annotated[str, "Database user, with rights on this database only."]
    host: Annotated[str, "Inventory name of the database host; only that host's play acts on it."]
    address: Annotated[str, "Address the application connects to."]
    port: Annotated[int, "Port the application connects to."]
    client_address: Annotated[str, "The site's web host's address: the only one the user may log in from."]
    password_file: Annotated[str, "Owner-only file on the controller holding the user's password."]


@dataclass(frozen=True)
class PhpSetting:
    """One php.ini value of the site's own pool (php_admin_value, or php_admin_flag for on/off)."""

    name: Annotated[str, "The php.ini key."]
    value: Annotated[str, "Its value, as php.ini writes it."]
    flag: Annotated[bool, "An on/off flag (php_admin_flag)."]


@dataclass(frozen=True)
class EnvVar:
    """One extra environment variable: its value is ``parts`` joined by the database password (a
    value without the password placeholder has one part), so the password never leaves its file."""

    name: Annotated[str, "The variable's name."]
    parts: Annotated[list[str], "The value's pieces around each place of the database password."]


@dataclass(frozen=True)
class Application:
    """What a vendor's application needs beside its code (application.* of the case)."""

    writable: Annotated[list[str], "Folders inside the release the application's user may write, kept in shared."]
    shared_dir: Annotated[str, "Where the writable folders live, across releases; empty without any."]
    php_packages: Annotated[list[str], "Distribution packages of the PHP extensions the site needs."]
    php_settings: Annotated[list[PhpSetting], "php.ini values of the site's own pool."]
    env: Annotated[list[EnvVar], "Extra environment variables (pool, settings file, commands, cron)."]
    commands: Annotated[list[str], "Shell commands run as the user in a new release's folder before it goes live."]
    cron_file: Annotated[str, "The site's file in /etc/cron.d."]
    cron: Annotated[list[str], "Its lines, complete (schedule, user, command); empty: no file."]


@dataclass(frozen=True)
class Placement:
    """Where a case goes (provisioner/placement.py): its address, its web host and its database
    host (inventory names; no database host without a database)."""

    ip: str
    web: str
    db: str | None = None


@dataclass
class SiteVars:
    """What ``provisioner_sites`` holds for one case: the roles' whole input for it."""

    id: Annotated[str, "The case id (agenda number)."]
    app: Annotated[str, "The application's short name."]
    title: Annotated[str, "The application's title."]
    fqdn: Annotated[str, "The site's name: subdomain.zone."]
    zone: Annotated[str, "The DNS zone holding the A record."]
    subdomain: Annotated[str, "The site's label in the zone."]
    ip: Annotated[str, "The site's public address."]
    web_host: Annotated[str, "Inventory name of the web host serving the site; only that host's plays act on it."]
    shared: Annotated[bool, "Served by name on the web host's shared address: no address or PTR of its own."]
    reverse_zone: Annotated[str, "The reverse zone holding the PTR record."]
    ptr_name: Annotated[str, "The PTR record's name (in-addr.arpa)."]
    runtime: Annotated[Runtime, "How the site is served."]
    upstream: Annotated[str, "proxy: where Apache forwards to; empty otherwise."]
    tls: Annotated[TlsMode, "Certificate mode."]
    tls_source_cert: Annotated[str, "provided: the certificate file on the controller; empty otherwise."]
    tls_source_key: Annotated[str, "provided: the key file on the controller; empty otherwise."]
    tls_cert: Annotated[str, "Certificate path on the web host; empty without TLS."]
    tls_key: Annotated[str, "Private key path on the web host; empty without TLS."]
    tls_csr: Annotated[str, "self-signed, acme: certificate request path on the web host; empty otherwise."]
    acme_dir: Annotated[str, "acme: the folder the site serves /.well-known/acme-challenge/ from; empty otherwise."]
    release: Annotated[str, "Release archive on the controller; may be empty."]
    release_id: Annotated[str, "Its folder's name under releases/ (name and content digest); empty without a release."]
    user: Annotated[str, "The application's system user."]
    root: Annotated[str, "The site's folder on the web host."]
    docroot: Annotated[str, "The document root, inside root: the current link with a release, public/ without."]
    logdir: Annotated[str, "The site's log folder, inside root."]
    logrotate_file: Annotated[str, "The site's file in /etc/logrotate.d, rotating the logs of logdir."]
    dirs: Annotated[list[SiteDir], "Directories to create, in order."]
    vhost_file: Annotated[str, "The virtual host file in sites-available."]
    vhost_link: Annotated[str, "Its link in sites-enabled."]
    pool_file: Annotated[str, "php: the php-fpm pool file; empty otherwise."]
    pool_socket: Annotated[str, "php: the pool's socket; empty otherwise."]
    env_file: Annotated[str, "With a database: the settings file the application reads; empty otherwise."]
    marker: Annotated[str, "The ownership record on the web host."]
    files: Annotated[list[str], "Configuration files the site owns (removed with it)."]
    checked_files: Annotated[list[str], "Files whose checksums the ownership record keeps (drift, fast path)."]
    db_engine: Annotated[DbEngine, "The database engine, or none."]
    application: Annotated[Application, "What the application needs beside its code."]
    db: Annotated[SiteDatabase | None, "The database, or null."] = None
    state: Annotated[State, "present: serve the site; absent: remove it."] = "present"
    installed: Annotated[bool, "An earlier run installed it (check mode may run tasks that build on it)."] = True
    recover: Annotated[bool, "An earlier run of this site died: reload even if nothing changes now."] = False
    remove_files: Annotated[bool, "With absent: also remove the document root, logs and system user."] = False
    drop_database: Annotated[bool, "With absent: also drop the database (dumped first)."] = False
    inputs_digest: Annotated[str, "SHA-256 of everything this site was applied from (provisioner/convergence.py)."] = ""

    def as_vars(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def removal(self, *, drop_database: bool, remove_files: bool, holds_address: bool = True) -> dict[str, Any]:
        """The same site, in state absent, for destroy and the undo.

        A case removed earlier (only its files or database kept) holds no address any more: its
        old one may be another case's by now. Its removal leaves the address and the address's PTR
        alone, as for a site on the shared address.
        """
        return dataclasses.asdict(dataclasses.replace(self, state="absent", drop_database=drop_database,
                                                      remove_files=remove_files,
                                                      shared=self.shared or not holds_address))


@dataclass(frozen=True)
class Site:
    """A case placed on an inventory: everything the playbooks, the trial and the records need."""

    case: Case
    ip: str
    vars: SiteVars

    @property
    def web_host(self) -> str:
        return self.vars.web_host

    @property
    def placement(self) -> Placement:
        return Placement(self.ip, self.vars.web_host, self.vars.db.host if self.vars.db else None)

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def fqdn(self) -> str:
        return self.case.fqdn


def ownership_record(text: str) -> Any:
    """What an ownership record in ``REGISTRY_DIR`` says (the site_registry role writes JSON after
    comment lines; older records are YAML). Raises ValueError when it is neither."""
    try:
        return json.loads("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    except ValueError:
        pass
    import yaml

    from provisioner import yamlfile

    try:
        return yamlfile.load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def php_version(inventory: Inventory) -> str:
    return str(inventory.settings.get("provisioner_php_version", DEFAULT_PHP_VERSION))


def php_packages(case: Case, version: str) -> list[str]:
    """The distribution's packages of the case's PHP extensions (those not built into PHP)."""
    packages = (PHP_EXTENSIONS[name][0] for name in case.php.extensions)
    return sorted({f"php{version}-{package}" for package in packages if package})


def _placeholders(case: Case, db: SiteDatabase | None, app_path: str) -> dict[str, str]:
    """What each application.env placeholder stands for, except the password (kept out of the site)."""
    scheme = "http" if case.tls == "none" else "https"
    values = {"site.fqdn": case.fqdn, "site.url": f"{scheme}://{case.fqdn}/", "app.name": case.app_name,
              "app.path": app_path}
    if db is not None:
        values.update({"db.engine": db.engine, "db.host": db.address, "db.port": str(db.port), "db.name": db.name,
                       "db.user": db.user})
    return values


def _env_var(name: str, pieces: tuple[EnvPiece, ...], values: dict[str, str]) -> EnvVar:
    parts = [""]
    for text, placeholder in pieces:
        if placeholder == "db.password":
            parts.append("")
        else:
            parts[-1] += values[placeholder] if placeholder else text
    return EnvVar(name, parts)


def _cron_line(line: str, user: str, folder: str, env_file: str) -> str:
    """A case's cron line as /etc/cron.d takes it: the user, the folder and the settings added; a
    % (a line break to cron) escaped."""
    fields = line.split(None, 1 if line.startswith("@") else 5)
    schedule, command = " ".join(fields[:-1]), fields[-1].replace("%", "\\%")
    settings = f"set -a && . {env_file} && set +a && " if env_file else ""
    return f"{schedule} {user} cd {folder} && {settings}{command}"


def _application(case: Case, root: str, db: SiteDatabase | None, env_file: str, app_path: str,
                 version: str) -> Application:
    values = _placeholders(case, db, app_path)
    return Application(
        writable=list(case.writable), shared_dir=f"{root}/shared" if case.writable else "",
        php_packages=php_packages(case, version),
        php_settings=[PhpSetting(name, value, PHP_SETTINGS[name] == "flag") for name, value in case.php.settings],
        env=[_env_var(name, pieces, values) for name, pieces in case.env],
        commands=list(case.commands), cron_file=f"{CRON_DIR}/provisioner-{case.app_name}",
        cron=[_cron_line(line, case.system_user, app_path, env_file) for line in case.cron])


def logrotate_file(case: Case) -> str:
    """The site's log rotation, named like its cron file (one per application)."""
    return f"{LOGROTATE_DIR}/provisioner-{case.app_name}"


def build(case: Case, where: Placement, inventory: Inventory, *, password_file: Path | None,
          installed: bool = True) -> Site:
    """Place ``case`` where ``where`` says: decide every path, user and port the roles will use.

    ``installed`` tells check mode (plan) that what later tasks build on already exists; for a new
    site those tasks are skipped in check mode, since their inputs do not exist yet.
    """
    www = str(inventory.settings.get("provisioner_www_root", WWW_ROOT))
    root = f"{www}/{case.fqdn}"
    user = case.system_user
    php = case.runtime == "php"
    tls = case.tls != "none"
    ip = where.ip
    web = inventory.web_host(where.web)
    db = None
    if case.database is not None:
        db_host = inventory.database_host(case.database.engine, where.db)
        db = SiteDatabase(
            engine=typing.cast(Engine, case.database.engine), name=case.database.name, user=case.database.user,
            host=db_host.name, address=db_host.address, port=DB_PORTS[case.database.engine],
            client_address=web.address,
            password_file=str(password_file or secrets.password_file(inventory.state_dir, case.id)))
    app_path = f"{root}/current" if case.release else f"{root}/public"
    paths = {
        "vhost_file": f"/etc/apache2/sites-available/{case.fqdn}.conf",
        "pool_file": f"/etc/php/{php_version(inventory)}/fpm/pool.d/{case.app_name}.conf" if php else "",
        "env_file": f"{root}/app.env" if db or case.env else "",
        "tls_cert": f"{TLS_DIR}/{case.fqdn}.crt" if tls else "",
        "tls_key": f"{TLS_DIR}/{case.fqdn}.key" if tls else "",
        "tls_csr": f"{TLS_DIR}/{case.fqdn}.csr" if case.tls in ("self-signed", "acme") else "",
        "logrotate_file": logrotate_file(case),
    }
    application = _application(case, root, db, paths["env_file"], app_path, php_version(inventory))
    paths["cron_file"] = application.cron_file if application.cron else ""
    docroot = f"{app_path}/{case.document_root}" if case.document_root else app_path
    site_vars = SiteVars(
        id=case.id, app=case.app_name, title=case.app_title, fqdn=case.fqdn, zone=case.zone,
        subdomain=case.subdomain, ip=ip, web_host=web.name, shared=case.public_ip == "shared",
        reverse_zone=inventory.reverse_zone_for(ip), ptr_name=ptr_name(ip),
        runtime=typing.cast(Runtime, case.runtime), upstream=case.upstream or "",
        tls=typing.cast(TlsMode, case.tls),
        tls_source_cert=str(case.tls_cert or ""), tls_source_key=str(case.tls_key or ""),
        tls_cert=paths["tls_cert"], tls_key=paths["tls_key"], tls_csr=paths["tls_csr"],
        acme_dir=f"{root}/acme-challenge" if case.tls == "acme" else "",
        # A removal or a trial does not need the archive (it may have moved since): no id then.
        release=str(case.release or ""),
        release_id=release_id(case.release) if case.release and case.release.is_file() else "",
        user=user, root=root, docroot=docroot, logdir=f"{root}/logs", logrotate_file=paths["logrotate_file"],
        # A release is unpacked into releases/<release_id>, which the current link points at; its
        # writable folders live in shared/, across releases.
        dirs=[SiteDir(root, "root", "root", "0755"),
              SiteDir(f"{root}/releases", "root", "root", "0755") if case.release
              else SiteDir(f"{root}/public", user, user, "0755"),
              *([SiteDir(f"{root}/shared", "root", "root", "0755")] if case.writable else []),
              *([SiteDir(f"{root}/acme-challenge", "root", "root", "0755")] if case.tls == "acme" else []),
              SiteDir(f"{root}/logs", "root", "adm", "0750")],
        vhost_file=paths["vhost_file"], vhost_link=f"/etc/apache2/sites-enabled/{case.fqdn}.conf",
        pool_file=paths["pool_file"], pool_socket=f"/run/php/provisioner-{case.app_name}.sock" if php else "",
        env_file=paths["env_file"], marker=f"{REGISTRY_DIR}/{case.id}.yml",
        files=[paths[k] for k in ("vhost_file", "pool_file", "env_file", "tls_cert", "tls_key", "tls_csr",
                                  "cron_file", "logrotate_file") if paths[k]],
        # An ACME certificate changes with every renewal: its chain and expiry are trial checks instead.
        checked_files=[paths["vhost_file"], f"/etc/apache2/sites-enabled/{case.fqdn}.conf",
                       *[paths[k] for k in ("pool_file", "env_file", "tls_cert", "tls_key", "cron_file",
                                            "logrotate_file")
                         if paths[k] and not (k == "tls_cert" and case.tls == "acme")],
                       *([f"{root}/current"] if case.release else [])],
        db_engine=db.engine if db else "none", db=db, application=application, installed=installed)
    return Site(case, ip, site_vars)


# --- the argument spec the roles declare ----------------------------------------------------

_SCALARS = {str: "str", int: "int", bool: "bool"}


def _option(hint: Any, doc: str) -> dict[str, Any]:
    """One field as an Ansible argument-spec option."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return {"type": "str", "choices": list(typing.get_args(hint)), "description": doc}
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _option(inner, doc)
    if origin is list:
        (element,) = typing.get_args(hint)
        if dataclasses.is_dataclass(element):
            return {"type": "list", "elements": "dict", "options": _options(element), "description": doc}
        return {"type": "list", "elements": _SCALARS[element], "description": doc}
    if dataclasses.is_dataclass(hint):
        return {"type": "dict", "options": _options(hint), "description": doc}
    return {"type": _SCALARS[hint], "description": doc}


def _options(model: Any) -> dict[str, Any]:
    """Each field of ``model``: its type (``Annotated[type, description]``), and required or its default."""
    hints = typing.get_type_hints(model, include_extras=True)
    out: dict[str, Any] = {}
    for item in dataclasses.fields(model):
        hint, doc = typing.get_args(hints[item.name])
        option = _option(hint, doc)
        if item.default is dataclasses.MISSING:
            option["required"] = True
        elif item.default is not None:
            option["default"] = item.default
        out[item.name] = dict(sorted(option.items()))
    return out


def argument_spec() -> dict[str, Any]:
    """The options of one element of a role's ``<role>_sites`` list, as argument_specs.yml declares them."""
    return _options(SiteVars)


def checked(sites: list[dict[str, Any]]) -> bool:
    """Whether every site passes the roles' site spec, by Ansible's own validator, once for the run.
    Every role's ``<role>_sites`` is these sites (selected by host: tests/unit/test_site_contract.py)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # type: ignore[import-untyped]

    spec = {"sites": {"type": "list", "elements": "dict", "options": argument_spec()}}
    return not ArgumentSpecValidator(spec).validate({"sites": sites}, validate_role_argument_spec=True).error_messages
