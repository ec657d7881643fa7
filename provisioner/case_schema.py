"""The case file's rules as data, and the JSON Schema (draft 2020-12) built from them.

The validator in ``provisioner.case`` and the schema that editors and scripts read
(``docs/case.schema.json``, ``provisioner schema``) take their patterns, choices, limits,
reserved names and keys from here, so the two cannot drift apart. The schema says what one field
can say alone, plus the simple rules between fields (``if``/``then``); what needs the files
(release archive, certificate) or a derived name stays in the validator.

Run ``python -m provisioner.case_schema`` (or ``scripts/case-schema``) to print the schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from provisioner.language import N_

# --- patterns and limits ------------------------------------------------------------------------

CASE_ID_MAX = 40
APP_NAME_MAX = 31
LABEL_MAX = 63
FQDN_MAX = 253

CASE_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{CASE_ID_MAX - 1}}}")
APP_NAME = re.compile(rf"[a-z][a-z0-9-]{{1,{APP_NAME_MAX - 1}}}")
DNS_LABEL = re.compile(rf"[a-z0-9]([a-z0-9-]{{0,{LABEL_MAX - 2}}}[a-z0-9])?")
ZONE = re.compile(rf"{DNS_LABEL.pattern}(\.{DNS_LABEL.pattern})+")
DB_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# An inventory host name, as hosting.server and hosting.database.server name one.
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# Groups: scheme, host, :port, path. The port's range is checked in code.
UPSTREAM_URL = re.compile(r"""(https?)://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?(/[^\s"'<>]*)?""")
TRIAL_PATH = re.compile(r"/\S*")
# A folder inside the release (document_root, writable): relative, no '..', no hidden folders.
RELEASE_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
RELEASE_FOLDER_MAX = 200
# application.env: a variable's name, and its value: placeholders in braces ({db.name}), literal
# braces doubled; no quote, backslash, dollar or backtick (the value goes into a php-fpm pool and a
# shell-read settings file, quoted, and must mean the same in both).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
ENV_VALUE = re.compile(r"[^\x00-\x1f\x7f\"'\\$`]{0,1024}")
ENV_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
# application.cron: a schedule (five fields or an @ nickname), then the command.
_CRON_NAMES = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun"
_CRON_FIELD = rf"([0-9*,/-]+|({_CRON_NAMES})(-({_CRON_NAMES}))?)"
CRON_LINE = re.compile(rf"(@(reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)"
                       rf"|{_CRON_FIELD}( +{_CRON_FIELD}){{4}}) +[^\s#].{{0,999}}")
COMMAND_MAX = 1000
LIST_MAX = 20  # commands, cron lines, writable folders, extensions: a page, not a program
# Text goes into configuration files and records line by line: no control character but the tab.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f]")

RELEASE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".zip")
HTTP_STATUSES = range(100, 600)
SOP_STEPS = range(1, 12)
DB_LIMITS = {"mariadb": {"name": 64, "user": 80}, "postgresql": {"name": 63, "user": 63}}

