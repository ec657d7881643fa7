"""The case model: one approved request (CASE-FORMAT.md), loaded and validated.

Validation collects every problem with its field path before raising, so the engineer fixes the
file in one pass. Limits are checked on derived values too (a database name defaulted from the
application name must still fit the engine).
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from provisioner.errors import FieldError, InvalidInput, Refused
from provisioner.release import archive_problems
from provisioner.yamlfile import load_mapping

CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
APP_NAME = re.compile(r"[a-z][a-z0-9-]{1,30}")
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
DB_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

DB_LIMITS = {"mariadb": {"name": 64, "user": 80}, "postgresql": {"name": 63, "user": 63}}
FQDN_MAX = 253
LABEL_MAX = 63

# Names a case may not take: they belong to the name servers, mail and the systems themselves.
RESERVED_SUBDOMAINS = frozenset({
    "www", "mail", "webmail", "smtp", "imap", "pop", "pop3", "mx", "ns", "ns1", "ns2", "ns3", "ns4", "dns",
    "ftp", "localhost", "autodiscover", "autoconfig", "admin", "hostmaster", "postmaster", "_dmarc",
})
RESERVED_USERS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "nobody", "systemd-network", "systemd-resolve", "messagebus", "sshd", "bind",
    "mysql", "postgres", "mariadb", "adm", "staff", "sudo", "provisioner",
})
RESERVED_DATABASES = frozenset({
    "mysql", "information_schema", "performance_schema", "sys", "postgres", "template0", "template1",
})
RESERVED_DB_USERS = frozenset({"root", "mysql", "mariadb.sys", "postgres", "admin", "pg_monitor"})

APPROVAL_STATUSES = ("pending", "approved", "rejected")
CATEGORIES = ("umum", "khusus")
SOURCES = ("vendor", "inhouse")
RUNTIMES = ("static", "php", "proxy")
TLS_MODES = ("none", "self-signed", "provided")
ENGINES = ("mariadb", "postgresql", "none")

SCHEMA_KEYS: dict[str, tuple[str, ...]] = {
    "": ("id", "opd", "letter", "approval", "application", "hosting", "contact", "sop"),
    "opd": ("code", "name"),
    "letter": ("number", "date"),
    "approval": ("status", "by", "date"),
    "application": (
        "name", "title", "category", "source", "vendor", "runtime", "upstream", "release", "trial",
    ),
    "hosting": ("subdomain", "zone", "public_ip", "tls", "tls_cert", "tls_key", "database"),
    "hosting.database": ("engine", "name", "user"),
    "contact": ("name", "email"),
}
TRIAL_KEYS = ("path", "status", "contains")
SOP_KEYS = ("step", "done")


@dataclass(frozen=True)
class TrialCheck:
    path: str
    status: int = 200
    contains: str | None = None


@dataclass(frozen=True)
class Database:
    engine: str
    name: str
    user: str


@dataclass(frozen=True)
class Case:
    """A validated case. ``source`` is the file it came from; relative paths resolve beside it."""

    id: str
    opd_code: str
    opd_name: str
    letter_number: str
    letter_date: dt.date
    approval_status: str
    approval_by: str | None
    approval_date: dt.date | None
    app_name: str
    app_title: str
    category: str
    source_kind: str
    vendor: str | None
    runtime: str
    upstream: str | None
    release: Path | None
    trial: tuple[TrialCheck, ...]
    subdomain: str
    zone: str
    public_ip: str
    tls: str
    tls_cert: Path | None
    tls_key: Path | None
    database: Database | None
    contact_name: str
    contact_email: str
    sop: tuple[tuple[int, dt.datetime], ...] = field(default=())
    source: Path | None = None

    @property
    def fqdn(self) -> str:
        return f"{self.subdomain}.{self.zone}"

    @property
    def system_user(self) -> str:
        return self.app_name


class _Collector:
    """Reads typed fields out of nested mappings, recording each problem with its path."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def mapping(self, data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            self.error(path, "is required: a mapping of fields")
            return {}
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping of fields, not {type(value).__name__}")
            return {}
        self.unknown_keys(value, path)
        return value

    def unknown_keys(self, value: dict[str, Any], path: str) -> None:
        allowed = SCHEMA_KEYS[path]
        for key in value:
            if key in allowed:
                continue
            full = f"{path}.{key}" if path else str(key)
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; allowed: {', '.join(allowed)}"
            self.error(full, f"unknown field{suggestion}")

    def text(self, data: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.error(path, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(path, f"must be text, not {type(value).__name__}")
            return None
        text = str(value)
        if any(ord(ch) < 32 and ch not in "\t" for ch in text):
            self.error(path, "must not contain control characters or line breaks")
            return None
        return text

    def pattern(self, data: dict[str, Any], key: str, path: str, regex: re.Pattern[str], rule: str) -> str | None:
        value = self.text(data, key, path)
        if value is not None and not regex.fullmatch(value):
            self.error(path, f"'{value}' is not allowed: {rule}")
            return None
        return value

    def choice(self, data: dict[str, Any], key: str, path: str, allowed: tuple[str, ...],
               default: str | None = None) -> str | None:
        value = data.get(key, default)
        if value is None:
            self.error(path, f"is required: one of {', '.join(allowed)}")
            return None
        if not isinstance(value, str) or value not in allowed:
            self.error(path, f"'{value}' is not allowed: one of {', '.join(allowed)}")
            return None
        return value

    def date(self, data: dict[str, Any], key: str, path: str) -> dt.date | None:
        value = data.get(key)
        if value is None:
            self.error(path, "is required: a date YYYY-MM-DD")
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.error(path, f"'{value}' is not a date: write YYYY-MM-DD")
            return None


def _validate_upstream(col: _Collector, app: dict[str, Any], runtime: str | None) -> str | None:
    upstream = col.text(app, "upstream", "application.upstream", required=runtime == "proxy")
    if upstream is None:
        return None
    if runtime != "proxy":
        col.error("application.upstream", "is only allowed when application.runtime is proxy")
        return None
    match = re.fullmatch(r"(https?)://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?(/[^\s\"'<>]*)?", upstream)
    if not match:
        col.error("application.upstream", f"'{upstream}' is not allowed: an http:// or https:// URL")
        return None
    if match.group(3) and not 0 < int(match.group(3)[1:]) < 65536:
        col.error("application.upstream", f"port {match.group(3)[1:]} is out of range 1-65535")
        return None
    return upstream


def _validate_trial(col: _Collector, app: dict[str, Any]) -> tuple[TrialCheck, ...]:
    raw = app.get("trial")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        col.error("application.trial", "must be a list of checks {path, status, contains}")
        return ()
    checks = []
    for index, item in enumerate(raw):
        path = f"application.trial[{index}]"
        if not isinstance(item, dict):
            col.error(path, "must be a mapping {path, status, contains}")
            continue
        for key in item:
            if key not in TRIAL_KEYS:
                col.error(f"{path}.{key}", f"unknown field; allowed: {', '.join(TRIAL_KEYS)}")
        url_path = col.text(item, "path", f"{path}.path")
        if url_path is not None and (not url_path.startswith("/") or any(c.isspace() for c in url_path)):
            col.error(f"{path}.path", f"'{url_path}' is not allowed: a URL path starting with / and no spaces")
            url_path = None
        status = item.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            col.error(f"{path}.status", f"'{status}' is not allowed: an HTTP status 100-599")
            status = None
        contains = col.text(item, "contains", f"{path}.contains", required=False)
        if url_path is not None and status is not None:
            checks.append(TrialCheck(url_path, status, contains))
    return tuple(checks)


def _validate_release(col: _Collector, app: dict[str, Any], base: Path) -> Path | None:
    release = col.text(app, "release", "application.release", required=False)
    if release is None:
        return None
    path = (base / release).resolve()
    if not path.is_file():
        col.error("application.release", f"'{release}' does not exist (looked for {path})")
        return None
    if not path.name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".zip")):
        col.error("application.release", f"'{release}' is not allowed: a .tar.gz, .tgz, .tar, .tar.bz2, "
                  ".tar.xz or .zip archive")
        return None
    problems = archive_problems(path)
    for problem in problems:
        col.error("application.release", f"'{release}' {problem}")
    return None if problems else path


