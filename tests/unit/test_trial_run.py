"""The batched trial (``run_trials``) against web servers on loopback and this machine as the web
host: every check present, named and ordered as before, the HTTP(S) checks really made."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioner import dns as dnsq
from provisioner import site, trial
from provisioner.case import Case, Database, load_case
from provisioner.errors import ProvisionerError
from provisioner.hosts import Hosts
from provisioner.inventory import Host, Inventory, ptr_name
from tests.conftest import EXAMPLES

ZONE = "tarakankota.go.id"
PLAIN = f"ujipolos.{ZONE}"
SECURE = f"ujiaman.{ZONE}"
HOST_CHECKS = ["public address bound", "apache configtest passes", "apache is running", "virtual host enabled",
               "virtual host as applied", "application user exists",
               # the examples have releases: their code is root's, only writable folders are the user's
               "document root is the case's folder of the release", "code read-only to the application"]
ROTATION = "log rotation installed"  # the last host check of every site


class _Site(http.server.BaseHTTPRequestHandler):
    """PLAIN over HTTP; SECURE over HTTPS, its HTTP redirecting there; any other name: 404."""

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        tls = isinstance(self.connection, ssl.SSLSocket)
        if host == SECURE and not tls:
            self._answer(301, "", {"Location": f"https://{SECURE}/"})
        elif host in (PLAIN, SECURE) and self.path == "/":
            self._answer(200, "<h1>Portal PPID Kota Tarakan</h1>", {})
        else:
            self._answer(404, "not here", {})

    def _answer(self, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "site.crt", folder / "site.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(HTTP, HTTPS) ports of the sites' server on 127.0.0.1."""
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path_factory.mktemp("tls"), SECURE))
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    servers = [plain, secure]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield plain.server_address[1], secure.server_address[1]
    for server in servers:
        server.shutdown()
        server.server_close()


def _inventory(tmp_path: Path, name_servers: bool = False) -> Inventory:
    """This machine as the web host, its loopback as the public interface; name servers on
    loopback too when asked (ns1 primary, ns2 secondary), silent."""
    local = {"ansible_connection": "local", "provisioner_address": "127.0.0.1",
             "provisioner_shared_address": "127.0.0.5"}
    hosts = {"web": Host("web", local)}
    groups: dict[str, list[str]] = {"web": ["web"], "db_mariadb": ["web"]}
    if name_servers:  # where nothing answers (a lab may run BIND on 127.0.0.1)
        silent = {**local, "provisioner_address": "127.0.0.254"}
        hosts |= {"ns1": Host("ns1", silent), "ns2": Host("ns2", silent)}
        groups |= {"dns_primary": ["ns1"], "dns_secondary": ["ns2"]}
    settings = {"provisioner_zones": [ZONE], "provisioner_pool": "127.0.0.0/24", "provisioner_pool_first": "127.0.0.10",
                "provisioner_pool_last": "127.0.0.250", "provisioner_reverse_zones": ["0.0.127.in-addr.arpa"],
                "provisioner_public_interface": "lo", "provisioner_tsig_key_file": str(tmp_path / "none.key"),
                "provisioner_state_dir": str(tmp_path / "state")}
    return Inventory(path=tmp_path / "inventory", groups=groups, hosts=hosts, settings=settings)


def _case(name: str, number: int, example: str = "ppid", **changes: Any) -> Case:
    """An example under a name no lab installs (this machine may run one)."""
    case = load_case(next(EXAMPLES.glob(f"*{example}*.yml")))
    return dataclasses.replace(case, id=f"2099-{number:03d}", app_name=name, subdomain=name, **changes)


def _sites(inventory: Inventory) -> list[site.Site]:
    plain = _case("ujipolos", 1)
    secure = _case("ujiaman", 2, tls="self-signed")
    return [site.build(c, site.Placement("127.0.0.1", "web"),
                       inventory, password_file=None) for c in (plain, secure)]


def _names(checks: list[trial.Check]) -> list[str]:
    return [c.name for c in checks]