# application.php.extensions: each name the case may ask for, and the distribution's package for it
# (php<version>-<package>; None: part of PHP itself, nothing to install) with the module name
# PHP lists once it is loaded (php -m).
PHP_EXTENSIONS: dict[str, tuple[str | None, str]] = {
    "apcu": ("apcu", "apcu"), "bcmath": ("bcmath", "bcmath"), "bz2": ("bz2", "bz2"),
    "ctype": (None, "ctype"), "curl": ("curl", "curl"), "dom": ("xml", "dom"), "exif": (None, "exif"),
    "fileinfo": (None, "fileinfo"), "gd": ("gd", "gd"), "gmp": ("gmp", "gmp"), "iconv": (None, "iconv"),
    "imagick": ("imagick", "imagick"), "imap": ("imap", "imap"), "intl": ("intl", "intl"),
    "json": (None, "json"), "ldap": ("ldap", "ldap"), "mbstring": ("mbstring", "mbstring"),
    "mysql": ("mysql", "mysqli"), "mysqli": ("mysql", "mysqli"), "opcache": ("opcache", "zend opcache"),
    "openssl": (None, "openssl"), "pdo": (None, "pdo"), "pdo_mysql": ("mysql", "pdo_mysql"),
    "pdo_pgsql": ("pgsql", "pdo_pgsql"), "pdo_sqlite": ("sqlite3", "pdo_sqlite"), "pgsql": ("pgsql", "pgsql"),
    "redis": ("redis", "redis"), "soap": ("soap", "soap"), "sodium": (None, "sodium"),
    "sqlite3": ("sqlite3", "sqlite3"), "tokenizer": (None, "tokenizer"), "xml": ("xml", "xml"),
    "xmlreader": ("xml", "xmlreader"), "xmlwriter": ("xml", "xmlwriter"), "xsl": ("xsl", "xsl"),
    "zip": ("zip", "zip"),
}
# application.php.settings: the php.ini keys a case may set in its own pool, by the kind of value.
PHP_SIZE = re.compile(r"[1-9][0-9]{0,9}[KMG]?")
PHP_UNLIMITED = "memory_limit"  # the one size that may be -1 (no limit)
PHP_SETTINGS: dict[str, str] = {
    "upload_max_filesize": "size", "post_max_size": "size", "memory_limit": "size",
    "max_execution_time": "seconds", "max_input_time": "seconds", "default_socket_timeout": "seconds",
    "session.gc_maxlifetime": "seconds", "max_input_vars": "count", "max_file_uploads": "count",
    "date.timezone": "timezone", "display_errors": "flag", "log_errors": "flag", "short_open_tag": "flag",
}
PHP_SETTING_KINDS = {
    "size": N_("bytes, or a number with K, M or G (20M); -1 only for memory_limit"),
    "seconds": N_("whole seconds, 0 to 86400 (0: no limit)"),
    "count": N_("a whole number, 1 to 100000"),
    "timezone": N_("a time zone name such as Asia/Makassar (WITA)"),
    "flag": N_("true or false"),
}
PHP_SECONDS_MAX = 86400
PHP_COUNT_MAX = 100000
# application.env placeholders, and what each stands for ({db.*} need a database).
ENV_PLACEHOLDERS: dict[str, str] = {
    "db.engine": "mariadb or postgresql", "db.host": "the database's address", "db.port": "its port",
    "db.name": "the database name", "db.user": "the database user", "db.password": "the user's password",
    "site.fqdn": "the site's name", "site.url": "the site's URL (https:// with TLS), with a final /",
    "app.name": "application.name", "app.path": "the release's folder on the web host (the current link)",
}
# Names the provisioner itself gives the application, or the system's: not for application.env.
RESERVED_ENV = frozenset({
    "DB_ENGINE", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "IFS", "PWD", "LD_PRELOAD", "LD_LIBRARY_PATH",
})

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

# --- choices and defaults -----------------------------------------------------------------------

APPROVAL_STATUSES = ("pending", "approved", "rejected")
DECIDED_STATUSES = ("approved", "rejected")  # these need approval.by and approval.date
CATEGORIES = ("umum", "khusus")
SOURCES = ("vendor", "inhouse")
VENDOR_SOURCE = "vendor"  # needs application.vendor
RUNTIMES = ("static", "php", "proxy")
PROXY_RUNTIME = "proxy"  # needs application.upstream, the only runtime that may have one
TLS_MODES = ("none", "self-signed", "provided", "acme")
PROVIDED_TLS = "provided"  # needs hosting.tls_cert and hosting.tls_key, the only mode that may have them
ENGINES = ("mariadb", "postgresql", "none")
NO_ENGINE = "none"  # no database: hosting.database.name and .user are not allowed

PUBLIC_IP_AUTO = "auto"
PUBLIC_IP_SHARED = "shared"  # served by name on the web host's shared address
DEFAULT_TLS = "none"
DEFAULT_TRIAL_STATUS = 200

# --- keys of each mapping -----------------------------------------------------------------------

