"""The case loader: every rule of CASE-FORMAT.md, each problem reported with its field path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from provisioner.case import load_case, require_approved
from provisioner.errors import InvalidInput, Refused
from tests.conftest import EXAMPLES, example


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node = data
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return data


_DELETE = object()


def _errors(path: Path) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        load_case(path)
    return {e.path: e.message for e in info.value.errors}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_every_example_is_valid(path: Path) -> None:
    case = load_case(path)
    assert case.approval_status == "approved"
    assert case.fqdn.endswith(".tarakankota.go.id")


def test_database_names_default_from_the_application_name(write_case) -> None:
    data = _set(example("sikesda"), "application.name", "si-kesda")
    data = _set(data, "hosting.database", {"engine": "mariadb"})
    case = load_case(write_case(data))
    assert case.database is not None
    assert (case.database.name, case.database.user) == ("si_kesda", "si_kesda")


@pytest.mark.parametrize(
    ("field", "value", "message_part"),
    [
        ("id", "-bad", "a letter or digit"),
        ("id", "x" * 41, "at most 40"),
        ("application.name", "Sikesda", "lower-case letter"),
        ("application.name", "a", "1-30"),
        ("application.runtime", "python", "one of static, php, proxy"),
        ("application.category", "special", "one of umum, khusus"),
        ("application.source", "gift", "one of vendor, inhouse"),
        ("approval.status", "ok", "one of pending, approved, rejected"),
        ("approval.date", "20 Oktober", "not a date"),
        ("hosting.subdomain", "Sikesda", "one DNS label"),
        ("hosting.subdomain", "si kesda", "one DNS label"),
        ("hosting.subdomain", "si_kesda", "one DNS label"),
        ("hosting.subdomain", "sikesda.", "one DNS label"),
        ("hosting.subdomain", "-sikesda", "one DNS label"),
        ("hosting.subdomain", "a" * 64, "one DNS label"),
        ("hosting.zone", "tarakankota.go.id.", "no trailing dot"),
        ("hosting.public_ip", "198.19.0.300", "auto, shared or an IPv4 address"),
        ("hosting.tls", "letsencrypt", "one of none, self-signed, provided"),
        ("hosting.database.engine", "oracle", "one of mariadb, postgresql, none"),
        ("hosting.database.name", "1db", "not starting with a digit"),
        ("hosting.database.name", "d" * 65, "mariadb allows at most 64"),
        ("hosting.database.user", "u" * 81, "mariadb allows at most 80"),
        ("contact.email", "budi-at-example", "an e-mail address"),
        ("application.release", "../releases/missing-1.0.tar.gz", "does not exist"),
    ],
)
def test_bad_value_is_reported_at_its_path(write_case, field: str, value: Any, message_part: str) -> None:
    errors = _errors(write_case(_set(example("sikesda"), field, value)))
    assert field in errors, errors
    assert message_part in errors[field]


def test_the_servers_are_read_and_default_to_none(write_case) -> None:
    data = _set(example("sikesda"), "hosting.server", "web2")
    data = _set(data, "hosting.database", {"engine": "mariadb", "server": "db-2.lab_a"})
    case = load_case(write_case(data))
    assert case.server == "web2"
    assert case.database is not None and case.database.server == "db-2.lab_a"
    plain = load_case(write_case(example("sikesda")))
    assert plain.server is None
    assert plain.database is not None and plain.database.server is None


@pytest.mark.parametrize("value", ["web 2", "w" * 100, "w" * 64, "-web2", "web/2", "web2:22"])
def test_a_server_that_is_no_host_name_is_refused(write_case, value: str) -> None:
    errors = _errors(write_case(_set(example("ppid"), "hosting.server", value)))
    assert list(errors) == ["hosting.server"]
    assert "an inventory host name" in errors["hosting.server"]
    sikesda = _set(example("sikesda"), "hosting.database", {"engine": "mariadb", "server": value})
    errors = _errors(write_case(sikesda))
    assert list(errors) == ["hosting.database.server"]
    assert "an inventory host name" in errors["hosting.database.server"]


def test_a_host_name_of_63_characters_is_a_server(write_case) -> None:
    assert load_case(write_case(_set(example("ppid"), "hosting.server", "w" * 63))).server == "w" * 63


def test_a_database_server_without_an_engine_is_refused(write_case) -> None:
    errors = _errors(write_case(_set(example("ppid"), "hosting.database", {"engine": "none", "server": "db1"})))
    assert errors == {"hosting.database.server": "is only allowed when an engine is chosen"}


def test_derived_postgresql_name_over_63_is_refused(write_case) -> None:
    data = _set(example("simpeg"), "hosting.database", {"engine": "postgresql"})
    data = _set(data, "application.name", "a" * 31)
    # 31 characters is fine for the application, fine for PostgreSQL: no error.
    load_case(write_case(data))
    data = _set(data, "hosting.database", {"engine": "postgresql", "name": "p" * 64})
    errors = _errors(write_case(data))
    assert "postgresql allows at most 63" in errors["hosting.database.name"]


def test_name_longer_than_253_is_refused(write_case) -> None:
    zone = ".".join(["z" * 60] * 4) + ".id"
    errors = _errors(write_case(_set(_set(example("ppid"), "hosting.zone", zone), "hosting.subdomain", "s" * 20)))
    assert "longer than 253" in errors["hosting.subdomain"]


def test_every_problem_is_listed_at_once(write_case) -> None:
    data = _set(example("sikesda"), "hosting.subdomain", "Bad Name")
    data = _set(data, "application.runtime", "java")
    data = _set(data, "contact.email", "nope")
    errors = _errors(write_case(data))
    assert {"hosting.subdomain", "application.runtime", "contact.email"} <= set(errors)


def test_unknown_key_suggests_the_near_one(write_case) -> None:
    data = _set(example("sikesda"), "hosting.subdomian", "x")
    errors = _errors(write_case(data))
    assert errors["hosting.subdomian"] == "unknown field; did you mean 'subdomain'?"


def test_unknown_top_level_key_lists_what_is_allowed(write_case) -> None:
    errors = _errors(write_case(_set(example("ppid"), "zzz", 1)))
    assert errors["zzz"].startswith("unknown field; allowed: id, opd")


def test_duplicate_keys_are_refused(write_case) -> None:
    text = (EXAMPLES / "2026-011-ppid-static.yml").read_text() + "\nid: \"2026-099\"\n"
    errors = _errors(write_case(text))
    assert "duplicate key" in errors["id"]


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n", "a: [unclosed\n"])
def test_not_a_mapping_is_refused(write_case, text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_case(write_case(text))
    assert info.value.errors


def test_vendor_required_for_vendor_source(write_case) -> None:
    errors = _errors(write_case(_set(example("sikesda"), "application.vendor", _DELETE)))
    assert errors["application.vendor"] == "is required"


@pytest.mark.parametrize("upstream", ["ftp://127.0.0.1/", "127.0.0.1:8080", "http://", "http://h:99999"])
def test_upstream_must_be_http(write_case, upstream: str) -> None:
    errors = _errors(write_case(_set(example("simpeg"), "application.upstream", upstream)))
    assert "application.upstream" in errors


def test_upstream_only_for_proxy(write_case) -> None:
    errors = _errors(write_case(_set(example("ppid"), "application.upstream", "http://127.0.0.1:1")))
    assert "only allowed when application.runtime is proxy" in errors["application.upstream"]


def test_proxy_needs_upstream(write_case) -> None:
    errors = _errors(write_case(_set(example("simpeg"), "application.upstream", _DELETE)))
    assert errors["application.upstream"] == "is required"


@pytest.mark.parametrize(
    ("trial", "path"),
    [
        ([{"path": "no-slash"}], "application.trial[0].path"),
        ([{"path": "/", "status": 99}], "application.trial[0].status"),
        ([{"path": "/", "bogus": 1}], "application.trial[0].bogus"),
        (["/"], "application.trial[0]"),
        ("/", "application.trial"),
    ],
)
def test_trial_checks_are_validated(write_case, trial: Any, path: str) -> None:
    assert path in _errors(write_case(_set(example("ppid"), "application.trial", trial)))


def test_provided_tls_needs_existing_cert_and_key(write_case) -> None:
    errors = _errors(write_case(_set(example("ppid"), "hosting.tls", "provided")))
    assert errors["hosting.tls_cert"] == "is required"
    assert errors["hosting.tls_key"] == "is required"


def test_sop_steps_are_validated(write_case) -> None:
    data = _set(example("ppid"), "sop", [{"step": 12, "done": "2026-10-02T09:00:00+08:00"},
                                         {"step": 2, "done": "2026-10-02T09:00:00"}])
    errors = _errors(write_case(data))
    assert "1-11" in errors["sop[0].step"]
    assert "no offset" in errors["sop[1].done"]


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_only_approved_cases_may_be_applied(write_case, status: str) -> None:
    case = load_case(write_case(_set(example("ppid"), "approval.status", status)))
    with pytest.raises(Refused) as info:
        require_approved(case)
    assert info.value.exit_code == 3
    assert info.value.errors[0].path == "approval.status"


def _pair(tmp_path: Path, names: list[str], days: int = 30) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{names[0]}.crt", tmp_path / f"{names[0]}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _provided(cert: Path, key: Path) -> dict[str, Any]:
    data = _set(example("ppid"), "hosting.tls", "provided")
    data = _set(data, "hosting.tls_cert", str(cert))
    return _set(data, "hosting.tls_key", str(key))


def test_a_provided_certificate_for_the_site_is_accepted(write_case, tmp_path: Path) -> None:
    cert, key = _pair(tmp_path, ["ppid.tarakankota.go.id"])
    case = load_case(write_case(_provided(cert, key)))
    assert case.tls_cert == cert


def test_a_provided_file_that_is_no_certificate_is_refused(write_case, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    errors = _errors(write_case(_provided(bogus, bogus)))
    assert "is not a PEM certificate" in errors["hosting.tls_cert"]


def test_a_certificate_for_another_name_or_key_is_refused(write_case, tmp_path: Path) -> None:
    cert, _ = _pair(tmp_path, ["lain.example.org"])
    _, other_key = _pair(tmp_path, ["ppid.tarakankota.go.id"])
    errors = _errors(write_case(_provided(cert, other_key)))
    assert "not ppid.tarakankota.go.id" in errors["hosting.tls_cert"]
    assert "does not belong to the certificate" in errors["hosting.tls_key"]


def test_a_nested_duplicate_key_is_named_by_its_full_path(write_case) -> None:
    text = (EXAMPLES / "2026-011-ppid-static.yml").read_text().replace(
        "  subdomain: ppid\n", "  subdomain: ppid\n  subdomain: ppid2\n")
    errors = _errors(write_case(text))
    assert list(errors) == ["hosting.subdomain"]
    assert "duplicate key at line" in errors["hosting.subdomain"]


# --- vendor applications: php, layout, env, commands, cron --------------------------------------

@pytest.mark.parametrize(
    ("field", "value", "path", "message_part"),
    [
        ("application.php", {"extensions": ["mbstrng"]}, "application.php.extensions[0]",
         "(did you mean 'mbstring'?); known: apcu, bcmath,"),
        ("application.php", {"settings": {"upload_max_filesize": "20MB"}},
         "application.php.settings.upload_max_filesize", "a number with K, M or G (20M)"),
        ("application.php", {"settings": {"allow_url_include": True}}, "application.php.settings.allow_url_include",
         "allowed: upload_max_filesize, post_max_size, memory_limit"),
        ("application.php", {"settings": {"upload_max_filesize": "20M", "post_max_size": "8M"}},
         "application.php.settings.post_max_size", "less than upload_max_filesize 20M"),
        ("application.php", {"settings": {"date.timezone": "Asia/Tarakan"}}, "application.php.settings.date.timezone",
         "a time zone name"),
        ("application.env", {"DB_URL": "{db.nam}"}, "application.env.DB_URL", "{db.nam} is not a placeholder; known:"),
        ("application.env", {"X": "a{b"}, "application.env.X", "lone '{'"),
        ("application.env", {"DB_USER": "x"}, "application.env.DB_USER", "set by the provisioner"),
        ("application.writable", ["storage", "storage/logs"], "application.writable[1]", "overlaps 'storage'"),
        ("application.writable", ["/srv/data"], "application.writable[0]", "is absolute"),
        ("application.writable", ["../data"], "application.writable[0]", "leaves the release"),
        ("application.document_root", "/var/www", "application.document_root", "is absolute"),
        ("application.cron", ["php artisan schedule:run"], "application.cron[0]", "a schedule of five fields"),
    ],
)
def test_a_vendor_field_problem_names_its_field_and_what_is_allowed(write_case, field: str, value: Any, path: str,
                                                                    message_part: str) -> None:
    errors = _errors(write_case(_set(example("sikesda"), field, value)))
    assert message_part in errors[path], errors


def test_a_writable_folder_may_not_hold_the_document_root(write_case) -> None:
    data = _set(example("sikesda"), "application.document_root", "public/app")
    data = _set(data, "application.writable", ["public"])
    assert "holds the document root" in _errors(write_case(data))["application.writable[0]"]


def test_a_db_placeholder_needs_a_database(write_case) -> None:
    data = _set(example("ppid"), "application.env", {"DB_DATABASE": "{db.name}"})
    assert "needs a database" in _errors(write_case(data))["application.env.DB_DATABASE"]


@pytest.mark.parametrize("field", ["document_root", "writable", "commands"])
def test_release_fields_need_a_release(write_case, field: str) -> None:
    value = "public" if field == "document_root" else ["storage"]
    data = _set(_set(example("sikesda"), "application.release", _DELETE), f"application.{field}", value)
    assert "only allowed with application.release" in _errors(write_case(data))[f"application.{field}"]


def test_the_vendor_fields_are_read(write_case) -> None:
    data = _set(example("sikesda"), "application.php", {
        "extensions": ["mbstring", "intl", "mbstring"],
        "settings": {"upload_max_filesize": "20M", "memory_limit": -1, "display_errors": False}})
    data = _set(data, "application.document_root", "public")
    data = _set(data, "application.writable", ["storage", "bootstrap/cache"])
    data = _set(data, "application.env", {"DATABASE_URL": "mysql://{db.user}:{db.password}@{db.host}/{db.name}",
                                          "BRACES": "{{x}}"})
    data = _set(data, "application.commands", ["php artisan migrate --force"])
    data = _set(data, "application.cron", ["* * * * * php artisan schedule:run"])
    case = load_case(write_case(data))
    assert case.php.extensions == ("mbstring", "intl")
    assert case.php.settings == (("upload_max_filesize", "20M"), ("memory_limit", "-1"), ("display_errors", "off"))
    assert (case.document_root, case.writable) == ("public", ("storage", "bootstrap/cache"))
    assert dict(case.env) == {
        "DATABASE_URL": (("mysql://", None), ("", "db.user"), (":", None), ("", "db.password"), ("@", None),
                         ("", "db.host"), ("/", None), ("", "db.name")),
        "BRACES": (("{x}", None),)}
    assert case.commands == ("php artisan migrate --force",)
    assert case.cron == ("* * * * * php artisan schedule:run",)


def test_bad_vendor_fields_change_nothing_else(write_case) -> None:
    """Every problem is listed at once, the others' fields too."""
    data = _set(example("sikesda"), "application.php", {"extensions": ["nope"]})
    data = _set(data, "application.cron", ["never"])
    data = _set(data, "hosting.subdomain", "www")
    assert {"application.php.extensions[0]", "application.cron[0]", "hosting.subdomain"} <= set(
        _errors(write_case(data)))