def test_every_check_in_its_place(tmp_path: Path, ports: tuple[int, int]) -> None:
    inventory = _inventory(tmp_path)
    plain, secure = _sites(inventory)
    results = trial.run_trials([plain, secure], inventory, Hosts(inventory), ports=ports)
    trials = ["trial[0] GET /", "trial[1] GET /tidak-ada"]
    assert _names(results[plain.id]) == ["http answers on 127.0.0.1", *trials, *HOST_CHECKS, ROTATION]
    assert _names(results[secure.id]) == ["http redirects to https", "tls certificate names the site",
                                          "tls certificate not expired",
                                          "https answers on 127.0.0.1", *trials, *HOST_CHECKS, ROTATION]


def test_the_http_checks_pass_against_the_real_server(tmp_path: Path, ports: tuple[int, int]) -> None:
    inventory = _inventory(tmp_path)
    results = trial.run_trials(_sites(inventory), inventory, Hosts(inventory), ports=ports)
    for checks in results.values():
        http = [c for c in checks if c.name not in [*HOST_CHECKS, ROTATION]]
        assert all(c.ok for c in http), [c for c in http if not c.ok]
    secure = {c.name: c for c in results["2099-002"]}
    assert secure["tls certificate names the site"].detail == f"certificate names: {SECURE}"


def test_a_certificate_expiring_within_21_days_passes_with_a_warning(tmp_path: Path, ports: tuple[int, int]) -> None:
    """The test server's certificate expires in a day: the check passes, warns, and measures when."""
    inventory = _inventory(tmp_path)
    results = trial.run_trials(_sites(inventory), inventory, Hosts(inventory), ports=ports)
    expiry = next(c for c in results["2099-002"] if c.id == "tls.expiry")
    assert expiry.ok and expiry.warning
    assert expiry.as_dict()["warning"] is True
    assert expiry.detail.endswith("in 0 days: under 21 days, renew it")
    assert 0 < float(expiry.measured["expires"]) - dt.datetime.now(dt.UTC).timestamp() <= 86400
    assert expiry.measured["issuer"] == f"CN={SECURE}"  # self-signed
    assert trial.certificate_of(results["2099-002"]) == {
        "issuer": f"CN={SECURE}",
        "expires": dt.datetime.fromtimestamp(float(expiry.measured["expires"]), dt.UTC).isoformat()}
    assert trial.certificate_of(results["2099-001"]) is None
    assert not any(c.warning for c in results["2099-001"])


NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("left", "outcome", "said"), [
    (dt.timedelta(days=90), True, "expires 2027-02-27 12:00 UTC, in 90 days"),
    (dt.timedelta(days=21), True, "expires 2026-12-20 12:00 UTC, in 21 days"),
    (dt.timedelta(days=20, hours=23), "warning", "expires 2026-12-20 11:00 UTC, in 20 days: under 21 days, renew it"),
    (dt.timedelta(minutes=1), "warning", "expires 2026-11-29 12:01 UTC, in 0 days: under 21 days, renew it"),
    (dt.timedelta(0), False, "expired 2026-11-29 12:00 UTC"),
    (-dt.timedelta(days=3), False, "expired 2026-11-26 12:00 UTC"),
])
def test_certificate_expiry_passes_warns_or_fails(left: dt.timedelta, outcome: object, said: str) -> None:
    found, text = trial.certificate_outcome(NOW + left, NOW)
    assert (found, text.en) == (outcome, said)


def test_a_warning_is_said_in_indonesian_and_never_fails() -> None:
    check = trial.timed("tls.expiry", lambda: trial.certificate_outcome(NOW + dt.timedelta(days=3), NOW))
    assert check.ok and check.warning
    assert check.texts("id") == {"name": "sertifikat TLS belum kedaluwarsa",
                                 "detail": "berakhir 2026-12-02 12:00 UTC, 3 hari lagi: kurang dari 21 hari, perbarui"}
    failed = trial.timed("tls.expiry", lambda: trial.certificate_outcome(NOW - dt.timedelta(days=1), NOW))
    assert not failed.ok and not failed.warning and "warning" not in failed.as_dict()