SCHEMA_KEYS: dict[str, tuple[str, ...]] = {
    "": ("id", "opd", "letter", "approval", "application", "hosting", "contact", "sop"),
    "opd": ("code", "name"),
    "letter": ("number", "date"),
    "approval": ("status", "by", "date"),
    "application": (
        "name", "title", "category", "source", "vendor", "runtime", "upstream", "release", "trial",
        "document_root", "writable", "php", "env", "commands", "cron",
    ),
    "hosting": ("subdomain", "zone", "public_ip", "tls", "tls_cert", "tls_key", "database", "server"),
    "hosting.database": ("engine", "name", "user", "server"),
    "contact": ("name", "email"),
}
TRIAL_KEYS = ("path", "status", "contains")
PHP_KEYS = ("extensions", "settings")
PHP_RUNTIME = "php"  # the only runtime that may have application.php
RELEASE_ONLY = ("document_root", "writable", "commands")  # about the release: need application.release
SOP_KEYS = ("step", "done")

# Required whatever the other fields say; the conditional ones are the *_SOURCE, *_RUNTIME,
# DECIDED_STATUSES and PROVIDED_TLS rules above. List items are named "<list path>[]".
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "": ("id", "opd", "letter", "approval", "application", "hosting", "contact"),
    "opd": ("code", "name"),
    "letter": ("number", "date"),
    "approval": ("status",),
    "application": ("name", "title", "category", "source", "runtime"),
    "hosting": ("subdomain", "zone"),
    "hosting.database": ("engine",),
    "contact": ("name", "email"),
    "application.trial[]": ("path",),
    "application.php": (),
    "sop[]": ("step", "done"),
}

# --- the JSON Schema ----------------------------------------------------------------------------

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:provisioner:case-file"

Schema = dict[str, Any]


def anchored(regex: re.Pattern[str]) -> str:
    """The validator's regex (used with ``fullmatch``) as a JSON Schema pattern (a search)."""
    return f"^(?:{regex.pattern})$"


def _text(description: str, *, required: bool = True) -> Schema:
    """Free text: the validator takes a string or a number, empty or null meaning absent."""
    schema: Schema = {
        "description": description,
        "type": ["string", "number"] if required else ["string", "number", "null"],
        "not": {"type": "string", "pattern": CONTROL_CHARACTERS.pattern},
    }
    if required:
        schema["minLength"] = 1
    return schema


def _matching(regex: re.Pattern[str], description: str, *, max_length: int | None = None,
              reserved: frozenset[str] = frozenset(), optional: bool = False) -> Schema:
    schema: Schema = {"description": description, "type": ["string", "null"] if optional else "string",
                      "pattern": anchored(regex)}
    if max_length is not None:
        schema["maxLength"] = max_length
    if reserved:
        schema["not"] = {"enum": sorted(reserved)}
    return schema


def _choice(values: tuple[str, ...], description: str, default: str | None = None) -> Schema:
    schema: Schema = {"description": description, "enum": list(values)}
    if default is not None:
        schema["default"] = default
    return schema


def _date(description: str) -> Schema:
    return {"description": description, "type": "string", "format": "date"}


def _given(key: str) -> Schema:
    """``then`` of a conditional requirement: the key is there and not empty."""
    return {"required": [key], "properties": {key: {"type": ["string", "number"], "minLength": 1}}}


def _absent(*keys: str) -> Schema:
    """``else`` of a conditional field: left out, null or empty."""
    return {"properties": {key: {"type": ["string", "null"], "maxLength": 0} for key in keys}}


def _when(key: str, values: tuple[str, ...], then: Schema, otherwise: Schema | None = None) -> Schema:
    condition: Schema = {"required": [key], "properties": {key: {"enum": list(values)}}}
    rule: Schema = {"if": condition, "then": then}
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