def _validate_database(col: _Collector, hosting: dict[str, Any], app_name: str | None) -> Database | None:
    raw = hosting.get("database")
    if raw is None:
        raw = {"engine": "none"}
    if not isinstance(raw, dict):
        col.error("hosting.database", "must be a mapping {engine, name, user}")
        return None
    col.unknown_keys(raw, "hosting.database")
    engine = col.choice(raw, "engine", "hosting.database.engine", ENGINES)
    if engine in (None, "none"):
        for key in ("name", "user"):
            if raw.get(key) is not None and engine == "none":
                col.error(f"hosting.database.{key}", "is only allowed when an engine is chosen")
        return None
    default = app_name.replace("-", "_") if app_name else None
    values: dict[str, str] = {}
    for key in ("name", "user"):
        path = f"hosting.database.{key}"
        value = col.text(raw, key, path, required=False) or default
        if value is None:
            continue
        limit = DB_LIMITS[engine][key]
        derived = "" if raw.get(key) else " (derived from application.name)"
        if not DB_IDENT.fullmatch(value):
            col.error(path, f"'{value}'{derived} is not allowed: lower-case letters, digits and _, "
                      "not starting with a digit")
        elif len(value) > limit:
            col.error(path, f"'{value}'{derived} is {len(value)} characters; {engine} allows at most {limit}")
        elif value in (RESERVED_DATABASES if key == "name" else RESERVED_DB_USERS):
            col.error(path, f"'{value}'{derived} is reserved for the database server itself; choose another")
        else:
            values[key] = value
    if "name" in values and "user" in values:
        return Database(engine, values["name"], values["user"])
    return None