def test_host_checks_read_this_machine(tmp_path: Path, ports: tuple[int, int]) -> None:
    """127.0.0.1 is on lo; the sites' files are not here, so their checks fail and say so."""
    inventory = _inventory(tmp_path)
    results = trial.run_trials(_sites(inventory), inventory, Hosts(inventory), ports=ports)
    checks = {c.name: c for c in results["2099-001"]}
    assert checks["public address bound"].ok and "127.0.0.1" in checks["public address bound"].detail
    assert not checks["virtual host enabled"].ok
    assert checks["virtual host enabled"].detail.endswith("missing, not enabled or not on the address")
    assert not checks["virtual host as applied"].ok
    assert checks["application user exists"].detail == "user ujipolos: missing"


def test_a_failing_check_keeps_its_detail(tmp_path: Path, ports: tuple[int, int]) -> None:
    inventory = _inventory(tmp_path)
    unknown = site.build(_case("ujilain", 3), site.Placement("127.0.0.1", "web"), inventory, password_file=None)
    checks = {c.name: c for c in trial.run_trials([unknown], inventory, Hosts(inventory), ports=ports)[unknown.id]}
    assert not checks["trial[0] GET /"].ok
    assert checks["trial[0] GET /"].detail == "GET / -> 404: status 404, want 200; body lacks 'PPID Kota Tarakan'"
    assert checks["trial[1] GET /tidak-ada"].ok


def test_run_trial_is_run_trials_of_one(tmp_path: Path, ports: tuple[int, int]) -> None:
    """(On the sites' real ports, 80 and 443: whether anything answers there does not matter.)"""
    inventory = _inventory(tmp_path)
    plain = _sites(inventory)[0]
    hosts = Hosts(inventory)
    one = trial.run_trial(plain, inventory, hosts)
    assert _names(one) == _names(trial.run_trials([plain], inventory, hosts, ports=ports)[plain.id])


def test_a_site_on_the_shared_address_has_no_ptr_checks(tmp_path: Path, ports: tuple[int, int],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnsq, "TIMEOUT", 0.2)  # the name servers are silent: fail fast
    inventory = _inventory(tmp_path, name_servers=True)
    own = _sites(inventory)[0]
    shared = site.build(_case("ujibersama", 4, public_ip="shared"), site.Placement("127.0.0.5", "web"),
                        inventory, password_file=None)
    assert shared.vars.shared and not own.vars.shared
    results = trial.run_trials([own, shared], inventory, Hosts(inventory), ports=ports)
    sync = "dns zones on ns2 in step with ns1"
    assert _names(results[own.id])[:5] == [sync, "dns A on ns1", "dns PTR on ns1", "dns A on ns2", "dns PTR on ns2"]
    assert _names(results[shared.id])[:3] == [sync, "dns A on ns1", "dns A on ns2"]
    assert not any("PTR" in name for name in _names(results[shared.id]))


def test_zones_in_step_is_asked_once_per_zone_set(tmp_path: Path, ports: tuple[int, int],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnsq, "TIMEOUT", 0.2)
    asked: list[tuple[str, ...]] = []
    in_step = trial._in_step

    def counting(primary: Host, secondary: Host, zones: list[str]) -> tuple[bool, str]:
        asked.append(tuple(zones))
        return in_step(primary, secondary, zones)

    monkeypatch.setattr(trial, "_in_step", counting)
    inventory = _inventory(tmp_path, name_servers=True)
    sites = _sites(inventory)
    results = trial.run_trials(sites, inventory, Hosts(inventory), ports=ports)
    assert asked == [(ZONE, "0.0.127.in-addr.arpa")]
    first, second = (results[s.id][0] for s in sites)
    assert first == second and first is not second


