"""The batched database, pg_hba.conf and TLS modules (playbooks/library), without a server: what
each would change is decided by pure functions, read here; the TLS module writes into a temporary
folder. Against the real MariaDB and PostgreSQL they run in every integration test's apply."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.playbook_code import load

MARIADB = load("library/provisioner_mariadb.py")
POSTGRESQL = load("library/provisioner_postgresql.py")
PG_HBA = load("library/provisioner_pg_hba.py")
TLS = load("library/provisioner_tls.py")

# Made by the servers themselves: MariaDB's PASSWORD('pencil'), and PostgreSQL 15's verifier for
# a role created with PASSWORD 'pencil' (in a transaction rolled back).
PENCIL_NATIVE = "*7614BE58636C810A9D8970A50B3B2A78450413E4"
PENCIL_SCRAM = ("SCRAM-SHA-256$4096:Dbl+kcZvQpMMv2i7263Qdg==$onpISqowEZ+k+jVRAqwy67MxN194VJ4NVMChWx3eRtM="
                ":l47LYuPZ7a9xebCe4AExqEOc/ypCrdTm5izCxaxZlNI=")
USER = {"name": "simpeg", "host": "198.19.0.10", "database": "simpeg", "password": "pencil"}
SHOWN = ["GRANT USAGE ON *.* TO `simpeg`@`198.19.0.10` IDENTIFIED BY PASSWORD '" + PENCIL_NATIVE + "'",
         "GRANT ALL PRIVILEGES ON `simpeg`.* TO `simpeg`@`198.19.0.10`"]


def test_the_native_password_hash_is_the_servers() -> None:
    assert MARIADB.native_hash("pencil") == PENCIL_NATIVE


def test_a_mariadb_user_as_wanted_needs_nothing() -> None:
    assert MARIADB._user_statements(USER, ("mysql_native_password", PENCIL_NATIVE), MARIADB.grants_of(SHOWN)) == []


def test_a_missing_mariadb_user_is_created_with_its_one_grant() -> None:
    statements = [s for s, _ in MARIADB._user_statements(USER, None, set())]
    assert statements == ["CREATE USER 'simpeg'@'198.19.0.10' IDENTIFIED BY %s",
                          "GRANT ALL PRIVILEGES ON `simpeg`.* TO 'simpeg'@'198.19.0.10'"]


@pytest.mark.parametrize("row", [("mysql_native_password", MARIADB.native_hash("other")), ("unix_socket", "")])
def test_a_mariadb_user_with_another_password_or_plugin_gets_the_password_again(row: tuple[str, str]) -> None:
    statements = MARIADB._user_statements(USER, row, MARIADB.grants_of(SHOWN))
    assert statements == [("ALTER USER 'simpeg'@'198.19.0.10' IDENTIFIED BY %s", ("pencil",))]


@pytest.mark.parametrize("grants", [
    SHOWN[:1],                                                               # its grant revoked
    [*SHOWN, "GRANT SELECT ON `other`.* TO `simpeg`@`198.19.0.10`"],         # a grant too many
    ["GRANT ALL PRIVILEGES ON *.* TO `simpeg`@`198.19.0.10`", SHOWN[1]],     # global rights
])
def test_mariadb_grants_other_than_its_one_are_revoked_and_it_is_granted_again(grants: list[str]) -> None:
    statements = [s for s, _ in MARIADB._user_statements(USER, ("mysql_native_password", PENCIL_NATIVE),
                                                         MARIADB.grants_of(grants))]
    assert statements == ["REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'simpeg'@'198.19.0.10'",
                          "GRANT ALL PRIVILEGES ON `simpeg`.* TO 'simpeg'@'198.19.0.10'"]


def test_names_with_quotes_cannot_break_out_of_their_quoting() -> None:
    assert MARIADB.quote_name("a`b") == "`a``b`"
    assert MARIADB.account("a'b", "h") == "'a''b'@'h'"
    assert POSTGRESQL.quote_name('a"b') == '"a""b"'


def test_a_scram_verifier_is_checked_against_the_password() -> None:
    assert POSTGRESQL.scram_matches(PENCIL_SCRAM, "pencil")
    assert not POSTGRESQL.scram_matches(PENCIL_SCRAM, "pencil2")
    assert not POSTGRESQL.scram_matches("md5" + "0" * 32, "pencil")
    assert not POSTGRESQL.scram_matches(None, "pencil")


PG_USER = {"name": "simpeg", "password": "pencil", "state": "present"}
RIGHT_ROW = (False, False, False, True, PENCIL_SCRAM)


@pytest.mark.parametrize(("row", "wanted"), [
    (RIGHT_ROW, []),
    (None, ["CREATE ROLE \"simpeg\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s"]),
    ((True, False, False, True, PENCIL_SCRAM), ["ALTER ROLE \"simpeg\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"]),
    ((False, False, False, False, PENCIL_SCRAM), ["ALTER ROLE \"simpeg\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"]),
    ((False, False, False, True, None), ["ALTER ROLE \"simpeg\" PASSWORD %s"]),
])
def test_a_postgresql_user_changes_only_where_it_differs(row: Any, wanted: list[str]) -> None:
    assert [s for s, _ in POSTGRESQL.user_statements(PG_USER, row)] == wanted


def test_a_removed_postgresql_user_is_dropped_only_if_it_exists() -> None:
    absent = {"name": "simpeg", "state": "absent"}
    assert POSTGRESQL.user_statements(absent, None) == []
    assert POSTGRESQL.user_statements(absent, RIGHT_ROW) == [('DROP ROLE "simpeg"', ())]


HBA = ["# a comment the module leaves alone", "local   all   postgres   peer",
       "host\tother\tother\t198.19.0.20/32\tscram-sha-256"]


def _line(database: str = "simpeg", state: str = "present", method: str = "scram-sha-256") -> dict[str, Any]:
    return {"site": {"id": database}, "database": database, "user": database, "source": "198.19.0.10/32",
            "method": method, "state": state}


def test_a_pg_hba_line_is_added_once_at_the_end_and_nothing_else_moves() -> None:
    once, changed = PG_HBA.edit(HBA, [_line()])
    assert changed == [True] and once[:3] == HBA and once[3] == "host\tsimpeg\tsimpeg\t198.19.0.10/32\tscram-sha-256"
    assert PG_HBA.edit(once, [_line()]) == (once, [False])


def test_a_pg_hba_line_with_another_method_is_mended_in_place_and_duplicates_go() -> None:
    lines = [*HBA, "host simpeg simpeg 198.19.0.10/32 trust", "host simpeg simpeg 198.19.0.10/32 trust"]
    mended, changed = PG_HBA.edit(lines, [_line()])
    assert changed == [True] and mended == [*HBA, "host\tsimpeg\tsimpeg\t198.19.0.10/32\tscram-sha-256"]


def test_a_removed_sites_pg_hba_line_goes_and_others_stay() -> None:
    lines = [*HBA, "host\tsimpeg\tsimpeg\t198.19.0.10/32\tscram-sha-256"]
    assert PG_HBA.edit(lines, [_line(state="absent")]) == (HBA, [True])
    assert PG_HBA.edit(HBA, [_line(state="absent")]) == (HBA, [False])


def test_pg_hba_is_written_by_a_rename_keeping_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "pg_hba.conf"
    path.write_text("\n".join(HBA) + "\n")
    path.chmod(0o640)
    PG_HBA._write(str(path), [*HBA, "host\ta\ta\t10.0.0.1/32\tscram-sha-256"])
    assert path.read_text().splitlines()[-1] == "host\ta\ta\t10.0.0.1/32\tscram-sha-256"
    assert path.stat().st_mode & 0o777 == 0o640 and os.listdir(tmp_path) == ["pg_hba.conf"]


@pytest.fixture
def tls_item(tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "tls"
    return {"site": {"id": "x"}, "key": str(folder / "a.key"), "csr": str(folder / "a.csr"),
            "cert": str(folder / "a.crt"), "fqdn": "simpeg.tarakankota.go.id", "ip": "198.19.0.10"}


NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)


def _names(path: str) -> set[Any]:
    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def test_a_self_signed_site_gets_its_key_request_and_certificate_once(tls_item: dict[str, Any]) -> None:
    assert TLS.ensure(tls_item, NOW, check_mode=False)
    assert os.stat(tls_item["key"]).st_mode & 0o777 == 0o600
    assert os.stat(tls_item["cert"]).st_mode & 0o777 == 0o644 and os.path.exists(tls_item["csr"])
    assert _names(tls_item["cert"]) == {x509.DNSName("simpeg.tarakankota.go.id"),
                                        x509.IPAddress(ipaddress.ip_address("198.19.0.10"))}
    before = Path(tls_item["cert"]).read_bytes()
    assert not TLS.ensure(tls_item, NOW, check_mode=False)
    assert Path(tls_item["cert"]).read_bytes() == before


def test_a_certificate_for_another_address_or_near_its_end_is_made_again_with_the_same_key(
        tls_item: dict[str, Any]) -> None:
    TLS.ensure(tls_item, NOW, check_mode=False)
    key = Path(tls_item["key"]).read_bytes()
    assert TLS.ensure({**tls_item, "ip": "198.19.0.11"}, NOW, check_mode=False)
    assert x509.IPAddress(ipaddress.ip_address("198.19.0.11")) in _names(tls_item["cert"])
    assert Path(tls_item["key"]).read_bytes() == key
    assert TLS.ensure({**tls_item, "ip": "198.19.0.11"}, NOW + datetime.timedelta(days=800), check_mode=False)


def test_a_broken_key_is_replaced_and_its_certificate_with_it(tls_item: dict[str, Any]) -> None:
    TLS.ensure(tls_item, NOW, check_mode=False)
    cert = Path(tls_item["cert"]).read_bytes()
    Path(tls_item["key"]).write_text("not a key")
    assert TLS.ensure(tls_item, NOW, check_mode=False)
    assert Path(tls_item["cert"]).read_bytes() != cert
    assert not TLS.ensure(tls_item, NOW, check_mode=False)


def test_check_mode_writes_nothing(tls_item: dict[str, Any]) -> None:
    assert TLS.ensure(tls_item, NOW, check_mode=True)
    assert not os.path.exists(tls_item["key"]) and not os.path.exists(tls_item["cert"])


def _issue_from_ca(item: dict[str, Any], not_after: datetime.datetime) -> None:
    """Write a certificate for the item's request, signed by a throwaway CA: what an ACME CA returns."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    request = x509.load_pem_x509_csr(Path(item["csr"]).read_bytes())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Intermediate")])
    san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    cert = (x509.CertificateBuilder().subject_name(request.subject).issuer_name(issuer)
            .public_key(request.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(san, critical=False).sign(ca_key, hashes.SHA256()))
    Path(item["cert"]).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_an_acme_site_gets_a_key_a_request_for_its_name_only_and_a_stand_in_until_the_ca_answers(
        tls_item: dict[str, Any]) -> None:
    item = {**tls_item, "acme": True, "renew_days": 30}
    changed, due, request = TLS.ensure_acme(item, NOW, check_mode=False)
    assert changed and due and "BEGIN CERTIFICATE REQUEST" in request
    csr = x509.load_pem_x509_csr(request.encode())
    # A CA refuses an address in the request: the name alone.
    assert set(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == {
        x509.DNSName("simpeg.tarakankota.go.id")}
    stand_in = x509.load_pem_x509_certificate(Path(item["cert"]).read_bytes())
    assert stand_in.issuer == stand_in.subject
    assert os.stat(item["key"]).st_mode & 0o777 == 0o600
    # Run again: the stand-in stays (nothing changes) and the CA is still to be asked.
    assert TLS.ensure_acme(item, NOW, check_mode=False)[:2] == (False, True)


def test_a_certificate_from_the_ca_is_kept_until_it_is_due(tls_item: dict[str, Any]) -> None:
    item = {**tls_item, "acme": True, "renew_days": 30}
    TLS.ensure_acme(item, NOW, check_mode=False)
    _issue_from_ca(item, NOW + datetime.timedelta(days=90))
    issued = Path(item["cert"]).read_bytes()
    assert TLS.ensure_acme(item, NOW, check_mode=False)[:2] == (False, False)
    assert Path(item["cert"]).read_bytes() == issued  # never replaced by a stand-in
    assert TLS.ensure_acme(item, NOW + datetime.timedelta(days=61), check_mode=False)[1]
    assert TLS.ensure_acme({**item, "renew_days": 100}, NOW, check_mode=False)[1]
    assert TLS.ensure_acme({**item, "fqdn": "lain.tarakankota.go.id"}, NOW, check_mode=False)[1]


def test_an_acme_request_of_a_self_signed_site_is_made_again_without_its_address(tls_item: dict[str, Any]) -> None:
    TLS.ensure(tls_item, NOW, check_mode=False)
    changed, due, request = TLS.ensure_acme({**tls_item, "acme": True}, NOW, check_mode=False)
    csr = x509.load_pem_x509_csr(request.encode())
    assert changed and due
    assert set(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == {
        x509.DNSName("simpeg.tarakankota.go.id")}


def test_acme_check_mode_writes_nothing(tls_item: dict[str, Any]) -> None:
    assert TLS.ensure_acme({**tls_item, "acme": True}, NOW, check_mode=True) == (True, True, "")
    assert not os.path.exists(tls_item["key"])


DUMP = load("module_utils/provisioner_dump.py")


def test_a_dump_is_kept_gzipped_and_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "simpeg-20261129T000000Z.sql.gz"
    DUMP.dump_to_gzip(["printf", "CREATE TABLE t;"], str(target))
    assert gzip.decompress(target.read_bytes()) == b"CREATE TABLE t;"
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_dump_leaves_no_file_that_looks_like_a_backup(tmp_path: Path) -> None:
    target = tmp_path / "simpeg.sql.gz"
    with pytest.raises(OSError, match="sh failed"):
        DUMP.dump_to_gzip(["sh", "-c", "echo partial; echo broken >&2; exit 3"], str(target))
    assert os.listdir(tmp_path) == []


class _Reported:
    """What a batch module reports per item, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bool, str]] = []

    def done(self, item: dict[str, Any], changed: bool, **extra: Any) -> None:
        self.items.append((item.get("name") or "", True, ""))

    def failed(self, item: dict[str, Any], message: str, **extra: Any) -> None:
        self.items.append((item.get("name") or "", False, message))


def test_dumps_run_side_by_side_and_each_is_reported_in_order_a_failed_one_as_failed(tmp_path: Path) -> None:
    module = type("M", (), {})()
    module.check_mode = False
    names = ["a", "b", "broken", "", "c", "d", "e"]
    module.params = {"items": [{"name": n, "target": str(tmp_path / f"{n or 'none'}.sql.gz")} for n in names]}
    marks = tmp_path / "marks"
    marks.mkdir()
    # Each dump waits until two of them have started: one at a time, the first would wait forever.
    started = f'[ "$(ls {marks} | wc -l)" -ge 2 ]'
    wait = (f'touch {marks}/"$1"; for i in $(seq 60); do {started} && break; sleep 0.05; done; '
            f'{started} || {{ echo ran alone >&2; exit 1; }}')

    def argv_of(item: dict[str, Any]) -> list[str]:
        fail = "; echo no such database >&2; exit 1" if item["name"] == "broken" else "; echo dump of $1"
        return ["sh", "-c", wait + fail, "sh", item["name"]]

    reported = _Reported()
    DUMP.dump_each(module, reported, argv_of)
    assert [(n, ok) for n, ok, _ in reported.items] == [(n, n not in ("broken", "")) for n in names]
    assert "no such database" in reported.items[2][2] and "needs a name and a target" in reported.items[3][2]
    assert gzip.decompress((tmp_path / "c.sql.gz").read_bytes()) == b"dump of c\n"
    assert not (tmp_path / "broken.sql.gz").exists()
    assert len(os.listdir(marks)) == 6  # every named dump ran, none twice


def test_a_database_dropped_already_has_nothing_to_dump_when_missing_ones_are_skipped(tmp_path: Path) -> None:
    """The dump before a drop (skip_missing): a removal run again after a later failure finds the
    database dropped; it is reported unchanged and no program runs for it. Without the list of
    existing databases (a backup) every database is dumped, and a missing one fails."""
    module = type("M", (), {})()
    module.check_mode = False
    module.params = {"items": [{"name": n, "target": str(tmp_path / f"{n}.sql.gz")} for n in ("here", "gone")]}
    changed: dict[str, bool] = {}

    class Changes(_Reported):
        def done(self, item: dict[str, Any], changed_now: bool, **extra: Any) -> None:
            super().done(item, changed_now, **extra)
            changed[item["name"]] = changed_now

    def argv_of(item: dict[str, Any]) -> list[str]:
        return ["sh", "-c", f'touch {tmp_path}/ran-"$1"; [ "$1" = here ] || {{ echo unknown database >&2; exit 1; }}',
                "sh", item["name"]]

    reported = Changes()
    DUMP.dump_each(module, reported, argv_of, existing={"here", "postgres"})
    assert reported.items == [("here", True, ""), ("gone", True, "")] and changed == {"here": True, "gone": False}
    assert sorted(p.name for p in tmp_path.glob("ran-*")) == ["ran-here"]
    assert not (tmp_path / "gone.sql.gz").exists()
    reported = _Reported()
    DUMP.dump_each(module, reported, argv_of)
    assert reported.items[1][:2] == ("gone", False) and "unknown database" in reported.items[1][2]


def test_check_mode_dumps_nothing(tmp_path: Path) -> None:
    module = type("M", (), {})()
    module.check_mode = True
    module.params = {"items": [{"name": "a", "target": str(tmp_path / "a.sql.gz")}]}
    reported = _Reported()
    DUMP.dump_each(module, reported, lambda item: ["sh", "-c", f"touch {tmp_path}/ran"])
    assert reported.items == [("a", True, "")] and os.listdir(tmp_path) == []


def test_postgresql_programs_are_the_newest_installed_version_else_the_name_from_path(tmp_path: Path) -> None:
    assert DUMP.postgresql_program("pg_dump", str(tmp_path / "none")) == "pg_dump"
    for version, executable in (("9.6", True), ("15", True), ("13", True), ("16", False)):
        program = tmp_path / version / "bin" / "pg_dump"
        program.parent.mkdir(parents=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755 if executable else 0o644)
    assert DUMP.postgresql_program("pg_dump", str(tmp_path)) == str(tmp_path / "15" / "bin" / "pg_dump")
    assert DUMP.postgresql_program("psql", str(tmp_path)) == "psql"


def test_without_a_password_as_plan_of_a_new_case_has_none_only_the_rest_is_compared() -> None:
    """`plan` passes /dev/null as a new case's password file: no password to compare, and none set."""
    right = ("mysql_native_password", PENCIL_NATIVE)
    assert MARIADB._user_statements({**USER, "password": ""}, right, MARIADB.grants_of(SHOWN)) == []
    assert POSTGRESQL.user_statements({**PG_USER, "password": ""}, RIGHT_ROW) == []
    assert POSTGRESQL.user_statements({**PG_USER, "password": ""}, (True, False, False, True, None))


BATCH = load("module_utils/provisioner_batch.py")


class _Stop(Exception):
    pass


class _Module:
    def __init__(self) -> None:
        self.params = {"loop_var": "database_site", "items": []}
        self.ended: dict[str, Any] = {}

    def exit_json(self, **result: Any) -> None:
        self.ended = {"failed": False, **result}
        raise _Stop

    def fail_json(self, **result: Any) -> None:
        self.ended = {"failed": True, **result}
        raise _Stop


class _Connection:
    closed = False

    def cursor(self) -> Any:
        import contextlib
        return contextlib.nullcontext("cursor")

    def close(self) -> None:
        self.closed = True


def test_a_step_failing_midway_reports_what_was_done_and_why_and_closes_the_connection() -> None:
    module, connection = _Module(), _Connection()
    batch = BATCH.Batch(module)

    def step(module: Any, cursor: Any, batch: Any) -> None:
        batch.done({"site": {"id": "a"}}, True)
        raise RuntimeError("server has gone away")

    with pytest.raises(_Stop):
        batch.run_on(connection, step, "MariaDB")
    assert connection.closed and module.ended["failed"] and module.ended["changed"]
    assert module.ended["msg"] == "MariaDB: server has gone away" and len(module.ended["results"]) == 1


class _Cursor:
    def __init__(self, names: list[str]) -> None:
        self.names, self.statements = names, []  # type: ignore[var-annotated]

    def execute(self, statement: str) -> None:
        self.statements.append(statement)

    def fetchall(self) -> list[tuple[str]]:
        return [(name,) for name in self.names]


def test_only_databases_that_exist_are_dropped_and_none_in_check_mode() -> None:
    for check_mode, wanted in ((False, ['DROP DATABASE "gone"']), (True, [])):
        module = _Module()
        module.params["items"] = [{"site": {"id": "a"}, "name": "gone"}, {"site": {"id": "b"}, "name": "never"}]
        module.check_mode = check_mode  # type: ignore[attr-defined]
        batch, cursor = BATCH.Batch(module), _Cursor(["gone", "postgres"])
        DUMP.drop_each(module, batch, cursor, "SELECT datname FROM pg_database", POSTGRESQL.quote_name)
        assert cursor.statements[1:] == wanted
        assert [r["changed"] for r in batch.results] == [True, False]


class _Server:
    """Connections that record what each ran; a statement naming "broken" fails; the first
    ``refuse`` connections cannot be opened; ``together`` connections must run at once."""

    def __init__(self, refuse: int = 0, together: int = 0) -> None:
        import threading

        self.ran: list[tuple[int, str]] = []
        self.opened = 0
        self.refuse = refuse
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(together, timeout=5) if together else None

    def connect(self) -> Any:
        with self.lock:
            self.opened += 1
            number = self.opened
        if number <= self.refuse:
            raise OSError("too many connections")
        server, first = self, [True]

        class Cursor:
            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: Any) -> None:
                pass

            def execute(self, statement: str, arguments: Any = None) -> None:
                if first and server.barrier is not None:
                    first.clear()
                    server.barrier.wait()  # another connection is running too, or this fails
                if "broken" in statement:
                    raise RuntimeError(f"cannot run {statement}")
                with server.lock:
                    server.ran.append((number, statement))

        class Connection:
            closed = False

            def cursor(self) -> Any:
                return Cursor()

            def close(self) -> None:
                self.closed = True

        return Connection()


def test_statements_run_on_connections_of_their_own_side_by_side_and_a_failure_stays_its_own() -> None:
    server = _Server(together=2)
    jobs = {i: [(f"CREATE DATABASE d{i}" if i != 3 else "CREATE DATABASE broken", ())] for i in range(6)}
    errors = BATCH.side_by_side(server.connect, jobs, workers=2)
    assert list(errors) == [3] and "cannot run" in str(errors[3])
    wanted = sorted(f"CREATE DATABASE d{i}" for i in range(6) if i != 3)
    assert sorted(statement for _, statement in server.ran) == wanted
    assert {connection for connection, _ in server.ran} == {1, 2}


def test_a_connection_that_cannot_be_opened_leaves_its_work_to_the_others() -> None:
    server = _Server(refuse=1)
    errors = BATCH.side_by_side(server.connect, {i: [(f"DROP DATABASE d{i}", ())] for i in range(5)}, workers=3)
    assert errors == {} and len(server.ran) == 5
    nowhere = _Server(refuse=99)
    errors = BATCH.side_by_side(nowhere.connect, {i: [(f"DROP DATABASE d{i}", ())] for i in range(3)}, workers=2)
    assert sorted(errors) == [0, 1, 2] and all("too many connections" in str(e) for e in errors.values())
    assert BATCH.side_by_side(nowhere.connect, {}) == {}


def test_drops_on_connections_of_their_own_report_each_database() -> None:
    server = _Server()
    module = _Module()
    module.params["items"] = [{"site": {"id": "a"}, "name": "gone"}, {"site": {"id": "b"}, "name": "never"},
                              {"site": {"id": "c"}, "name": "broken"}]
    module.check_mode = False  # type: ignore[attr-defined]
    batch, cursor = BATCH.Batch(module), _Cursor(["gone", "broken", "postgres"])
    DUMP.drop_each(module, batch, cursor, "SELECT datname FROM pg_database", POSTGRESQL.quote_name,
                   connect=server.connect)
    assert cursor.statements == ["SELECT datname FROM pg_database"]  # the drops went elsewhere
    assert [statement for _, statement in server.ran] == ['DROP DATABASE "gone"']
    assert [(r["changed"], r.get("failed", False)) for r in batch.results] == [(True, False), (False, False),
                                                                                 (False, True)]


def test_new_databases_are_created_side_by_side_and_an_owner_put_right_in_place() -> None:
    server = _Server()
    module = _Module()
    module.params["items"] = [{"site": {"id": "a"}, "name": "baru", "owner": "baru"},
                              {"site": {"id": "b"}, "name": "lama", "owner": "lama"},
                              {"site": {"id": "c"}, "name": "pindah", "owner": "pemilik"},
                              {"site": {"id": "d"}, "name": "", "owner": "x"}]
    for check_mode in (True, False):
        module.check_mode = check_mode  # type: ignore[attr-defined]
        batch = BATCH.Batch(module)

        class Owners(_Cursor):
            def fetchall(self) -> list[tuple[str, str]]:  # type: ignore[override]
                return [("lama", "lama"), ("pindah", "orang lain")]

        POSTGRESQL._databases(module, Owners([]), batch, connect=server.connect)
        assert [(r["changed"], r.get("failed", False)) for r in batch.results] == [
            (True, False), (False, False), (True, False), (False, True)]
    assert sorted(statement for _, statement in server.ran) == [
        'ALTER DATABASE "pindah" OWNER TO "pemilik"',
        'CREATE DATABASE "baru" OWNER "baru" ENCODING \'UTF-8\' TEMPLATE template0']