def _punycode_hint(label: str) -> str:
    try:
        return f" ({label.lower().encode('idna').decode()})"
    except UnicodeError:
        return ""


def _validate_hosting(col: _Collector, data: dict[str, Any], base: Path) -> dict[str, Any]:
    hosting = col.mapping(data, "hosting", "hosting")
    out: dict[str, Any] = {}
    raw_subdomain = hosting.get("subdomain")
    if isinstance(raw_subdomain, str) and not raw_subdomain.isascii():
        col.error("hosting.subdomain", f"'{raw_subdomain}' has non-ASCII letters: Unicode names are refused, "
                  f"write the IDNA form{_punycode_hint(raw_subdomain)}")
        out["subdomain"] = None
    else:
        out["subdomain"] = col.pattern(hosting, "subdomain", "hosting.subdomain", DNS_LABEL,
                                       "one DNS label: a-z, 0-9 and -, not starting or ending with -, "
                                       f"at most {LABEL_MAX} characters")
    if out["subdomain"] in RESERVED_SUBDOMAINS:
        col.error("hosting.subdomain", f"'{out['subdomain']}' is reserved (name servers, mail, the zone's own "
                  "services); choose another")
        out["subdomain"] = None
    zone = col.text(hosting, "zone", "hosting.zone")
    if zone is not None:
        labels = zone.split(".")
        if not all(DNS_LABEL.fullmatch(label) for label in labels) or len(labels) < 2:
            col.error("hosting.zone", f"'{zone}' is not allowed: a domain of lower-case DNS labels, "
                      "no trailing dot")
            zone = None
    out["zone"] = zone
    if out["subdomain"] and zone and len(f"{out['subdomain']}.{zone}") > FQDN_MAX:
        col.error("hosting.subdomain", f"the name {out['subdomain']}.{zone} is longer than {FQDN_MAX}")
    public_ip = hosting.get("public_ip", "auto")
    if public_ip != "auto":
        try:
            public_ip = str(ipaddress.IPv4Address(str(public_ip)))
        except ValueError:
            col.error("hosting.public_ip", f"'{public_ip}' is not allowed: auto or an IPv4 address of the pool")
            public_ip = None
    out["public_ip"] = public_ip
    out["tls"] = col.choice(hosting, "tls", "hosting.tls", TLS_MODES, default="none")
    for key in ("tls_cert", "tls_key"):
        path_text = col.text(hosting, key, f"hosting.{key}", required=out["tls"] == "provided")
        out[key] = None
        if path_text is None:
            continue
        if out["tls"] != "provided":
            col.error(f"hosting.{key}", "is only allowed when hosting.tls is provided")
            continue
        resolved = (base / path_text).resolve()
        if not resolved.is_file():
            col.error(f"hosting.{key}", f"'{path_text}' does not exist (looked for {resolved})")
            continue
        out[key] = resolved
    if out["tls_cert"] and out["tls_key"]:
        fqdn = f"{out['subdomain']}.{zone}" if out["subdomain"] and zone else None
        for path, message in check_certificate_pair(out["tls_cert"], out["tls_key"], fqdn):
            col.error(path, message)
    return {**out, "raw": hosting}