def test_a_php_site_with_a_database_has_every_check_in_its_place(tmp_path: Path, ports: tuple[int, int]) -> None:
    """(Its user does not exist here: the logins fail without reaching any database.)"""
    inventory = _inventory(tmp_path)
    case = _case("ujidb", 5, "sikesda", database=Database("mariadb", "ujidb", "ujidb"))
    php = site.build(case, site.Placement("127.0.0.1", "web"), inventory, password_file=None)
    checks = trial.run_trials([php], inventory, Hosts(inventory), ports=ports)[php.id]
    assert _names(checks)[3:] == [
        *HOST_CHECKS, "php-fpm pool configured, root-only", "php-fpm runs as the application user",
        "database settings file readable by the application only",
        "database user logs in with the application's settings", "database user cannot reach other databases",
        ROTATION]
    login = checks[-3]
    assert not login.ok and login.detail.startswith("ujidb@127.0.0.1/ujidb: ") and "ujidb" in login.detail[20:]


@pytest.mark.parametrize(("script", "expected"), [
    ('echo 1; echo "--provisioner-rc $?"; echo "ERROR 1044: denied"; echo "--provisioner-rc 1"',
     [(0, ["1"]), (1, ["ERROR 1044: denied"])]),
    ('echo "--provisioner-rc 0"; sh -c "exit 7"; echo "--provisioner-rc $?"', [(0, []), (7, [])]),
    (". /nonexistent/app.env; echo never", [(2, ["never reached"]), (2, ["never reached"])]),
])
def test_both_logins_are_told_apart_from_one_command(script: str, expected: list[tuple[int, list[str]]]) -> None:
    out = testinfra.get_host("local://").run("sh -c %s", script)
    results = trial._db_results(out.stdout, out.stderr, out.rc)
    if expected[0][1] == ["never reached"]:  # the shell died before either login: its error, for both
        assert [rc for rc, _ in results] == [2, 2]
        assert all("/nonexistent/app.env" in lines[-1] for _, lines in results)
    else:
        assert results == expected


def test_tls_fetches_share_one_context_that_reads_no_ca_store() -> None:
    """Each fetch made a default context, reading the system's CA bundle: 0.2 s of CPU each."""
    context = trial._unverified_context()
    assert trial._unverified_context() is context
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.cert_store_stats()["x509"] == 0


def test_the_chain_context_is_made_once_per_roots_file_and_again_when_the_file_changes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _self_signed(tmp_path / "a", SECURE)[0]
    roots = tmp_path / "roots.pem"
    roots.write_bytes(Path(first).read_bytes())
    context = trial._roots_context(roots)
    assert trial._roots_context(roots) is context and context.cert_store_stats()["x509"] == 1
    second = _self_signed(tmp_path / "b", SECURE)[0]
    roots.write_bytes(Path(first).read_bytes() + Path(second).read_bytes())
    again = trial._roots_context(roots)
    assert again is not context and again.cert_store_stats()["x509"] == 2
    with pytest.raises(FileNotFoundError):
        trial._roots_context(tmp_path / "missing.pem")


def _zone_test_sites(inventory: Inventory) -> list[site.Site]:
    own = _sites(inventory)[0]
    shared = site.build(_case("ujibersama", 4, public_ip="shared"), site.Placement("127.0.0.5", "web"),
                        inventory, password_file=None)
    return [own, shared]


def test_a_fleets_zones_are_read_by_one_transfer_per_server_and_zone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = _inventory(tmp_path, name_servers=True)
    own, shared = _zone_test_sites(inventory)
    monkeypatch.setattr(dnsq, "inventory_key", lambda inv: dnsq.TsigKey("k", "hmac-sha256", "c2VjcmV0"))
    read: list[tuple[str, str]] = []
    monkeypatch.setattr(dnsq, "zone_records", lambda server, zone, key: read.append((server, zone)) or {})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        assert trial._zone_reads([own, shared], inventory, pool) == {}  # two names: asked one by one
        monkeypatch.setattr(trial, "TRANSFER_FROM", 2)
        whole = trial._zone_reads([own, shared], inventory, pool)
        concurrent.futures.wait(whole.values())
    # Both sites' A names are in the zone; only the own address has a PTR (the reverse zone: one name).
    assert sorted(whole) == [("ns1", ZONE), ("ns2", ZONE)]
    assert sorted(read) == [("127.0.0.254", ZONE), ("127.0.0.254", ZONE)]
    monkeypatch.setattr(dnsq, "inventory_key", lambda inv: (_ for _ in ()).throw(ProvisionerError("no key")))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        assert trial._zone_reads([own, shared], inventory, pool) == {}  # without a key: queries