def _mapping(path: str, description: str, fields: dict[str, Schema], *, nullable: bool = False,
             rules: list[Schema] | None = None, keys: tuple[str, ...] | None = None) -> Schema:
    """A mapping with exactly the keys the validator allows, in their documented order."""
    allowed = SCHEMA_KEYS[path] if keys is None else keys
    if set(fields) != set(allowed):
        raise ValueError(f"schema of {path or 'the case'} describes {sorted(fields)}, the validator allows "
                         f"{sorted(allowed)}")
    schema: Schema = {
        "description": description,
        "type": ["object", "null"] if nullable else "object",
        "properties": {key: fields[key] for key in allowed},
        "required": list(REQUIRED_KEYS[path]),
        "additionalProperties": False,
    }
    if rules:
        schema["allOf"] = rules
    return schema


def _database() -> Schema:
    def at_most(key: str) -> str:
        return ", ".join(f"{limits[key]} characters for {engine}" for engine, limits in DB_LIMITS.items())

    by_engine = [
        _when("engine", (engine,), {"properties": {"name": {"maxLength": limits["name"]},
                                                   "user": {"maxLength": limits["user"]}}})
        for engine, limits in DB_LIMITS.items()
    ]
    no_engine = _when("engine", (NO_ENGINE,), {"properties": {"name": {"type": "null"}, "user": {"type": "null"},
                                                             "server": {"type": "null"}}})
    return _mapping("hosting.database", "The application's database; left out means engine none.", {
        "engine": _choice(ENGINES, "mariadb | postgresql | none."),
        "name": _matching(DB_IDENT, "Optional, default from application.name (hyphens become _): lower-case "
                                    f"letters, digits and _, not starting with a digit; at most {at_most('name')}.",
                          reserved=RESERVED_DATABASES, optional=True),
        "user": _matching(DB_IDENT, f"Optional, likewise; at most {at_most('user')}.", reserved=RESERVED_DB_USERS,
                          optional=True),
        "server": _matching(HOST_NAME, "Optional: the inventory host of the engine's group that keeps the "
                                       "database; default, the one with the fewest databases of installed cases.",
                            optional=True),
    }, nullable=True, rules=[*by_engine, no_engine])


def _trial_item() -> Schema:
    return _mapping("application.trial[]", "One trial check: GET the path, expect the status and the text.", {
        "path": _matching(TRIAL_PATH, "The URL path to request: starts with /, no spaces."),
        "status": {"description": f"The expected HTTP status, {HTTP_STATUSES[0]}-{HTTP_STATUSES[-1]}.",
                   "type": "integer", "minimum": HTTP_STATUSES[0], "maximum": HTTP_STATUSES[-1],
                   "default": DEFAULT_TRIAL_STATUS},
        "contains": _text("Optional: text the response body must contain.", required=False),
    }, keys=TRIAL_KEYS)


def _sop_item() -> Schema:
    return _mapping("sop[]", "One SOP step and when it was done.", {
        "step": {"description": f"The SOP step number, {SOP_STEPS[0]}-{SOP_STEPS[-1]}.", "type": "integer",
                 "minimum": SOP_STEPS[0], "maximum": SOP_STEPS[-1]},
        "done": {"description": "When the step was done, with its offset (Kota Tarakan is on WITA, UTC+8): "
                                "2026-10-02T09:00:00+08:00.", "type": "string", "format": "date-time"},
    }, keys=SOP_KEYS)


def _release_folder(description: str) -> Schema:
    return _matching(RELEASE_FOLDER, description, max_length=RELEASE_FOLDER_MAX, optional=True)


def _list_of(item: Schema, description: str) -> Schema:
    return {"description": description, "type": ["array", "null"], "items": item, "maxItems": LIST_MAX,
            "uniqueItems": True}


