"""The case file's JSON Schema: a valid schema, true to the examples, and in agreement with the validator."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from provisioner.case import parse_case
from provisioner.case_schema import (
    APP_NAME,
    APPROVAL_STATUSES,
    CASE_ID,
    CATEGORIES,
    CONTROL_CHARACTERS,
    CRON_LINE,
    DB_IDENT,
    DNS_LABEL,
    EMAIL,
    ENGINES,
    ENV_NAME,
    ENV_VALUE,
    HOST_NAME,
    PHP_SIZE,
    RELEASE_FOLDER,
    RELEASE_SUFFIXES,
    REQUIRED_KEYS,
    RUNTIMES,
    SCHEMA_KEYS,
    SOP_KEYS,
    SOURCES,
    TLS_MODES,
    TRIAL_KEYS,
    TRIAL_PATH,
    UPSTREAM_URL,
    ZONE,
    anchored,
    json_schema,
)
from provisioner.errors import InvalidInput
from tests.conftest import EXAMPLES, ROOT, example
from tests.unit.test_case import _DELETE, _set

SCHEMA = json_schema()
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
SHIPPED = ROOT / "docs" / "case.schema.json"
MODELINE = "# yaml-language-server: $schema=../../docs/case.schema.json"

# Every mapping of a case: its sections and the items of its two lists.
MAPPINGS: dict[str, tuple[str, ...]] = {**SCHEMA_KEYS, "application.trial[]": TRIAL_KEYS, "sop[]": SOP_KEYS}
PATTERNS = {
    "id": CASE_ID,
    "application.name": APP_NAME,
    "application.upstream": UPSTREAM_URL,
    "application.trial[].path": TRIAL_PATH,
    "hosting.subdomain": DNS_LABEL,
    "hosting.zone": ZONE,
    "hosting.database.name": DB_IDENT,
    "hosting.database.user": DB_IDENT,
    "contact.email": EMAIL,
    "hosting.server": HOST_NAME,
    "hosting.database.server": HOST_NAME,
    "application.document_root": RELEASE_FOLDER,
    "application.writable[]": RELEASE_FOLDER,
    "application.cron[]": CRON_LINE,
}
CHOICES = {
    "approval.status": APPROVAL_STATUSES,
    "application.category": CATEGORIES,
    "application.source": SOURCES,
    "application.runtime": RUNTIMES,
    "hosting.tls": TLS_MODES,
    "hosting.database.engine": ENGINES,
}


def _schema_at(path: str) -> dict[str, Any]:
    """The schema of a field or mapping named like MAPPINGS ("application.trial[].path")."""
    node = SCHEMA
    for part in filter(None, path.split(".")):
        node = node["properties"][part[:-2]]["items"] if part.endswith("[]") else node["properties"][part]
    return node


def _as_json(data: Any) -> Any:
    """The case as an editor sees it: YAML dates and times as the text they were written as."""
    return json.loads(json.dumps(data, default=lambda value: value.isoformat()))


def _mapping_in(data: dict[str, Any], path: str) -> dict[str, Any]:
    """The mapping at ``path`` in a case; list items are the first item."""
    node = data
    for part in filter(None, path.split(".")):
        node = node[part[:-2]][0] if part.endswith("[]") else node[part]
    return node


def _field_path(path: str, key: str) -> str:
    """How the validator names a key of a mapping: ``sop[0].step``, ``hosting.database.engine``."""
    return ".".join(filter(None, [path.replace("[]", "[0]"), key]))


def _validator_errors(data: dict[str, Any]) -> dict[str, str]:
    try:
        parse_case(data, EXAMPLES)
    except InvalidInput as exc:
        return {e.path: e.message for e in exc.errors}
    return {}


def _schema_error_paths(data: dict[str, Any]) -> list[str]:
    def dotted(error: Any) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")

    return [dotted(error) for error in VALIDATOR.iter_errors(_as_json(data))]


def _pending_ppid() -> dict[str, Any]:
    """The static example, not yet decided: no field is required by another field's value."""
    return _set(example("ppid"), "approval.status", "pending")


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


# --- the schema itself --------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_the_schema_declares_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("key", ["$id", "title", "description"])
def test_the_schema_names_itself(key: str) -> None:
    assert SCHEMA[key]