def _done(value: Any) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(value)
    return future


def test_record_checks_read_a_transferred_zone_and_ask_a_server_that_refused_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = _inventory(tmp_path, name_servers=True)
    own = _zone_test_sites(inventory)[0]
    reverse = ptr_name(own.ip)
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(dnsq, "query", lambda server, name, rdtype: asked.append((name, rdtype)) or (
        "NOERROR", [own.ip] if rdtype == "A" else [f"{own.fqdn}."]))
    zone = {own.fqdn: {"A": [own.ip], "TXT": ['"x"']}}
    whole = {("ns1", ZONE): _done(zone), ("ns2", ZONE): _done(None),  # ns2 refused the transfer
             ("ns1", own.vars.reverse_zone): _done({})}  # ns1's reverse zone lacks the PTR
    checks = {c.name: c for c in trial._record_checks(own, inventory, whole)}
    assert checks["dns A on ns1"].ok and checks["dns A on ns2"].ok
    assert not checks["dns PTR on ns1"].ok and "NXDOMAIN" in checks["dns PTR on ns1"].detail
    assert checks["dns PTR on ns2"].ok
    assert sorted(asked) == sorted([(own.fqdn, "A"), (reverse, "PTR")])  # ns2's, and nothing of ns1's
    zone[own.fqdn] = {"TXT": ['"x"']}  # the name holds other data, not its A record
    checks = {c.name: c for c in trial._record_checks(own, inventory, whole)}
    assert not checks["dns A on ns1"].ok and "NOERROR" in checks["dns A on ns1"].detail


def test_a_zone_a_server_will_not_transfer_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.exception

    def refused(server: str, zone: str, key: Any) -> Any:
        raise dns.exception.DNSException("REFUSED")

    monkeypatch.setattr(dnsq, "zone_records", refused)
    key = dnsq.TsigKey("k", "hmac-sha256", "c2VjcmV0")
    assert trial._read_zone(Host("ns1", {"provisioner_address": "127.0.0.254"}), ZONE, key) is None


def test_a_transferred_zone_answers_as_the_queries_would(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.zone

    text = ("@ 300 IN SOA ns1 admin 1 3600 600 86400 300\n@ 300 IN NS ns1\nns1 300 IN A 198.18.0.13\n"
            "Ppid 300 IN A 198.19.0.20\nppid 300 IN TXT \"x\"\nlain 300 IN CNAME ppid\n")
    zone = dns.zone.from_text(text, origin=ZONE, relativize=False)
    monkeypatch.setattr(dnsq, "transfer", lambda server, name, key, port=53: zone)
    key = dnsq.TsigKey("k", "hmac-sha256", "c2VjcmV0")
    records = dnsq.zone_records("127.0.0.254", ZONE, key)
    assert records[f"ppid.{ZONE}"] == {"A": ["198.19.0.20"], "TXT": ['"x"']}
    assert records[f"lain.{ZONE}"] == {"CNAME": [f"ppid.{ZONE}."]}
    held = dnsq.names_in_zones("127.0.0.254", [ZONE], key, [f"PPID.{ZONE}", f"baru.{ZONE}", f"lain.{ZONE}"])
    assert held == {f"PPID.{ZONE}": {"A": ["198.19.0.20"], "TXT": ['"x"']}, f"baru.{ZONE}": {},
                    f"lain.{ZONE}": {"CNAME": [f"ppid.{ZONE}."]}}