def check_certificate_pair(cert_path: Path, key_path: Path, fqdn: str | None) -> list[tuple[str, str]]:
    """A provided certificate must be one, match its key, name the site and be valid now.

    Apache's configtest does not read certificates: a bad one would only fail at the reload, and
    take the running server down with it. So it is refused here, before anything changes.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return [("hosting.tls_cert", f"{cert_path} is not a PEM certificate")]
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return [("hosting.tls_key", f"{key_path} is not an unencrypted PEM private key")]
    problems = []
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, public):
        problems.append(("hosting.tls_key", f"{key_path} does not belong to the certificate {cert_path}"))
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if fqdn and fqdn not in names:
        problems.append(("hosting.tls_cert", f"the certificate names {', '.join(names) or 'no DNS name'}, "
                                             f"not {fqdn}"))
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problems.append(("hosting.tls_cert", f"the certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d} "
                                             f"to {cert.not_valid_after_utc:%Y-%m-%d}, not now"))
    return problems


def _validate_sop(col: _Collector, data: dict[str, Any]) -> tuple[tuple[int, dt.datetime], ...]:
    raw = data.get("sop")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        col.error("sop", "must be a list of {step, done}")
        return ()
    steps = []
    for index, item in enumerate(raw):
        path = f"sop[{index}]"
        if not isinstance(item, dict):
            col.error(path, "must be a mapping {step, done}")
            continue
        for key in item:
            if key not in SOP_KEYS:
                col.error(f"{path}.{key}", f"unknown field; allowed: {', '.join(SOP_KEYS)}")
        step = item.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 11:
            col.error(f"{path}.step", f"'{step}' is not allowed: a step number 1-11")
            continue
        done = item.get("done")
        try:
            when = done if isinstance(done, dt.datetime) else dt.datetime.fromisoformat(str(done))
        except ValueError:
            col.error(f"{path}.done", f"'{done}' is not a time: write 2026-10-02T09:00:00+08:00")
            continue
        if when.tzinfo is None:
            col.error(f"{path}.done", f"'{done}' has no offset: write it as 2026-10-02T09:00:00+08:00")
            continue
        steps.append((step, when))
    return tuple(steps)


def parse_case(data: dict[str, Any], base: Path, source: Path | None = None) -> Case:
    """Validate a mapping as a case; raise InvalidInput listing every problem."""
    col = _Collector()
    col.unknown_keys(data, "")
    case_id = col.pattern(data, "id", "id", CASE_ID,
                          "a letter or digit, then letters, digits, '.', '_' or '-', at most 40 characters")
    opd = col.mapping(data, "opd", "opd")
    opd_code = col.text(opd, "code", "opd.code")
    opd_name = col.text(opd, "name", "opd.name")
    letter = col.mapping(data, "letter", "letter")
    letter_number = col.text(letter, "number", "letter.number")
    letter_date = col.date(letter, "date", "letter.date")
    approval = col.mapping(data, "approval", "approval")
    status = col.choice(approval, "status", "approval.status", APPROVAL_STATUSES)
    decided = status in ("approved", "rejected")
    approval_by = col.text(approval, "by", "approval.by", required=decided)
    approval_date = col.date(approval, "date", "approval.date") if decided or "date" in approval else None

    app = col.mapping(data, "application", "application")
    app_name = col.pattern(app, "name", "application.name", APP_NAME,
                           "a lower-case letter, then 1-30 of a-z, 0-9 and -")
    if app_name in RESERVED_USERS:
        col.error("application.name", f"'{app_name}' is a system account name (it becomes the application's "
                  "system user); choose another")
        app_name = None
    app_title = col.text(app, "title", "application.title")
    category = col.choice(app, "category", "application.category", CATEGORIES)
    source_kind = col.choice(app, "source", "application.source", SOURCES)
    vendor = col.text(app, "vendor", "application.vendor", required=source_kind == "vendor")
    runtime = col.choice(app, "runtime", "application.runtime", RUNTIMES)
    upstream = _validate_upstream(col, app, runtime)
    release = _validate_release(col, app, base)
    trial = _validate_trial(col, app)

    hosting = _validate_hosting(col, data, base)
    database = _validate_database(col, hosting["raw"], app_name)

    contact = col.mapping(data, "contact", "contact")
    contact_name = col.text(contact, "name", "contact.name")
    contact_email = col.pattern(contact, "email", "contact.email", EMAIL, "an e-mail address")
    sop = _validate_sop(col, data)

    if col.errors:
        where = f" in {source}" if source else ""
        raise InvalidInput(f"the case{where} is invalid ({len(col.errors)} problems)", col.errors)
    return Case(
        id=case_id, opd_code=opd_code, opd_name=opd_name,  # type: ignore[arg-type]
        letter_number=letter_number, letter_date=letter_date,  # type: ignore[arg-type]
        approval_status=status, approval_by=approval_by, approval_date=approval_date,  # type: ignore[arg-type]
        app_name=app_name, app_title=app_title, category=category,  # type: ignore[arg-type]
        source_kind=source_kind, vendor=vendor, runtime=runtime, upstream=upstream,  # type: ignore[arg-type]
        release=release, trial=trial,
        subdomain=hosting["subdomain"], zone=hosting["zone"], public_ip=hosting["public_ip"],
        tls=hosting["tls"], tls_cert=hosting["tls_cert"], tls_key=hosting["tls_key"],
        database=database, contact_name=contact_name, contact_email=contact_email,  # type: ignore[arg-type]
        sop=sop, source=source,
    )


def load_case(path: Path) -> Case:
    """Read and validate one case file."""
    return parse_case(load_mapping(path, "case file"), path.resolve().parent, source=path)


def require_approved(case: Case) -> None:
    """Only an approved case may change servers (SOP step 5 comes before step 9)."""
    if case.approval_status != "approved":
        raise Refused(
            f"case {case.id} is not approved (approval.status is {case.approval_status}); "
            "only approved cases may be applied",
            [FieldError("approval.status", f"is {case.approval_status}; must be approved to apply")],
        )


def scaffold(fields: dict[str, Any]) -> str:
    """A new case file (status pending) from the engineer's answers; invalid answers raise.

    ``fields`` keys: id, opd_code, opd_name, letter_number, letter_date, name, title, category,
    source, vendor, runtime, upstream, subdomain, zone, engine, contact_name, contact_email.
    """
    data: dict[str, Any] = {
        "id": fields["id"],
        "opd": {"code": fields["opd_code"], "name": fields["opd_name"]},
        "letter": {"number": fields["letter_number"], "date": fields["letter_date"]},
        "approval": {"status": "pending"},
        "application": {"name": fields["name"], "title": fields["title"], "category": fields["category"],
                        "source": fields["source"], "runtime": fields["runtime"]},
        "hosting": {"subdomain": fields.get("subdomain") or fields["name"], "zone": fields["zone"],
                    "public_ip": "auto", "tls": "self-signed", "database": {"engine": fields["engine"]}},
        "contact": {"name": fields["contact_name"], "email": fields["contact_email"]},
    }
    if fields.get("vendor"):
        data["application"]["vendor"] = fields["vendor"]
    if fields.get("upstream"):
        data["application"]["upstream"] = fields["upstream"]
    parse_case(data, Path.cwd())
    header = ("# Kasus baru (new case), written by `provisioner case new`. When the decision is made\n"
              "# (SOP step 5), set approval.status, approval.by and approval.date.\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
