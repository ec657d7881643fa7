"""The case model: one approved request (CASE-FORMAT.md), loaded and validated.

Validation collects every problem with its field path before raising, so the engineer fixes the
file in one pass. Limits are checked on derived values too (a database name defaulted from the
application name must still fit the engine). The rules themselves (patterns, choices, limits,
keys) live in ``provisioner.case_schema``, which also builds the JSON Schema from them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from provisioner.case_schema import (
    APP_NAME,
    APP_NAME_MAX,
    APPROVAL_STATUSES,
    CASE_ID,
    CASE_ID_MAX,
    CATEGORIES,
    COMMAND_MAX,
    CONTROL_CHARACTERS,
    CRON_LINE,
    DB_IDENT,
    DB_LIMITS,
    DECIDED_STATUSES,
    DEFAULT_TLS,
    DEFAULT_TRIAL_STATUS,
    DNS_LABEL,
    EMAIL,
    ENGINES,
    ENV_NAME,
    ENV_PLACEHOLDER,
    ENV_PLACEHOLDERS,
    ENV_VALUE,
    FQDN_MAX,
    HOST_NAME,
    HTTP_STATUSES,
    LABEL_MAX,
    LIST_MAX,
    NO_ENGINE,
    PHP_COUNT_MAX,
    PHP_EXTENSIONS,
    PHP_KEYS,
    PHP_RUNTIME,
    PHP_SECONDS_MAX,
    PHP_SETTING_KINDS,
    PHP_SETTINGS,
    PHP_SIZE,
    PHP_UNLIMITED,
    PROVIDED_TLS,
    PROXY_RUNTIME,
    PUBLIC_IP_AUTO,
    PUBLIC_IP_SHARED,
    RELEASE_FOLDER,
    RELEASE_FOLDER_MAX,
    RELEASE_ONLY,
    RELEASE_SUFFIXES,
    RESERVED_DATABASES,
    RESERVED_DB_USERS,
    RESERVED_ENV,
    RESERVED_SUBDOMAINS,
    RESERVED_USERS,
    RUNTIMES,
    SCHEMA_KEYS,
    SOP_KEYS,
    SOP_STEPS,
    SOURCES,
    TLS_MODES,
    TRIAL_KEYS,
    TRIAL_PATH,
    UPSTREAM_URL,
    VENDOR_SOURCE,
    ZONE,
)
from provisioner.certificates import check_certificate_pair
from provisioner.errors import FieldError, InvalidInput, Refused
from provisioner.language import N_, _
from provisioner.release import archive_problems
from provisioner.yamlfile import load_mapping

# A case file is a page of fields, four levels deep at most: anything larger, nested deeper or with
# YAML anchors is refused before the YAML is built.
MAX_CASE_BYTES = 1024 * 1024
MAX_CASE_DEPTH = 16
MAX_UNKNOWN_LISTED = 20  # unknown fields named (with "did you mean") in one mapping; the rest are counted

T = TypeVar("T")


@dataclass(frozen=True)
class TrialCheck:
    path: str
    status: int = DEFAULT_TRIAL_STATUS
    contains: str | None = None


@dataclass(frozen=True)
class Database:
    engine: str
    name: str
    user: str
    server: str | None = None  # the engine's host (an inventory name); None: placed automatically


@dataclass(frozen=True)
class PhpConfig:
    """application.php: extension names as the case gives them, php.ini values as the pool writes
    them (flags as on/off)."""

    extensions: tuple[str, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()


# One piece of an application.env value: literal text, or a placeholder's name (db.name, ...).
EnvPiece = tuple[str, str | None]


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
    server: str | None = None  # the web host (an inventory name); None: placed automatically
    document_root: str | None = None  # inside the release; None: its top folder
    writable: tuple[str, ...] = ()  # folders inside the release the application may write
    php: PhpConfig = PhpConfig()
    env: tuple[tuple[str, tuple[EnvPiece, ...]], ...] = ()  # (name, its value's pieces)
    commands: tuple[str, ...] = ()
    cron: tuple[str, ...] = ()

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
            self.error(path, _("is required: a mapping of fields"))
            return {}
        if not isinstance(value, dict):
            self.error(path, _("must be a mapping of fields, not {kind}").format(kind=type(value).__name__))
            return {}
        self.unknown_keys(value, path)
        return value

    def unknown_keys(self, value: dict[str, Any], path: str) -> None:
        allowed = SCHEMA_KEYS[path]
        unknown = [key for key in value if key not in allowed]
        for key in unknown[:MAX_UNKNOWN_LISTED]:
            full = f"{path}.{key}" if path else str(key)
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            self.error(full, _("unknown field; did you mean '{hint}'?").format(hint=hint[0]) if hint
                       else _("unknown field; allowed: {allowed}").format(allowed=", ".join(allowed)))
        if len(unknown) > MAX_UNKNOWN_LISTED:  # a file of junk: the first ones named, the rest counted
            self.error(path, _("{count} more unknown fields; allowed: {allowed}").format(
                count=len(unknown) - MAX_UNKNOWN_LISTED, allowed=", ".join(allowed)))

    def optional(self, data: dict[str, Any], key: str, path: str, kind: type[T], message: str) -> T | None:
        """An optional list or mapping: None when absent, or (with ``message``, saying what it must
        be) of another kind."""
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, kind):
            self.error(path, message)
            return None
        return value

    def text(self, data: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.error(path, _("is required"))
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(path, _("must be text, not {kind}").format(kind=type(value).__name__))
            return None
        text = str(value)
        if CONTROL_CHARACTERS.search(text):
            self.error(path, _("must not contain control characters or line breaks"))
            return None
        return text

    def pattern(self, data: dict[str, Any], key: str, path: str, regex: re.Pattern[str], rule: str) -> str | None:
        value = self.text(data, key, path)
        if value is not None and not regex.fullmatch(value):
            self.error(path, _("'{value}' is not allowed: {rule}").format(value=value, rule=_(rule)))
            return None
        return value

    def choice(self, data: dict[str, Any], key: str, path: str, allowed: tuple[str, ...],
               default: str | None = None) -> str | None:
        value = data.get(key, default)
        if value is None:
            self.error(path, _("is required: one of {allowed}").format(allowed=", ".join(allowed)))
            return None
        if not isinstance(value, str) or value not in allowed:
            self.error(path, _("'{value}' is not allowed: one of {allowed}").format(value=value,
                                                                                     allowed=", ".join(allowed)))
            return None
        return value

    def date(self, data: dict[str, Any], key: str, path: str) -> dt.date | None:
        value = data.get(key)
        if value is None:
            self.error(path, _("is required: a date YYYY-MM-DD"))
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.error(path, _("'{value}' is not a date: write YYYY-MM-DD").format(value=value))
            return None


def _validate_upstream(col: _Collector, app: dict[str, Any], runtime: str | None) -> str | None:
    upstream = col.text(app, "upstream", "application.upstream", required=runtime == PROXY_RUNTIME)
    if upstream is None:
        return None
    if runtime != PROXY_RUNTIME:
        col.error("application.upstream", _("is only allowed when application.runtime is proxy"))
        return None
    match = UPSTREAM_URL.fullmatch(upstream)
    if not match:
        col.error("application.upstream", _("'{value}' is not allowed: an http:// or https:// URL").format(
            value=upstream))
        return None
    if match.group(3) and not 0 < int(match.group(3)[1:]) < 65536:
        col.error("application.upstream", _("port {port} is out of range 1-65535").format(port=match.group(3)[1:]))
        return None
    return upstream


def _validate_trial(col: _Collector, app: dict[str, Any]) -> tuple[TrialCheck, ...]:
    raw = col.optional(app, "trial", "application.trial", list, _("must be a list of checks {path, status, contains}"))
    checks: list[TrialCheck] = []
    for index, item in enumerate(raw or []):
        path = f"application.trial[{index}]"
        if not isinstance(item, dict):
            col.error(path, _("must be a mapping {path, status, contains}"))
            continue
        for key in item:
            if key not in TRIAL_KEYS:
                col.error(f"{path}.{key}", _("unknown field; allowed: {allowed}").format(allowed=", ".join(TRIAL_KEYS)))
        url_path = col.text(item, "path", f"{path}.path")
        if url_path is not None and not TRIAL_PATH.fullmatch(url_path):
            col.error(f"{path}.path", _("'{value}' is not allowed: a URL path starting with / and no spaces").format(
                value=url_path))
            url_path = None
        status = item.get("status", DEFAULT_TRIAL_STATUS)
        if isinstance(status, bool) or not isinstance(status, int) or status not in HTTP_STATUSES:
            col.error(f"{path}.status", _("'{value}' is not allowed: an HTTP status {lowest}-{highest}").format(
                value=status, lowest=HTTP_STATUSES[0], highest=HTTP_STATUSES[-1]))
            status = None
        contains = col.text(item, "contains", f"{path}.contains", required=False)
        if url_path is not None and isinstance(status, int):
            checks.append(TrialCheck(url_path, status, contains))
    return tuple(checks)


def _validate_release(col: _Collector, app: dict[str, Any], base: Path, needed: bool = True) -> Path | None:
    """The release archive, checked; when it is not ``needed`` (destroy, verify), a missing one is
    taken as named: removing or trialling a site never needs its release."""
    release = col.text(app, "release", "application.release", required=False)
    if release is None:
        return None
    path = (base / release).resolve()
    if not needed and not path.is_file():
        return path
    if not path.is_file():
        col.error("application.release", _("'{value}' does not exist (looked for {path})").format(value=release,
                                                                                                  path=path))
        return None
    if not path.name.endswith(RELEASE_SUFFIXES):
        kinds = f"{', '.join(RELEASE_SUFFIXES[:-1])} or {RELEASE_SUFFIXES[-1]}"
        col.error("application.release", _("'{value}' is not allowed: a {kinds} archive").format(value=release,
                                                                                                  kinds=kinds))
        return None
    problems = archive_problems(path)
    for problem in problems:
        col.error("application.release", f"'{release}' {problem}")
    return None if problems else path


def _listed(col: _Collector, data: dict[str, Any], path: str, message: str) -> list[tuple[str, Any]]:
    """(path, item) of the list field at ``path`` (of at most LIST_MAX items), read from ``data``,
    its mapping; a missing or null field is empty, another kind is told by ``message``."""
    raw = col.optional(data, path.rpartition(".")[2], path, list, message)
    if raw is None:
        return []
    if len(raw) > LIST_MAX:
        col.error(path, _("has {count} items; at most {limit}").format(count=len(raw), limit=LIST_MAX))
        return []
    return [(f"{path}[{index}]", item) for index, item in enumerate(raw)]


def _folder(col: _Collector, value: Any, path: str) -> str | None:
    """A folder inside the release, relative to its top."""
    if not isinstance(value, str) or not value:
        col.error(path, _("must be a folder inside the release, as text (public, wp-content/uploads)"))
        return None
    if value.startswith("/"):
        col.error(path, _("'{value}' is absolute: give a folder inside the release, relative to its top "
                          "(public)").format(value=value))
    elif ".." in value.split("/"):
        col.error(path, _("'{value}' leaves the release ('..'): give a folder inside it").format(value=value))
    elif len(value) > RELEASE_FOLDER_MAX or not RELEASE_FOLDER.fullmatch(value):
        col.error(path, _("'{value}' is not allowed: folder names of letters, digits, '.', '_' and '-' (not "
                          "starting with '.'), separated by '/', no final '/', at most {limit} characters").format(
            value=value, limit=RELEASE_FOLDER_MAX))
    else:
        return value
    return None


def _inside(folder: str, parent: str) -> bool:
    return folder == parent or folder.startswith(parent + "/")


def _validate_layout(col: _Collector, app: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """application.document_root and application.writable (only with a release)."""
    if app.get("release") in (None, ""):
        for key in RELEASE_ONLY:
            if app.get(key) not in (None, [], ""):
                col.error(f"application.{key}", _("is only allowed with application.release (it is about the "
                                                    "release's folders)"))
        return None, ()
    document_root = None
    if app.get("document_root") is not None:
        document_root = _folder(col, app["document_root"], "application.document_root")
    writable: list[str] = []
    for path, item in _listed(col, app, "application.writable", _("must be a list of folders inside the release")):
        folder = _folder(col, item, path)
        if folder is None:
            continue
        clash = next((w for w in writable if _inside(folder, w) or _inside(w, folder)), None)
        if clash is not None:
            col.error(path, _("'{folder}' overlaps '{other}': list each writable folder once, none inside "
                              "another").format(folder=folder, other=clash))
        elif document_root is not None and _inside(document_root, folder):
            col.error(path, _("'{folder}' holds the document root ({document_root}): the served code would be "
                              "writable; list only the folders the application writes into").format(
                folder=folder, document_root=document_root))
        else:
            writable.append(folder)
    return document_root, tuple(writable)


def _php_value(col: _Collector, key: str, value: Any, path: str) -> str | None:
    """One php.ini setting as the pool writes it; None (with an error) when it is not allowed."""
    kind = PHP_SETTINGS[key]
    rule = _("'{value}' is not allowed for {key}: {rule}").format(value=value, key=key,
                                                                   rule=_(PHP_SETTING_KINDS[kind]))
    if kind == "flag":
        if isinstance(value, bool):
            return "on" if value else "off"
    elif kind == "size":
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if PHP_SIZE.fullmatch(text) or (text == "-1" and key == PHP_UNLIMITED):
            return text
    elif kind == "timezone":
        try:
            if isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*", value):
                zoneinfo.ZoneInfo(value)
                return value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        low, high = (0, PHP_SECONDS_MAX) if kind == "seconds" else (1, PHP_COUNT_MAX)
        if low <= value <= high:
            return str(value)
    col.error(path, rule)
    return None


def _bytes(size: str) -> int:
    return int(size[:-1]) * 1024 ** " KMG".index(size[-1]) if size[-1] in "KMG" else int(size)


def _validate_php(col: _Collector, app: dict[str, Any], runtime: str | None) -> PhpConfig:
    if app.get("php") is not None and runtime != PHP_RUNTIME:
        col.error("application.php", _("is only allowed when application.runtime is php"))
        return PhpConfig()
    raw = col.optional(app, "php", "application.php", dict, _("must be a mapping {extensions, settings}"))
    if raw is None:
        return PhpConfig()
    for key in raw:
        if key not in PHP_KEYS:
            col.error(f"application.php.{key}", _("unknown field; allowed: {allowed}").format(
                allowed=", ".join(PHP_KEYS)))
    extensions: list[str] = []
    for path, name in _listed(col, raw, "application.php.extensions", _("must be a list of extension names")):
        if not isinstance(name, str) or name not in PHP_EXTENSIONS:
            hint = difflib.get_close_matches(str(name), PHP_EXTENSIONS, n=1)
            known = ", ".join(sorted(PHP_EXTENSIONS))
            col.error(path, _("'{value}' is not a known extension (did you mean '{hint}'?); known: {known}").format(
                value=name, hint=hint[0], known=known) if hint else
                _("'{value}' is not a known extension; known: {known}").format(value=name, known=known))
        elif name not in extensions:
            extensions.append(name)
    settings: dict[str, str] = {}
    given = col.optional(raw, "settings", "application.php.settings", dict,
                         _("must be a mapping of php.ini keys to values"))
    for key, value in (given or {}).items():
        path = f"application.php.settings.{key}"
        if key not in PHP_SETTINGS:
            col.error(path, _("is not a setting a case may change; allowed: {allowed}").format(
                allowed=", ".join(PHP_SETTINGS)))
            continue
        text = _php_value(col, key, value, path)
        if text is not None:
            settings[key] = text
    post, upload = settings.get("post_max_size"), settings.get("upload_max_filesize")
    if post and upload and post != "-1" and _bytes(post) < _bytes(upload):
        col.error("application.php.settings.post_max_size",
                  _("{post} is less than upload_max_filesize {upload}: PHP would drop such uploads; make it "
                    "larger").format(post=post, upload=upload))
    return PhpConfig(tuple(extensions), tuple(settings.items()))


def env_pieces(value: str) -> tuple[EnvPiece, ...]:
    """An application.env value as literal text and placeholders, in order.

    Raises ValueError saying what is wrong: an unknown placeholder or a lone brace.
    """
    pieces: list[EnvPiece] = []
    literal: list[str] = []
    position = 0
    for match in ENV_PLACEHOLDER.finditer(value):
        literal.append(value[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(_("has a lone '{brace}': write {braces} for a brace, or a placeholder such as "
                               "{example}").format(brace=token, braces=token * 2, example="{db.name}"))
        if name not in ENV_PLACEHOLDERS:
            known = ", ".join("{" + known + "}" for known in ENV_PLACEHOLDERS)
            raise ValueError(_("{placeholder} is not a placeholder; known: {known}").format(
                placeholder="{" + name + "}", known=known))
        if "".join(literal):
            pieces.append(("".join(literal), None))
        literal = []
        pieces.append(("", name))
    literal.append(value[position:])
    if "".join(literal) or not pieces:
        pieces.append(("".join(literal), None))
    return tuple(pieces)


def _validate_env(col: _Collector, app: dict[str, Any],
                  has_database: bool) -> tuple[tuple[str, tuple[EnvPiece, ...]], ...]:
    raw = col.optional(app, "env", "application.env", dict, _("must be a mapping of variable names to values")) or {}
    env = []
    for name, value in raw.items():
        path = f"application.env.{name}"
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            col.error(path, _("is not allowed as a name: a letter or _, then letters, digits and _, at most 64"))
            continue
        if name in RESERVED_ENV:
            col.error(path, _("is set by the provisioner or the system (DB_* are given already); choose another "
                              "name"))
            continue
        text = "" if value == "" else col.text(raw, name, path)
        if text is None:
            continue
        if not ENV_VALUE.fullmatch(text):
            col.error(path, _("is not allowed: at most 1024 characters, no quote, backslash, $ or backtick"))
            continue
        try:
            pieces = env_pieces(text)
        except ValueError as exc:
            col.error(path, str(exc))
            continue
        needs_db = sorted({"{" + p + "}" for _, p in pieces if p and p.startswith("db.")})
        if needs_db and not has_database:
            col.error(path, _("{placeholders} needs a database: set hosting.database.engine").format(
                placeholders=", ".join(needs_db)))
            continue
        env.append((name, pieces))
    return tuple(env)


def _validate_commands(col: _Collector, app: dict[str, Any]) -> tuple[str, ...]:
    commands = []
    for path, item in _listed(col, app, "application.commands", _("must be a list of shell commands")):
        text = col.text({"command": item}, "command", path)
        if text is not None and len(text) > COMMAND_MAX:
            col.error(path, _("is {length} characters; at most {limit} (put a longer script in the release)").format(
                length=len(text), limit=COMMAND_MAX))
        elif text is not None:
            commands.append(text)
    return tuple(commands)


def _validate_cron(col: _Collector, app: dict[str, Any]) -> tuple[str, ...]:
    lines = []
    for path, item in _listed(col, app, "application.cron", _("must be a list of cron lines")):
        text = col.text({"line": item}, "line", path)
        if text is None:
            continue
        if not CRON_LINE.fullmatch(text):
            col.error(path, _("'{value}' is not allowed: a schedule of five fields (*/5 * * * *) or @hourly, "
                              "@daily, @weekly, @monthly, @yearly, @reboot, then the command (the user and folder "
                              "are the provisioner's)").format(value=text))
            continue
        lines.append(text)
    return tuple(lines)


def _validate_database(col: _Collector, hosting: dict[str, Any], app_name: str | None) -> Database | None:
    raw = hosting.get("database")
    if raw is None:
        raw = {"engine": NO_ENGINE}
    if not isinstance(raw, dict):
        col.error("hosting.database", _("must be a mapping {engine, name, user, server}"))
        return None
    col.unknown_keys(raw, "hosting.database")
    engine = col.choice(raw, "engine", "hosting.database.engine", ENGINES)
    if engine is None or engine == NO_ENGINE:
        for key in ("name", "user", "server"):
            if raw.get(key) is not None and engine == NO_ENGINE:
                col.error(f"hosting.database.{key}", _("is only allowed when an engine is chosen"))
        return None
    default = app_name.replace("-", "_") if app_name else None
    values: dict[str, str] = {}
    for key in ("name", "user"):
        path = f"hosting.database.{key}"
        value = col.text(raw, key, path, required=False) or default
        if value is None:
            continue
        limit = DB_LIMITS[engine][key]
        derived = "" if raw.get(key) else _(" (derived from application.name)")
        if not DB_IDENT.fullmatch(value):
            col.error(path, _("'{value}'{derived} is not allowed: lower-case letters, digits and _, "
                              "not starting with a digit").format(value=value, derived=derived))
        elif len(value) > limit:
            col.error(path, _("'{value}'{derived} is {length} characters; {engine} allows at most {limit}").format(
                value=value, derived=derived, length=len(value), engine=engine, limit=limit))
        elif value in (RESERVED_DATABASES if key == "name" else RESERVED_DB_USERS):
            col.error(path, _("'{value}'{derived} is reserved for the database server itself; choose another").format(
                value=value, derived=derived))
        else:
            values[key] = value
    server = _validate_server(col, raw, "hosting.database.server")
    if "name" in values and "user" in values:
        return Database(engine, values["name"], values["user"], server)
    return None


def _validate_server(col: _Collector, raw: dict[str, Any], path: str) -> str | None:
    """An inventory host name (checked against the inventory when the case is placed)."""
    if raw.get("server") is None:
        return None
    return col.pattern(raw, "server", path, HOST_NAME,
                       N_("an inventory host name: letters, digits, '.', '_' and '-', at most 63 characters"))


def _punycode_hint(label: str) -> str:
    try:
        return f" ({label.lower().encode('idna').decode()})"
    except UnicodeError:
        return ""


@dataclass(frozen=True)
class _Hosting:
    """The hosting section as far as it is valid (None where it is not), and its raw mapping."""

    subdomain: str | None
    zone: str | None
    public_ip: str | None
    tls: str | None
    tls_cert: Path | None
    tls_key: Path | None
    raw: dict[str, Any]
    server: str | None = None


def _validate_subdomain(col: _Collector, hosting: dict[str, Any]) -> str | None:
    raw_subdomain = hosting.get("subdomain")
    if isinstance(raw_subdomain, str) and not raw_subdomain.isascii():
        col.error("hosting.subdomain", _("'{value}' has non-ASCII letters: Unicode names are refused, write the "
                                         "IDNA form{hint}").format(value=raw_subdomain,
                                                                   hint=_punycode_hint(raw_subdomain)))
        return None
    subdomain = col.pattern(hosting, "subdomain", "hosting.subdomain", DNS_LABEL,
                            _("one DNS label: a-z, 0-9 and -, not starting or ending with -, "
                              "at most {limit} characters").format(limit=LABEL_MAX))
    if subdomain in RESERVED_SUBDOMAINS:
        col.error("hosting.subdomain", _("'{value}' is reserved (name servers, mail, the zone's own services); "
                                         "choose another").format(value=subdomain))
        return None
    return subdomain


def _validate_public_ip(col: _Collector, hosting: dict[str, Any]) -> str | None:
    raw = hosting.get("public_ip", PUBLIC_IP_AUTO)
    if raw in (PUBLIC_IP_AUTO, PUBLIC_IP_SHARED):
        return str(raw)
    try:
        return str(ipaddress.IPv4Address(str(raw)))
    except ValueError:
        col.error("hosting.public_ip",
                  _("'{value}' is not allowed: auto, shared or an IPv4 address of the pool").format(value=raw))
        return None


def _validate_hosting(col: _Collector, data: dict[str, Any], base: Path) -> _Hosting:
    hosting = col.mapping(data, "hosting", "hosting")
    subdomain = _validate_subdomain(col, hosting)
    zone = col.text(hosting, "zone", "hosting.zone")
    if zone is not None and not ZONE.fullmatch(zone):
        col.error("hosting.zone",
                  _("'{value}' is not allowed: a domain of lower-case DNS labels, no trailing dot").format(value=zone))
        zone = None
    fqdn = f"{subdomain}.{zone}" if subdomain and zone else None
    if fqdn and len(fqdn) > FQDN_MAX:
        col.error("hosting.subdomain", _("the name {fqdn} is longer than {limit}").format(fqdn=fqdn, limit=FQDN_MAX))
    public_ip = _validate_public_ip(col, hosting)
    tls = col.choice(hosting, "tls", "hosting.tls", TLS_MODES, default=DEFAULT_TLS)
    files: dict[str, Path | None] = {}
    for key in ("tls_cert", "tls_key"):
        path_text = col.text(hosting, key, f"hosting.{key}", required=tls == PROVIDED_TLS)
        files[key] = None
        if path_text is None:
            continue
        if tls != PROVIDED_TLS:
            col.error(f"hosting.{key}", _("is only allowed when hosting.tls is provided"))
            continue
        resolved = (base / path_text).resolve()
        if not resolved.is_file():
            col.error(f"hosting.{key}", _("'{value}' does not exist (looked for {path})").format(value=path_text,
                                                                                             path=resolved))
            continue
        files[key] = resolved
    tls_cert, tls_key = files["tls_cert"], files["tls_key"]
    if tls_cert and tls_key:
        for path, message in check_certificate_pair(tls_cert, tls_key, fqdn):
            col.error(path, message)
    server = _validate_server(col, hosting, "hosting.server")
    return _Hosting(subdomain, zone, public_ip, tls, tls_cert, tls_key, hosting, server)


def _validate_sop(col: _Collector, data: dict[str, Any]) -> tuple[tuple[int, dt.datetime], ...]:
    raw = data.get("sop")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        col.error("sop", _("must be a list of {step, done}"))
        return ()
    steps: list[tuple[int, dt.datetime]] = []
    for index, item in enumerate(raw):
        path = f"sop[{index}]"
        if not isinstance(item, dict):
            col.error(path, _("must be a mapping {step, done}"))
            continue
        for key in item:
            if key not in SOP_KEYS:
                col.error(f"{path}.{key}", _("unknown field; allowed: {allowed}").format(allowed=", ".join(SOP_KEYS)))
        step = item.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step not in SOP_STEPS:
            col.error(f"{path}.step", _("'{value}' is not allowed: a step number {first}-{last}").format(
                value=step, first=SOP_STEPS[0], last=SOP_STEPS[-1]))
            continue
        done = item.get("done")
        try:
            when = done if isinstance(done, dt.datetime) else dt.datetime.fromisoformat(str(done))
        except ValueError:
            col.error(f"{path}.done", _("'{value}' is not a time: write 2026-10-02T09:00:00+08:00").format(value=done))
            continue
        if when.tzinfo is None:
            col.error(f"{path}.done", _("'{value}' has no offset: write it as 2026-10-02T09:00:00+08:00").format(
                value=done))
            continue
        steps.append((step, when))
    return tuple(steps)


def parse_case(data: dict[str, Any], base: Path, source: Path | None = None,
               release_needed: bool = True) -> Case:
    """Validate a mapping as a case; raise InvalidInput listing every problem."""
    col = _Collector()
    col.unknown_keys(data, "")
    case_id = col.pattern(data, "id", "id", CASE_ID,
                          _("a letter or digit, then letters, digits, '.', '_' or '-', "
                            "at most {limit} characters").format(limit=CASE_ID_MAX))
    opd = col.mapping(data, "opd", "opd")
    opd_code = col.text(opd, "code", "opd.code")
    opd_name = col.text(opd, "name", "opd.name")
    letter = col.mapping(data, "letter", "letter")
    letter_number = col.text(letter, "number", "letter.number")
    letter_date = col.date(letter, "date", "letter.date")
    approval = col.mapping(data, "approval", "approval")
    status = col.choice(approval, "status", "approval.status", APPROVAL_STATUSES)
    decided = status in DECIDED_STATUSES
    approval_by = col.text(approval, "by", "approval.by", required=decided)
    approval_date = col.date(approval, "date", "approval.date") if decided or "date" in approval else None

    app = col.mapping(data, "application", "application")
    app_name = col.pattern(app, "name", "application.name", APP_NAME,
                           _("a lower-case letter, then 1-{limit} of a-z, 0-9 and -").format(limit=APP_NAME_MAX - 1))
    if app_name in RESERVED_USERS:
        col.error("application.name", _("'{value}' is a system account name (it becomes the application's "
                                        "system user); choose another").format(value=app_name))
        app_name = None
    app_title = col.text(app, "title", "application.title")
    category = col.choice(app, "category", "application.category", CATEGORIES)
    source_kind = col.choice(app, "source", "application.source", SOURCES)
    vendor = col.text(app, "vendor", "application.vendor", required=source_kind == VENDOR_SOURCE)
    runtime = col.choice(app, "runtime", "application.runtime", RUNTIMES)
    upstream = _validate_upstream(col, app, runtime)
    release = _validate_release(col, app, base, release_needed)
    trial = _validate_trial(col, app)
    document_root, writable = _validate_layout(col, app)
    php = _validate_php(col, app, runtime)
    commands = _validate_commands(col, app)
    cron = _validate_cron(col, app)

    hosting = _validate_hosting(col, data, base)
    database = _validate_database(col, hosting.raw, app_name)
    raw_database = hosting.raw.get("database")
    engine = raw_database.get("engine") if isinstance(raw_database, dict) else None
    env = _validate_env(col, app, has_database=engine not in (None, NO_ENGINE))

    contact = col.mapping(data, "contact", "contact")
    contact_name = col.text(contact, "name", "contact.name")
    contact_email = col.pattern(contact, "email", "contact.email", EMAIL, N_("an e-mail address"))
    sop = _validate_sop(col, data)

    if col.errors:
        message = (_("the case in {source} is invalid ({count} problems)") if source
                   else _("the case is invalid ({count} problems)"))
        raise InvalidInput(message.format(source=source, count=len(col.errors)), col.errors)
    return Case(
        id=_validated(case_id), opd_code=_validated(opd_code), opd_name=_validated(opd_name),
        letter_number=_validated(letter_number), letter_date=_validated(letter_date),
        approval_status=_validated(status), approval_by=approval_by, approval_date=approval_date,
        app_name=_validated(app_name), app_title=_validated(app_title), category=_validated(category),
        source_kind=_validated(source_kind), vendor=vendor, runtime=_validated(runtime), upstream=upstream,
        release=release, trial=trial,
        subdomain=_validated(hosting.subdomain), zone=_validated(hosting.zone),
        public_ip=_validated(hosting.public_ip), tls=_validated(hosting.tls),
        tls_cert=hosting.tls_cert, tls_key=hosting.tls_key,
        database=database, contact_name=_validated(contact_name), contact_email=_validated(contact_email),
        sop=sop, source=source, server=hosting.server,
        document_root=document_root, writable=writable, php=php, env=env, commands=commands, cron=cron,
    )


def _validated(value: T | None) -> T:
    """A required value once no problem was recorded: the collector returns None only with an error."""
    if value is None:
        raise AssertionError("a required case field is missing without an error recorded")
    return value


def load_case(path: Path, release_needed: bool = True) -> Case:
    """Read and validate one case file."""
    data = load_mapping(path, N_("case file"), max_bytes=MAX_CASE_BYTES, anchors=False, max_depth=MAX_CASE_DEPTH)
    return parse_case(data, path.resolve().parent, source=path, release_needed=release_needed)


def require_approved(case: Case) -> None:
    """Only an approved case may change servers (SOP step 5 comes before step 9)."""
    if case.approval_status != "approved":
        raise Refused(
            _("case {case} is not approved (approval.status is {status}); only approved cases may be applied").format(
                case=case.id, status=case.approval_status),
            [FieldError("approval.status", _("is {status}; must be approved to apply").format(
                status=case.approval_status))],
        )