def _php_setting(key: str, kind: str) -> Schema:
    description = f"{key}: {PHP_SETTING_KINDS[kind]}."
    if kind == "size":
        sizes: list[Schema] = [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": anchored(PHP_SIZE)}]
        if key == PHP_UNLIMITED:
            sizes.append({"enum": [-1, "-1"]})
        return {"description": description, "anyOf": sizes}
    if kind == "seconds":
        return {"description": description, "type": "integer", "minimum": 0, "maximum": PHP_SECONDS_MAX}
    if kind == "count":
        return {"description": description, "type": "integer", "minimum": 1, "maximum": PHP_COUNT_MAX}
    if kind == "flag":
        return {"description": description, "type": "boolean"}
    return {"description": description, "type": "string", "minLength": 1}


def _php() -> Schema:
    return _mapping("application.php", "PHP only: extensions and php.ini settings of the site's own pool.", {
        "extensions": _list_of({"enum": sorted(PHP_EXTENSIONS)},
                               "PHP extensions installed on the case's web host from the distribution's "
                               "packages for its PHP version (php8.2-mbstring, ...)."),
        "settings": {"description": "php.ini values written into the site's own php-fpm pool as admin values "
                                    "(the application cannot change them).",
                     "type": ["object", "null"], "additionalProperties": False,
                     "properties": {key: _php_setting(key, kind) for key, kind in PHP_SETTINGS.items()}},
    }, nullable=True, keys=PHP_KEYS)


def _env() -> Schema:
    placeholders = ", ".join("{" + name + "}" for name in ENV_PLACEHOLDERS)
    return {"description": "Extra environment variables of the application (php-fpm pool, settings file, "
                           f"commands, cron). Values may hold placeholders: {placeholders}; {{{{ and }}}} "
                           "are literal braces; no quote, backslash, $ or backtick.",
            "type": ["object", "null"], "maxProperties": LIST_MAX * 2,
            "propertyNames": {"pattern": anchored(ENV_NAME), "not": {"enum": sorted(RESERVED_ENV)}},
            "additionalProperties": {"type": ["string", "number"], "pattern": anchored(ENV_VALUE)}}


def _application() -> Schema:
    suffixes = "|".join(re.escape(suffix) for suffix in RELEASE_SUFFIXES)
    return _mapping("application", "The application to install.", {
        "name": _matching(APP_NAME, "Short name, [a-z][a-z0-9-]{1,30}; default for the system user and the "
                                    "database name and user.", max_length=APP_NAME_MAX, reserved=RESERVED_USERS),
        "title": _text("The application's full title."),
        "category": _choice(CATEGORIES, "umum | khusus (the SOP's two kinds of application)."),
        "source": _choice(SOURCES, "vendor | inhouse."),
        "vendor": _text("Required when source is vendor.", required=False),
        "runtime": _choice(RUNTIMES, "static | php | proxy."),
        "upstream": _matching(UPSTREAM_URL, "Proxy only: where Apache forwards to, an http:// or https:// URL.",
                              optional=True),
        "release": {**_text("Optional: archive unpacked into the document root, relative to the case file "
                            "(" + ", ".join(RELEASE_SUFFIXES) + ").", required=False),
                    "pattern": f"(?:{suffixes})$"},
        "trial": {"description": "Optional extra trial checks, run after the built-in ones.",
                  "type": ["array", "null"], "items": _trial_item()},
        "document_root": _release_folder("With a release: the web root, a folder inside it (public for Laravel, "
                                         "CodeIgniter 4, Symfony); default, its top folder."),
        "writable": _list_of(_matching(RELEASE_FOLDER, "A folder inside the release.",
                                       max_length=RELEASE_FOLDER_MAX),
                             "With a release: the only folders the application's user may write (storage, "
                             "wp-content/uploads); kept across releases. The rest of the code is owned by root."),
        "php": _php(),
        "env": _env(),
        "commands": _list_of({**_text("A shell command."), "maxLength": COMMAND_MAX},
                             "With a release: run in order as the application's user, with its environment, in "
                             "the new release's folder after it is unpacked and before it goes live (once per "
                             "release); a failure fails the apply, which undoes its changes."),
        "cron": _list_of({"description": "A schedule and a command: */5 * * * * php cron.php.", "type": "string",
                          "pattern": anchored(CRON_LINE)},
                         "Cron lines, each a schedule (five fields or @daily, ...) and a command, run as the "
                         "application's user with its environment in the release's folder."),
    }, rules=[
        _when("source", (VENDOR_SOURCE,), _given("vendor")),
        _when("runtime", (PROXY_RUNTIME,), _given("upstream"), _absent("upstream")),
        _when("runtime", (PHP_RUNTIME,), {}, {"properties": {"php": {"type": "null"}}}),
        {"if": {"not": {"required": ["release"], "properties": {"release": {"type": ["string", "number"]}}}},
         "then": {"properties": {key: {"type": "null"} for key in RELEASE_ONLY}}},
    ])


def _hosting() -> Schema:
    return _mapping("hosting", "Where and how the site is served.", {
        "subdomain": _matching(DNS_LABEL, "One DNS label; the site is <subdomain>.<zone>.", max_length=LABEL_MAX,
                               reserved=RESERVED_SUBDOMAINS),
        "zone": _matching(ZONE, "Must be a zone the chosen inventory serves: lower-case DNS labels, no trailing "
                                f"dot; <subdomain>.<zone> is at most {FQDN_MAX} characters.",
                          max_length=FQDN_MAX - 2),  # room for a one-letter subdomain and its dot
        "public_ip": {"description": "auto (next free address of the inventory's pool), shared (served by name "
                                     "on the web host's shared address, SNI for TLS) or an address in the pool.",
                      "anyOf": [{"const": PUBLIC_IP_AUTO}, {"const": PUBLIC_IP_SHARED},
                                {"type": "string", "format": "ipv4"}],
                      "default": PUBLIC_IP_AUTO},
        "tls": _choice(TLS_MODES, "none | self-signed | provided (then cert and key paths) | acme (from the "
                       "inventory's ACME CA).", default=DEFAULT_TLS),
        "tls_cert": _text("With tls provided: the PEM certificate for the site, relative to the case file.",
                          required=False),
        "tls_key": _text("With tls provided: its unencrypted PEM private key, relative to the case file.",
                         required=False),
        "database": _database(),
        "server": _matching(HOST_NAME, "Optional: the inventory host of group web that serves the site; default, "
                                       "the one with the fewest sites (then by name). An installed case stays "
                                       "where it is.", optional=True),
    }, rules=[
        _when("tls", (PROVIDED_TLS,), {"allOf": [_given("tls_cert"), _given("tls_key")]},
              _absent("tls_cert", "tls_key")),
    ])


def json_schema() -> Schema:
    """The case file (CASE-FORMAT.md) as a JSON Schema, draft 2020-12."""
    case = _mapping("", "One approved request for an application, as it comes out of SOP steps 1 to 8: the "
                        "provisioner validates it, provisions it, tests it and writes its records "
                        "(CASE-FORMAT.md).", {
        "id": _matching(CASE_ID, "Agenda number given at SOP step 2.", max_length=CASE_ID_MAX),
        "opd": _mapping("opd", "The requesting unit.", {
            "code": _text("The unit's short code, e.g. DINKES."),
            "name": _text("The unit's name."),
        }),
        "letter": _mapping("letter", "The request letter (SOP step 1).", {
            "number": _text("The letter's number."),
            "date": _date("The letter's date, YYYY-MM-DD."),
        }),
        "approval": _mapping("approval", "The decision (SOP step 5).", {
            "status": _choice(APPROVAL_STATUSES, "pending | approved | rejected; only approved may be applied."),
            "by": _text("Who decided; required once approved or rejected.", required=False),
            "date": _date("When it was decided, YYYY-MM-DD; required once approved or rejected."),
        }, rules=[_when("status", DECIDED_STATUSES, {"allOf": [_given("by"), {"required": ["date"]}]})]),
        "application": _application(),
        "hosting": _hosting(),
        "contact": _mapping("contact", "The OPD's person in charge.", {
            "name": _text("The person's name."),
            "email": _matching(EMAIL, "The person's e-mail address."),
        }),
        "sop": {"description": "Optional: when earlier SOP steps were done, for the case trail.",
                "type": ["array", "null"], "items": _sop_item()},
    })
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, "title": "Provisioner case file", **case}


def schema_text() -> str:
    """The schema as shipped in ``docs/case.schema.json``: indented, keys sorted, final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