def test_the_shipped_schema_file_is_current() -> None:
    """scripts/case-schema rewrites it; this fails when the code changed and the file did not."""
    assert SHIPPED.read_text(encoding="utf-8") == json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_every_example_validates_against_the_schema(path: Path) -> None:
    VALIDATOR.validate(_as_json(yaml.safe_load(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_every_example_names_the_shipped_schema_on_its_first_line(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == MODELINE
    assert (path.parent / first.partition("$schema=")[2]).resolve() == SHIPPED


@pytest.mark.parametrize("path", [*MAPPINGS, *PATTERNS, *CHOICES])
def test_every_field_and_mapping_is_described(path: str) -> None:
    assert _schema_at(path)["description"]


# --- the schema and the validator describe the same fields --------------------------------------


@pytest.mark.parametrize("path", list(MAPPINGS))
def test_properties_are_the_keys_the_validator_allows(path: str) -> None:
    assert list(_schema_at(path)["properties"]) == list(MAPPINGS[path])


@pytest.mark.parametrize("path", list(MAPPINGS))
def test_no_other_key_is_allowed(path: str) -> None:
    assert _schema_at(path)["additionalProperties"] is False


@pytest.mark.parametrize(("path", "key"), [(p, k) for p, keys in MAPPINGS.items() for k in keys])
def test_the_validator_knows_every_key_of_the_schema(path: str, key: str) -> None:
    data = _pending_ppid()
    _mapping_in(data, path).setdefault(key, None)
    message = _validator_errors(data).get(_field_path(path, key), "")
    assert not message.startswith("unknown field"), message


@pytest.mark.parametrize("path", list(MAPPINGS))
def test_the_validator_refuses_a_key_the_schema_lacks(path: str) -> None:
    data = _pending_ppid()
    _mapping_in(data, path)["colour"] = "blue"
    assert _validator_errors(data)[_field_path(path, "colour")].startswith("unknown field")


@pytest.mark.parametrize("path", list(MAPPINGS))
def test_required_is_the_constant(path: str) -> None:
    assert _schema_at(path)["required"] == list(REQUIRED_KEYS[path])


@pytest.mark.parametrize(("path", "key"), [(p, k) for p, keys in MAPPINGS.items() for k in keys])
def test_the_validator_requires_what_the_schema_requires(path: str, key: str) -> None:
    data = _pending_ppid()
    _mapping_in(data, path).pop(key, None)
    assert (_field_path(path, key) in _validator_errors(data)) is (key in _schema_at(path)["required"])


@pytest.mark.parametrize(("path", "key"), [(p, k) for p, keys in MAPPINGS.items() for k in keys])
def test_the_schema_refuses_exactly_a_missing_required_key(path: str, key: str) -> None:
    data = _pending_ppid()
    _mapping_in(data, path).pop(key, None)
    assert VALIDATOR.is_valid(_as_json(data)) is (key not in _schema_at(path)["required"])


@pytest.mark.parametrize(("field", "choices"), list(CHOICES.items()))
def test_enum_is_the_constant(field: str, choices: tuple[str, ...]) -> None:
    assert _schema_at(field)["enum"] == list(choices)


@pytest.mark.parametrize("field", list(CHOICES))
def test_enum_is_what_the_validator_offers(field: str) -> None:
    message = _validator_errors(_set(example("sikesda"), field, "bogus"))[field]
    assert message.partition("one of ")[2].split(", ") == _schema_at(field)["enum"]


@pytest.mark.parametrize(("field", "regex"), list(PATTERNS.items()))
def test_pattern_is_the_validators_regex_anchored(field: str, regex: re.Pattern[str]) -> None:
    assert _schema_at(field)["pattern"] == anchored(regex)


@pytest.mark.parametrize("suffix", RELEASE_SUFFIXES)
def test_the_release_pattern_takes_each_archive_the_validator_takes(suffix: str) -> None:
    assert re.search(_schema_at("application.release")["pattern"], f"../releases/app-1.0{suffix}")


def test_every_pattern_of_the_schema_comes_from_the_rules() -> None:
    # application.env's names and values, and php.ini sizes, are not fields of their own.
    known = {anchored(regex) for regex in [*PATTERNS.values(), ENV_NAME, ENV_VALUE, PHP_SIZE]} | {
        CONTROL_CHARACTERS.pattern, _schema_at("application.release")["pattern"]}
    assert set(_patterns(SCHEMA)) == known


# --- the schema and the validator judge the same cases ------------------------------------------

# (example, field, value, the field the validator names); value _DELETE removes the field.
BAD = [
    ("sikesda", "id", "-bad", "id"),
    ("sikesda", "id", "x" * 41, "id"),
    ("sikesda", "id", "2026 014", "id"),
    ("sikesda", "application.name", "Sikesda", "application.name"),
    ("sikesda", "application.name", "a", "application.name"),
    ("sikesda", "application.name", "root", "application.name"),
    ("sikesda", "hosting.subdomian", "x", "hosting.subdomian"),
    ("ppid", "zzz", 1, "zzz"),
    ("ppid", "application.trial", [{"path": "/", "bogus": 1}], "application.trial[0].bogus"),
    ("ppid", "sop", [{"step": 1, "done": "2026-10-02T09:00:00+08:00", "by": "x"}], "sop[0].by"),
    ("sikesda", "application.runtime", "python", "application.runtime"),
    ("sikesda", "application.category", "special", "application.category"),
    ("sikesda", "application.source", "gift", "application.source"),
    ("sikesda", "approval.status", "ok", "approval.status"),
    ("sikesda", "approval.by", _DELETE, "approval.by"),
    ("sikesda", "approval.date", _DELETE, "approval.date"),
    ("sikesda", "approval.date", "20 Oktober", "approval.date"),
    ("sikesda", "letter.date", "2026-13-01", "letter.date"),
    ("sikesda", "opd.code", "DIN\nKES", "opd.code"),
    ("sikesda", "opd.name", "", "opd.name"),
    ("sikesda", "opd.name", True, "opd.name"),
    ("sikesda", "contact", _DELETE, "contact"),
    ("sikesda", "hosting.tls", "letsencrypt", "hosting.tls"),
    ("ppid", "hosting.tls", "provided", "hosting.tls_cert"),
    ("ppid", "hosting.tls_cert", "site.crt", "hosting.tls_cert"),
    ("sikesda", "hosting.database.engine", "oracle", "hosting.database.engine"),
    ("sikesda", "hosting.database.name", "1db", "hosting.database.name"),
    ("sikesda", "hosting.database.name", "d" * 65, "hosting.database.name"),
    ("sikesda", "hosting.database.user", "u" * 81, "hosting.database.user"),
    ("simpeg", "hosting.database.name", "p" * 64, "hosting.database.name"),
    ("sikesda", "hosting.database.name", "information_schema", "hosting.database.name"),
    ("sikesda", "hosting.database.user", "root", "hosting.database.user"),
    ("ppid", "hosting.database.name", "ppid", "hosting.database.name"),
    ("sikesda", "contact.email", "budi-at-example", "contact.email"),
    ("sikesda", "contact.email", "budi@example", "contact.email"),
    ("sikesda", "hosting.subdomain", "Sikesda", "hosting.subdomain"),
    ("sikesda", "hosting.subdomain", "si_kesda", "hosting.subdomain"),
    ("sikesda", "hosting.subdomain", "-sikesda", "hosting.subdomain"),
    ("sikesda", "hosting.subdomain", "a" * 64, "hosting.subdomain"),
    ("sikesda", "hosting.subdomain", "www", "hosting.subdomain"),
    ("sikesda", "hosting.subdomain", "sehat\u00e9", "hosting.subdomain"),
    ("sikesda", "hosting.zone", "tarakankota.go.id.", "hosting.zone"),
    ("sikesda", "hosting.zone", "localdomain", "hosting.zone"),
    ("sikesda", "hosting.public_ip", "198.19.0.300", "hosting.public_ip"),
    ("sikesda", "hosting.public_ip", "next", "hosting.public_ip"),
    ("sikesda", "hosting.public_ip", None, "hosting.public_ip"),
    ("sikesda", "application.vendor", _DELETE, "application.vendor"),
    ("simpeg", "application.upstream", _DELETE, "application.upstream"),
    ("simpeg", "application.upstream", "ftp://127.0.0.1/", "application.upstream"),
    ("ppid", "application.upstream", "http://127.0.0.1:1", "application.upstream"),
    ("ppid", "application.release", "../releases/ppid-2.0.0.rar", "application.release"),
    ("ppid", "application.trial", "/", "application.trial"),
    ("ppid", "application.trial", ["/"], "application.trial[0]"),
    ("ppid", "application.trial", [{"path": "no-slash"}], "application.trial[0].path"),
    ("ppid", "application.trial", [{"path": "/a b"}], "application.trial[0].path"),
    ("ppid", "application.trial", [{"path": "/", "status": 99}], "application.trial[0].status"),
    ("ppid", "application.trial", [{"path": "/", "status": 600}], "application.trial[0].status"),
    ("ppid", "application.trial", [{"path": "/", "status": "200"}], "application.trial[0].status"),
    ("ppid", "sop", [{"step": 12, "done": "2026-10-02T09:00:00+08:00"}], "sop[0].step"),
    ("ppid", "sop", [{"step": 0, "done": "2026-10-02T09:00:00+08:00"}], "sop[0].step"),
    ("ppid", "sop", [{"done": "2026-10-02T09:00:00+08:00"}], "sop[0].step"),
    ("ppid", "sop", [{"step": 1}], "sop[0].done"),
    ("ppid", "hosting.server", "web 2", "hosting.server"),
    ("ppid", "hosting.server", "w" * 100, "hosting.server"),
    ("ppid", "hosting.server", "-web2", "hosting.server"),
    ("sikesda", "hosting.database.server", "db 1", "hosting.database.server"),
    ("ppid", "hosting.database", {"engine": "none", "server": "db1"}, "hosting.database.server"),
    ("sikesda", "application.document_root", "/public", "application.document_root"),
    ("sikesda", "application.document_root", "../public", "application.document_root"),
    ("sikesda", "application.document_root", "public/", "application.document_root"),
    ("sikesda", "application.document_root", ".hidden", "application.document_root"),
    ("simpeg", "application.document_root", "public", "application.document_root"),
    ("sikesda", "application.writable", "storage", "application.writable"),
    ("sikesda", "application.writable", ["/tmp"], "application.writable[0]"),
    ("sikesda", "application.writable", ["storage/../.."], "application.writable[0]"),
    ("simpeg", "application.writable", ["storage"], "application.writable"),
    ("ppid", "application.php", {"extensions": ["mbstring"]}, "application.php"),
    ("sikesda", "application.php", {"colour": 1}, "application.php.colour"),
    ("sikesda", "application.php", {"extensions": ["mbstrng"]}, "application.php.extensions[0]"),
    ("sikesda", "application.php", {"settings": {"upload_max_filesize": "20MB"}},
     "application.php.settings.upload_max_filesize"),
    ("sikesda", "application.php", {"settings": {"upload_max_filesize": -1}},
     "application.php.settings.upload_max_filesize"),
    ("sikesda", "application.php", {"settings": {"allow_url_include": True}},
     "application.php.settings.allow_url_include"),
    ("sikesda", "application.php", {"settings": {"max_execution_time": -5}},
     "application.php.settings.max_execution_time"),
    ("sikesda", "application.php", {"settings": {"max_input_vars": 0}}, "application.php.settings.max_input_vars"),
    ("sikesda", "application.php", {"settings": {"display_errors": "yes"}},
     "application.php.settings.display_errors"),
    ("sikesda", "application.env", {"DB_PASSWORD": "x"}, "application.env.DB_PASSWORD"),
    ("sikesda", "application.env", {"1X": "x"}, "application.env.1X"),
    ("sikesda", "application.env", {"X": "a$b"}, "application.env.X"),
    ("sikesda", "application.env", {"X": 'say "hi"'}, "application.env.X"),
    ("sikesda", "application.env", ["X=1"], "application.env"),
    ("sikesda", "application.commands", "php artisan migrate", "application.commands"),
    ("sikesda", "application.commands", [f"php step{n}.php" for n in range(21)], "application.commands"),
    ("sikesda", "application.commands", ["php a.php\nrm -rf /"], "application.commands[0]"),
    ("sikesda", "application.cron", ["php artisan schedule:run"], "application.cron[0]"),
    ("sikesda", "application.cron", ["* * * * php artisan schedule:run"], "application.cron[0]"),
    ("sikesda", "application.cron", ["@often php cron.php"], "application.cron[0]"),
]

GOOD = [
    ("ppid", "id", "2026.014_b-1"),
    ("sikesda", "application.name", "si-kesda"),
    ("sikesda", "hosting.public_ip", "198.19.0.20"),
    ("sikesda", "hosting.public_ip", _DELETE),
    ("sikesda", "hosting.tls", "self-signed"),
    ("sikesda", "hosting.tls", _DELETE),
    ("sikesda", "hosting.subdomain", "a" * 63),
    ("sikesda", "hosting.database.name", "d" * 64),
    ("simpeg", "hosting.database.name", "p" * 63),
    ("sikesda", "hosting.database", {"engine": "postgresql", "name": "kesda", "user": "kesda_app"}),
    ("ppid", "hosting.database", _DELETE),
    ("ppid", "hosting.database", None),
    ("sikesda", "contact.email", "budi.santoso@dinkes.tarakankota.go.id"),
    ("sikesda", "opd.code", 445),
    ("sikesda", "letter.number", "445/1021\tDINKES"),
    ("simpeg", "application.upstream", "https://[::1]:8443/app"),
    ("ppid", "application.trial", [{"path": "/"}]),
    ("ppid", "application.trial", None),
    ("ppid", "application.release", _DELETE),
    ("ppid", "sop", _DELETE),
    ("ppid", "approval", {"status": "pending"}),
    ("ppid", "application.vendor", "PT Contoh"),
    ("ppid", "hosting.server", "web2"),
    ("ppid", "hosting.server", "w" * 63),
    ("ppid", "hosting.server", "web-2.lab_a"),
    ("ppid", "hosting.server", None),
    ("sikesda", "hosting.database.server", "db1"),
    ("simpeg", "hosting.database.server", None),
    ("sikesda", "application.document_root", "public"),
    ("sikesda", "application.document_root", "web/app_1.2"),
    ("sikesda", "application.writable", ["storage", "bootstrap/cache", "wp-content/uploads"]),
    ("sikesda", "application.writable", None),
    ("sikesda", "application.php", {"extensions": ["mbstring", "intl", "pdo_mysql"],
                                    "settings": {"upload_max_filesize": "20M", "post_max_size": "25M",
                                                 "memory_limit": -1, "max_execution_time": 60,
                                                 "max_input_vars": 5000, "date.timezone": "Asia/Makassar",
                                                 "display_errors": False}}),
    ("sikesda", "application.php", {"settings": {"upload_max_filesize": 1048576}}),
    ("sikesda", "application.php", None),
    ("sikesda", "application.env", {"DB_DATABASE": "{db.name}", "APP_URL": "{site.url}", "APP_DEBUG": "false",
                                    "DATABASE_URL": "mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.name}",
                                    "BRACES": "{{literal}}", "EMPTY": ""}),
    ("ppid", "application.env", {"SITE": "{site.fqdn}", "VERSION": 2}),
    ("sikesda", "application.commands", ["php artisan migrate --force", "php artisan config:cache"]),
    ("sikesda", "application.cron", ["* * * * * php artisan schedule:run", "@daily php cron.php",
                                     "*/15 8-17 * jan-jun mon-fri php report.php > /dev/null 2>&1"]),
]


def _bad_id(case: tuple[Any, ...]) -> str:
    return f"{case[1]}={case[2]!r}"[:60]


@pytest.mark.parametrize(("name", "field", "value", "where"), BAD, ids=[_bad_id(c) for c in BAD])
def test_a_bad_case_is_refused_by_the_validator_at_its_field(name: str, field: str, value: Any,
                                                            where: str) -> None:
    assert where in _validator_errors(_set(example(name), field, value))


@pytest.mark.parametrize(("name", "field", "value", "where"), BAD, ids=[_bad_id(c) for c in BAD])
def test_a_bad_case_is_refused_by_the_schema_at_its_field_or_mapping(name: str, field: str, value: Any,
                                                                     where: str) -> None:
    paths = _schema_error_paths(_set(example(name), field, value))
    assert any(where == p or where.startswith((f"{p}.", f"{p}[")) or (not p and "." not in where)
               for p in paths), paths


@pytest.mark.parametrize(("name", "field", "value"), GOOD, ids=[_bad_id(c) for c in GOOD])
def test_a_good_variant_is_accepted_by_the_validator(name: str, field: str, value: Any) -> None:
    assert _validator_errors(_set(example(name), field, value)) == {}


@pytest.mark.parametrize(("name", "field", "value"), GOOD, ids=[_bad_id(c) for c in GOOD])
def test_a_good_variant_is_accepted_by_the_schema(name: str, field: str, value: Any) -> None:
    assert _schema_error_paths(_set(example(name), field, value)) == []
