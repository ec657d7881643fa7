"""The trial (uji coba): checks run from outside the servers after every apply and by ``verify``.

Name servers are asked directly over DNS, the site over HTTP(S) on its public address from this
machine, and the hosts are inspected (services, users, files, permissions, the address, Apache's
configtest, and a database login with the very settings the application got). Every check
reports its stable id, name, ok, detail and duration; none of them changes anything. Names and
details are said in English and Indonesian (provisioner/check_texts.py, the catalogue): the
English ones are what ``name`` and ``detail`` always were, the Indonesian ones go into the
Indonesian documents.

A fleet is trialled as a batch (``run_trials``): the DNS and HTTP checks of all sites run in a
bounded thread pool; each host is read once for all its sites (provisioner/host_facts.py: one
command, a few for a huge batch), after the HTTP checks so that php-fpm has workers to inspect;
Apache's configtest runs once per host, and whether a secondary name server is in step is asked
once per set of zones. A zone holding many of the names asked (``TRANSFER_FROM``) is read from each
name server by one TSIG-signed transfer rather than a query per name. Each site's checks keep
their names and their order.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import http.client
import shlex
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dns.exception

from provisioner import dns as dnsq
from provisioner.case_schema import PHP_EXTENSIONS
from provisioner.check_texts import CHECKS, LANGS, Said, detail, join, recognize, word
from provisioner.check_texts import name as check_name
from provisioner.errors import ProvisionerError
from provisioner.host_facts import PSQL, FactsRequest, HostFacts
from provisioner.inventory import Host, Inventory
from provisioner.site import Site, ownership_record, php_version

if TYPE_CHECKING:  # paramiko and testinfra: records.py imports Check from here and needs neither
    from provisioner.hosts import Hosts

HTTP_TIMEOUT = 5.0
# How long a secondary name server may take to catch up with the primary (NOTIFY, then a zone
# transfer: well under a second in the lab) before the trial says it did not.
SECONDARY_SYNC_TIMEOUT = 15.0
# DNS and HTTP checks of this many sites at a time (each waits on the network, not the CPU).
WORKERS = 16
# From this many names of one zone on one name server, the zone is read by one TSIG-signed transfer
# instead of a query per name (500 sites: 1,000 queries, 0.8 ms of CPU each here).
TRANSFER_FROM = 20
PORTS = (80, 443)  # HTTP, HTTPS on the sites' public addresses
CONFIGTEST = "apache2ctl configtest"
# A certificate expiring within this many days passes its check with a warning; an expired one fails.
CERTIFICATE_WARNING_DAYS = 21
WARNING: Literal["warning"] = "warning"  # what a probe returns as its outcome to pass with a warning
_RC_MARK = "--provisioner-rc "
APP_PATH = "/usr/local/bin:/usr/bin:/bin"  # the PATH of a probe run as an application's user


@dataclass
class Check:
    """One check's result. ``name`` and ``detail`` are English (as they always were); ``id`` is the
    catalogue's (None for a check outside it, as doctor's); ``said`` holds both languages.

    ``warning``: the check passed (``ok``) but tells of trouble ahead (a certificate expiring soon);
    it never fails a run. ``measured``: what the check read, for the metrics and the configuration
    record (the certificate's ``expires``, a Unix time, and ``issuer``); not part of its JSON."""

    name: str
    ok: bool
    detail: str
    duration_s: float
    id: str | None = None
    said: tuple[Said, Said] | None = field(default=None, compare=False)
    warning: bool = False
    measured: dict[str, float | str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, check_id: str | None, title: Said, ok: bool, found: Said, duration_s: float, *,
           warning: bool = False) -> Check:
        return cls(title.en, ok, found.en, duration_s, check_id, (title, found), warning=ok and warning)

    def _said(self) -> tuple[Said, Said]:
        """Both languages; a check made from English alone is said as the catalogue recognizes it."""
        return self.said or recognize(self.name, self.detail)[1:]

    def texts(self, lang: str) -> dict[str, str]:
        title, found = self._said()
        return {"name": title(lang), "detail": found(lang)}

    def failure(self) -> Said:
        """What an incident record says of this check when it failed."""
        title, found = self._said()
        return Said(f"check '{title.en}': {found.en}", f"pemeriksaan '{title.id}': {found.id}")

    def as_dict(self) -> dict[str, Any]:
        check_id = self.id if self.said else recognize(self.name, self.detail)[0]
        return {"id": check_id, "name": self.name, "ok": self.ok, "detail": self.detail,
                "duration_s": round(self.duration_s, 3), "texts": {lang: self.texts(lang) for lang in LANGS},
                **({"warning": True} if self.warning else {})}


# A probe's outcome: passed, failed, or WARNING (passed, telling of trouble ahead); and what it found.
Probe = Callable[[], tuple[bool | Literal["warning"], Said | str]]


def timed(name: str | Said, probe: Probe, **values: Any) -> Check:
    """Run a probe. ``name`` is a check id of the catalogue (its fields given as ``values``), or,
    for a check outside the catalogue, its name (in both languages, or the same in both)."""
    title = name if isinstance(name, Said) else check_name(name, **values) if name in CHECKS else Said.data(name)
    start = time.perf_counter()
    found: Said | str
    outcome: bool | Literal["warning"]
    try:
        outcome, found = probe()
    except (OSError, dns.exception.DNSException, http.client.HTTPException, ssl.SSLError, RuntimeError) as exc:
        outcome, found = False, detail("error", kind=exc.__class__.__name__, message=str(exc))
    return Check.of(name if isinstance(name, str) and name in CHECKS else None, title, bool(outcome),
                    found if isinstance(found, Said) else Said.data(found), time.perf_counter() - start,
                    warning=outcome == WARNING)


# --- DNS -------------------------------------------------------------------------------------

def _in_step(primary: Host, secondary: Host, zones: list[str]) -> tuple[bool, Said]:
    """Wait (bounded) until ``secondary`` serves every zone at the primary's SOA serial."""
    deadline = time.monotonic() + SECONDARY_SYNC_TIMEOUT
    while True:
        want = {zone: dnsq.soa_serial(primary.address, zone) for zone in zones}
        have = {zone: dnsq.soa_serial(secondary.address, zone) for zone in zones}
        if want == have:
            return True, detail("dns.serials", serials=", ".join(f"{zone} {serial}" for zone, serial in have.items()))
        if time.monotonic() > deadline:
            behind = join(detail("dns.behind", zone=zone, have=str(have[zone]), want=str(want[zone]))
                          for zone in zones if have[zone] != want[zone])
            return False, detail("dns.late", seconds=f"{SECONDARY_SYNC_TIMEOUT:.0f}", behind=behind)
        time.sleep(0.1)


def _sync_zones(site: Site) -> tuple[str, ...]:
    """The zones a secondary must serve in step for this site: its own and its reverse zone."""
    return tuple(dict.fromkeys([site.case.zone, site.vars.reverse_zone]))


def _sync_check(primary: Host, secondary: Host, zones: tuple[str, ...]) -> Check:
    return timed("dns.in_step", lambda: _in_step(primary, secondary, list(zones)),
                 secondary=secondary.name, primary=primary.name)


ZoneRead = concurrent.futures.Future[dict[str, dict[str, list[str]]] | None]  # a zone's transfer (_read_zone)


def _zone_reads(sites: list[Site], inventory: Inventory,
                pool: concurrent.futures.ThreadPoolExecutor) -> dict[tuple[str, str], ZoneRead]:
    """One zone transfer per (name server, zone) holding at least ``TRANSFER_FROM`` of the names
    the sites' checks ask for, begun on ``pool``; below that, or without a TSIG key, none."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for s in sites:
        for server in inventory.dns_servers:
            counts[server.name, s.case.zone] += 1
            if not s.vars.shared:
                counts[server.name, s.vars.reverse_zone] += 1
    wanted = [(server, zone) for server in inventory.dns_servers for zone in sorted({z for _, z in counts})
              if counts[server.name, zone] >= TRANSFER_FROM]
    if not wanted:
        return {}
    try:
        key = dnsq.inventory_key(inventory)
    except ProvisionerError:  # the checks ask name by name
        return {}
    return {(server.name, zone): pool.submit(_read_zone, server, zone, key) for server, zone in wanted}


def _read_zone(server: Host, zone: str, key: dnsq.TsigKey) -> dict[str, dict[str, list[str]]] | None:
    """The zone as ``server`` holds it; None when the server will not transfer it (the checks
    then ask it name by name, as they do for a few names)."""
    try:
        return dnsq.zone_records(server.address, zone, key)
    except (dns.exception.DNSException, OSError, EOFError):
        return None


def _lookup(server: Host, zones: dict[tuple[str, str], ZoneRead], zone: str, name: str,
            rdtype: str) -> tuple[str, list[str]]:
    """(rcode, answers) for ``name``: from the zone's transfer when there is one, else by a query."""
    read = zones.get((server.name, zone))
    records = read.result() if read is not None else None
    if records is None:
        return dnsq.query(server.address, name, rdtype)
    held = records.get(name.rstrip(".").lower())
    return ("NXDOMAIN", []) if held is None else ("NOERROR", held.get(rdtype, []))


def _record_checks(site: Site, inventory: Inventory,
                   zones: dict[tuple[str, str], ZoneRead] | None = None) -> list[Check]:
    """A (and PTR, unless the site is served on a shared address) on every authoritative server;
    read from ``zones`` (transfers of a fleet's zones) where a server's zone was read whole."""
    checks = []
    read = zones or {}
    for server in inventory.dns_servers:
        def probe_a(server: Host = server) -> tuple[bool, Said]:
            rcode, answers = _lookup(server, read, site.case.zone, site.fqdn, "A")
            return answers == [site.ip], detail("dns.answer", name=site.fqdn, type="A",
                                                answers=", ".join(answers) or rcode, want=site.ip)

        def probe_ptr(server: Host = server) -> tuple[bool, Said]:
            name = site.vars.ptr_name
            rcode, answers = _lookup(server, read, site.vars.reverse_zone, name, "PTR")
            want = f"{site.fqdn}."
            return answers == [want], detail("dns.answer", name=name, type="PTR",
                                             answers=", ".join(answers) or rcode, want=want)

        checks.append(timed("dns.a", probe_a, server=server.name))
        if not site.vars.shared:  # the shared address's PTR names the host, not each site on it
            checks.append(timed("dns.ptr", probe_ptr, server=server.name))
    return checks


# --- HTTP ------------------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    body: str
    location: str
    cert_names: list[str]
    cert_expires: dt.datetime | None = None  # the certificate's notAfter (UTC), over TLS
    cert_issuer: str = ""  # its issuer (RFC 4514)


class _NamedTLSConnection(http.client.HTTPSConnection):
    """HTTPS to an address, presenting the site's name in SNI as a browser would."""

    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=HTTP_TIMEOUT, context=context)
        self.server_name = server_name
        self.tls_context = context
        self.cert_names: list[str] = []
        self.cert_expires: dt.datetime | None = None
        self.cert_issuer = ""

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.server_name)
        # Read now: a response that closes the connection (HTTP/1.0, Connection: close) takes the socket.
        self.cert_names, self.cert_expires, self.cert_issuer = _certificate(self.sock)


def _certificate(sock: Any) -> tuple[list[str], dt.datetime | None, str]:
    """The names, the expiry and the issuer of the certificate the server presented."""
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        return [], None, ""
    from cryptography import x509  # only a site with TLS needs it: 30 to 80 ms of every command

    cert = x509.load_der_x509_certificate(der)
    # not_valid_after_utc came with cryptography 42; Debian 12's 38 gives naive UTC.
    expires = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=dt.UTC)
    issuer = cert.issuer.rfc4514_string()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return [], expires, issuer
    return list(san.value.get_values_for_type(x509.DNSName)), expires, issuer


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    """One TLS client context for every fetch of a run: self-signed is allowed, the names are checked
    instead. It loads no CA store: ``ssl.create_default_context()`` reads the system's whole bundle,
    about 0.2 s of CPU each time under the GIL (500 cases' trial: 109 s of its threads' time)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.lru_cache(maxsize=8)
def _verifying_context(roots: str | None, _stamp: tuple[int, int] | None) -> ssl.SSLContext:
    """A context that checks chain and name against ``roots`` (None: the system's), made once per
    roots file as it is now (``_stamp``: its size and modification time)."""
    return ssl.create_default_context(cafile=roots)


def _roots_context(roots: Path | None) -> ssl.SSLContext:
    if roots is None:
        return _verifying_context(None, None)
    try:
        st = roots.stat()
    except OSError:  # let the context report the missing file as it always did
        return ssl.create_default_context(cafile=str(roots))
    return _verifying_context(str(roots), (st.st_size, st.st_mtime_ns))


def fetch(site: Site, path: str, tls: bool, ports: tuple[int, int] = PORTS) -> Response:
    """GET ``path`` from the site's public address with its Host header; redirects not followed."""
    conn: http.client.HTTPConnection
    if tls:
        conn = _NamedTLSConnection(site.ip, ports[1], site.fqdn, _unverified_context())
    else:
        conn = http.client.HTTPConnection(site.ip, ports[0], timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": site.fqdn, "User-Agent": "provisioner-trial"})
        resp = conn.getresponse()
        body = resp.read(256 * 1024).decode("utf-8", errors="replace")
        if isinstance(conn, _NamedTLSConnection):
            return Response(resp.status, body, resp.getheader("Location", ""), conn.cert_names, conn.cert_expires,
                            conn.cert_issuer)
        return Response(resp.status, body, resp.getheader("Location", ""), [])
    finally:
        conn.close()


def _chain(site: Site, roots: Path | None, port: int) -> tuple[bool, Said]:
    """Whether the site's certificate chain leads to a trusted root (the inventory's ACME roots, or
    the system's) and the certificate is valid for its name, as a browser would check it."""
    conn = _NamedTLSConnection(site.ip, port, site.fqdn, _roots_context(roots))
    try:
        conn.connect()
        der = conn.sock.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        return False, detail("tls.untrusted", fqdn=site.fqdn, reason=exc.verify_message or str(exc))
    finally:
        conn.close()
    from cryptography import x509

    issuer = x509.load_der_x509_certificate(der).issuer.rfc4514_string() if der else "?"
    return True, detail("tls.chain", issuer=issuer, fqdn=site.fqdn)


def _http_checks(site: Site, ports: tuple[int, int] = PORTS, roots: Path | None = None) -> list[Check]:
    """One site's HTTP checks, in order (a case's own trial requests may build on each other).
    ``roots``: what an ACME certificate must chain to (None: the system's roots)."""
    tls = site.case.tls != "none"
    scheme = "https" if tls else "http"
    checks = []
    if tls:
        def probe_redirect() -> tuple[bool, Said]:
            resp = fetch(site, "/", tls=False, ports=ports)
            want = f"https://{site.fqdn}/"
            return (resp.status in (301, 308) and resp.location == want,
                    detail("http.redirect", ip=site.ip, fqdn=site.fqdn, status=resp.status, location=resp.location,
                           want=want))

        seen: dict[str, Response] = {}

        def tls_response() -> Response:
            """The site's answer over TLS, asked once for both certificate checks."""
            if "tls" not in seen:
                seen["tls"] = fetch(site, "/", tls=True, ports=ports)
            return seen["tls"]

        def probe_cert() -> tuple[bool, Said]:
            resp = tls_response()
            return site.fqdn in resp.cert_names, detail("tls.names", names=join(resp.cert_names, empty=word("none")))

        checks.append(timed("http.redirect", probe_redirect))
        checks.append(timed("tls.names", probe_cert))
        checks.append(_expiry_check(tls_response))
        if site.case.tls == "acme":
            checks.append(timed("tls.chain", lambda: _chain(site, roots, ports[1])))

    def probe_site() -> tuple[bool, Said]:
        resp = fetch(site, "/", tls=tls, ports=ports)
        return resp.status < 500, detail("http.status", url=f"{scheme}://{site.ip}/", fqdn=site.fqdn,
                                         status=resp.status)

    checks.append(timed("http.answers", probe_site, scheme=scheme, ip=site.ip))
    for index, trial in enumerate(site.case.trial):
        def probe_trial(trial: Any = trial) -> tuple[bool, Said]:
            resp = fetch(site, trial.path, tls=tls, ports=ports)
            problems = []
            if resp.status != trial.status:
                problems.append(detail("http.wrong_status", status=resp.status, want=trial.status))
            if trial.contains and trial.contains not in resp.body:
                problems.append(detail("http.body_lacks", text=repr(trial.contains)))
            if problems:
                return False, detail("http.trial_problems", path=trial.path, status=resp.status,
                                     problems=join(problems, "; "))
            return True, detail("http.trial", path=trial.path, status=resp.status)

        checks.append(timed("http.case_trial", probe_trial, index=index, number=index + 1, path=trial.path))
    return checks


def certificate_outcome(expires: dt.datetime, now: dt.datetime,
                        warning_days: int = CERTIFICATE_WARNING_DAYS) -> tuple[bool | Literal["warning"], Said]:
    """Expired: failed; expiring within ``warning_days``: a warning; else passed."""
    when = expires.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    left = expires - now
    if left <= dt.timedelta(0):
        return False, detail("tls.expired", date=when)
    if left < dt.timedelta(days=warning_days):
        return WARNING, detail("tls.expires_soon", date=when, days=left.days, limit=warning_days)
    return True, detail("tls.expires", date=when, days=left.days)


def _expiry_check(response: Callable[[], Response]) -> Check:
    """Whether the certificate the site presents has expired or soon will; its expiry and issuer
    are what the check measured (for the metrics and the configuration record)."""
    measured: dict[str, float | str] = {}

    def probe() -> tuple[bool | Literal["warning"], Said]:
        found = response()
        if found.cert_expires is None:
            return False, detail("tls.no_certificate")
        measured.update(expires=found.cert_expires.timestamp(), issuer=found.cert_issuer)
        return certificate_outcome(found.cert_expires, dt.datetime.now(dt.UTC))

    check = timed("tls.expiry", probe)
    check.measured = measured
    return check


def certificate_of(checks: list[Check]) -> dict[str, str] | None:
    """The certificate a trial read (issuer, expiry in ISO 8601), for the configuration record."""
    found = next((c.measured for c in checks if c.id == "tls.expiry" and "expires" in c.measured), None)
    if found is None:
        return None
    expires = dt.datetime.fromtimestamp(float(found["expires"]), dt.UTC)
    return {"issuer": str(found.get("issuer", "")), "expires": expires.isoformat()}


# --- hosts -----------------------------------------------------------------------------------

def _as_app_user(site: Site, command: str, settings: bool = True) -> str:
    """Run ``command`` as the application's user (its uid, primary group and groups), in an
    environment of its own (its home, a plain PATH: nothing of root's), with the settings it was
    given (its env file). ``setpriv`` rather than ``runuser``: no PAM session to open and close
    (and log) for each probe, 4 ms less each, 1.5 s of 500 cases' trial."""
    env_file = site.vars.env_file
    inner = f"set -a; . {shlex.quote(env_file)}; set +a; {command}" if settings else command
    user = shlex.quote(site.vars.user)
    return (f'setpriv --reuid={user} --regid="$(id -g {user})" --init-groups env -i HOME={shlex.quote(site.vars.root)} '
            f"PATH={APP_PATH} sh -c {shlex.quote(inner)}")


_CODE_WRITABLE, _NOT_WRITABLE = "code-writable ", "not-writable "


def _release_top(site: Site) -> str:
    return f"{site.vars.root}/current"


def _permissions_key(site: Site) -> str:
    return f"permissions of {site.id}"


def _permissions_probe(site: Site) -> str:
    """As the application's user: the first file or folder of the code it could write (links, the
    writable folders among them, are not code), then each writable folder it cannot write."""
    top = _release_top(site)
    code = f"find -P {shlex.quote(top + '/')} ! -type l -writable -print -quit | sed 's/^/{_CODE_WRITABLE}/'"
    folders = " ".join(shlex.quote(f"{top}/{w}") for w in site.vars.application.writable)
    writable = (f'; for w in {folders}; do [ -d "$w" ] && [ -w "$w" ] || echo "{_NOT_WRITABLE}$w"; done'
                if folders else "")
    return _as_app_user(site, code + writable, settings=False)


def _logrotate_key(site: Site) -> str:
    return f"logrotate of {site.id}"


def _php_modules_command(inventory: Inventory) -> str:
    return f"php-fpm{php_version(inventory)} -m"


def _db_commands(engine: str) -> tuple[str, str]:
    if engine == "mariadb":
        base = 'MYSQL_PWD="$DB_PASSWORD" mariadb -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -N -B'
        return f'{base} "$DB_NAME" -e "SELECT 1"', f'{base} mysql -e "SELECT 1"'
    base = f'PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5 {PSQL} -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -tA'
    return f'{base} -d "$DB_NAME" -c "SELECT 1"', f'{base} -d postgres -c "SELECT 1"'


def _db_probe(engine: str) -> str:
    """Both database logins in one shell as the application's user: each prints its output, then
    a mark with its exit code."""
    own, other = _db_commands(engine)
    return f'{own} 2>&1; echo "{_RC_MARK}$?"; {other} 2>&1; echo "{_RC_MARK}$?"'


def _db_results(stdout: str, stderr: str, rc: int) -> list[tuple[int, list[str]]]:
    """(exit code, output lines) of each login ``_db_probe`` ran; a login that never ran (the
    settings file or the user missing) gets the whole command's exit code and error."""
    results: list[tuple[int, list[str]]] = []
    lines: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(_RC_MARK):
            code = line[len(_RC_MARK):].strip()
            results.append((int(code) if code.isdigit() else 1, lines))
            lines = []
        else:
            lines.append(line)
    missing = (rc or 1, lines + stderr.splitlines())
    return [*results, missing, missing][:2]


def _login_key(site: Site) -> str:
    return f"database logins of {site.id}"


def _web_host(site: Site, inventory: Inventory) -> Host:
    """The host serving the site."""
    return inventory.web_host(site.vars.web_host)


def _ask(request: FactsRequest, site: Site, inventory: Inventory) -> None:
    """Add to the web host's request what this site's host checks read."""
    v = site.vars
    request.interface(inventory.public_interface)
    request.command("configtest", CONFIGTEST)
    request.process_list()
    request.file(v.vhost_link)
    request.file(v.vhost_file, sha256=True, contains=(f"{site.ip}:",))
    request.file(v.marker, content=True)
    request.user(v.user)
    request.file(v.docroot)
    if site.case.release is not None:
        request.file(v.vhost_file, contains=(f"DocumentRoot {v.docroot}\n",))
        request.command(_permissions_key(site), _permissions_probe(site))
    if site.case.runtime == "php":
        request.file(v.pool_file)
        request.file(v.pool_socket)
    if site.case.php.extensions:
        request.command("php modules", _php_modules_command(inventory))
    if v.application.cron:
        request.file(v.application.cron_file)
    request.file(v.logrotate_file)
    # Debug mode: logrotate reads the file and says what it would do, changing nothing.
    request.command(_logrotate_key(site), f"logrotate -d {shlex.quote(v.logrotate_file)}")
    if site.case.database is not None:
        request.file(v.env_file)
        request.command(_login_key(site), _as_app_user(site, _db_probe(site.case.database.engine)))


def _read_facts(hosts: Hosts, host: Host, request: FactsRequest) -> HostFacts | Exception:
    """The host's answer, or why it could not be read: then each of its checks fails with that."""
    try:
        return hosts.facts(host, request)
    except (OSError, RuntimeError) as exc:
        return exc
    except Exception as exc:  # an SSH failure of any kind (paramiko's own errors) fails the checks
        return RuntimeError(f"{host.name}: {exc.__class__.__name__}: {exc}")


def _ownership_record(text: str | None) -> dict[str, Any]:
    """The ownership record (JSON, older ones YAML; comment lines first)."""
    if text is None:
        return {}
    try:
        record = ownership_record(text)
    except ValueError as exc:
        raise RuntimeError(f"the ownership record is not readable: {exc}") from None
    return record if isinstance(record, dict) else {}


def _host_checks(site: Site, inventory: Inventory, read: HostFacts | Exception) -> list[Check]:
    v = site.vars
    checks = []

    def facts() -> HostFacts:
        if isinstance(read, Exception):
            raise read
        return read

    def probe_address() -> tuple[bool, Said]:
        iface = facts().interface(inventory.public_interface)
        if iface.addresses is None:
            raise RuntimeError(f"{inventory.public_interface}: {iface.error}")
        carried = site.ip in iface.addresses
        return carried, detail("host.carries" if carried else "host.lacks", interface=iface.name, address=site.ip)

    def probe_configtest() -> tuple[bool, Said]:
        out = facts().command("configtest")
        text = out.stderr or out.stdout
        return out.rc == 0, detail("server_said", text=text.strip().splitlines()[-1] if text.strip() else "")

    def probe_apache() -> tuple[bool, Said]:
        running = facts().users_running("apache2")
        return bool(running), detail("apache.processes", count=len(running))

    def probe_vhost() -> tuple[bool, Said]:
        link, conf = facts().file(v.vhost_link), facts().file(v.vhost_file)
        ok = link.is_symlink and conf.exists and conf.user == "root" and f"{site.ip}:" in conf.found
        return ok, detail("vhost.link" if ok else "vhost.link_problem", link=v.vhost_link, file=v.vhost_file)

    def probe_vhost_unchanged() -> tuple[bool, Said]:
        marker, conf = facts().file(v.marker), facts().file(v.vhost_file)
        want = _ownership_record(marker.content if marker.exists else None).get("vhost_sha256", "")
        now = conf.sha256 if conf.exists else "missing"
        return bool(want) and now == want, (detail("vhost.as_applied") if now == want else
                                            detail("vhost.differs", file=v.vhost_file))

    def probe_user() -> tuple[bool, Said]:
        user = facts().user(v.user)
        ok = user.exists and user.shell in ("/usr/sbin/nologin", "/bin/false")
        return ok, (detail("app.user", user=v.user, shell=user.shell) if user.exists
                    else detail("app.user_missing", user=v.user))

    def owner_mode(path: str) -> Said:
        found = facts().file(path)
        return detail("file.owner_mode", path=path, owner=found.user if found.exists else "-",
                      mode=oct(found.mode) if found.exists else "-")

    def probe_docroot() -> tuple[bool, Said]:
        docroot = facts().file(v.docroot)
        ok = docroot.is_directory and docroot.user == v.user and docroot.mode & 0o002 == 0
        return ok, owner_mode(v.docroot)

    checks += [timed("host.address", probe_address),
               timed("apache.configtest", probe_configtest),
               timed("apache.running", probe_apache),
               timed("vhost.enabled", probe_vhost),
               timed("vhost.as_applied", probe_vhost_unchanged),
               timed("app.user", probe_user)]
    if site.case.release is None:  # the site's files are uploaded by hand, as its own user
        checks.append(timed("app.docroot", probe_docroot))
    else:
        checks += _release_checks(site, facts)

    if site.case.runtime == "php":
        def probe_pool() -> tuple[bool, Said]:
            pool, sock = facts().file(v.pool_file), facts().file(v.pool_socket)
            ok = pool.exists and pool.user == "root" and pool.mode == 0o600 and sock.is_socket
            return ok, detail("php.pool", pool=v.pool_file, mode=oct(pool.mode) if pool.exists else "-",
                              socket=word("present" if sock.is_socket else "missing"))

        def probe_workers() -> tuple[bool, Said]:
            # ondemand pools start workers on request; the trial's HTTP checks have made some.
            running = v.user in facts().users_running(f"php-fpm{php_version(inventory)}")
            return running, detail("php.workers" if running else "php.no_workers", user=v.user)

        checks += [timed("php.pool", probe_pool),
                   timed("php.workers", probe_workers)]

    if site.case.php.extensions:
        def probe_extensions() -> tuple[bool, Said]:
            out = facts().command("php modules")
            if out.rc != 0:
                return False, detail("php.modules_failed", command=_php_modules_command(inventory), rc=out.rc,
                                     error=out.stderr.strip()[-200:])
            loaded = {line.strip().lower() for line in out.stdout.splitlines()}
            missing = [name for name in site.case.php.extensions if PHP_EXTENSIONS[name][1] not in loaded]
            return not missing, (detail("php.extensions_missing", extensions=", ".join(missing)) if missing
                                 else detail("php.extensions_loaded", extensions=", ".join(site.case.php.extensions)))

        checks.append(timed("php.extensions", probe_extensions))

    database = site.case.database
    if database is not None:
        def probe_env() -> tuple[bool, Said]:
            env = facts().file(v.env_file)
            ok = env.exists and env.user == v.user and env.mode == 0o400
            return ok, owner_mode(v.env_file)

        def logins() -> list[tuple[int, list[str]]]:
            out = facts().command(_login_key(site))
            return _db_results(out.stdout, out.stderr, out.rc)

        def probe_login() -> tuple[bool, Said]:
            rc, lines = logins()[0]
            said = [line.strip() for line in lines if line.strip()]
            where = {"user": database.user, "address": v.db.address if v.db else "-", "database": database.name}
            if rc == 0:
                return said[-1:] == ["1"], detail("db.login_ok", **where)
            return False, detail("db.login_failed", **where, error=said[-1] if said else word("failed"))

        def probe_isolated() -> tuple[bool, Said]:
            rc, _ = logins()[1]
            target = "mysql" if database.engine == "mariadb" else "postgres"
            return rc != 0, detail("db.refused" if rc != 0 else "db.reachable", target=target)

        checks += [timed("db.settings", probe_env),
                   timed("db.login", probe_login),
                   timed("db.isolated", probe_isolated)]

    if v.application.cron:
        def probe_cron() -> tuple[bool, Said]:
            cron = facts().file(v.application.cron_file)
            ok = cron.is_file and cron.user == "root" and cron.mode == 0o644
            return ok, (detail("cron.file", file=v.application.cron_file, owner=cron.user, mode=oct(cron.mode),
                               count=len(v.application.cron)) if cron.exists
                        else detail("cron.missing", file=v.application.cron_file))

        checks.append(timed("cron.installed", probe_cron))

    def probe_logrotate() -> tuple[bool, Said]:
        conf = facts().file(v.logrotate_file)
        if not conf.exists:
            return False, detail("logrotate.missing", file=v.logrotate_file)
        out = facts().command(_logrotate_key(site))
        said = (out.stderr + "\n" + out.stdout).splitlines()
        errors = [line.strip() for line in said if line.startswith("error:")]
        if out.rc != 0 or errors:
            last = errors[0] if errors else next((line for line in reversed(said) if line.strip()), "")
            return False, detail("logrotate.refused", file=v.logrotate_file, rc=out.rc, error=last[-200:])
        # logrotate skips a file that is not root's or that others may write.
        ok = conf.is_file and conf.user == "root" and conf.mode & 0o022 == 0
        return ok, detail("logrotate.accepted", file=v.logrotate_file, owner=conf.user, mode=oct(conf.mode))

    checks.append(timed("logrotate.installed", probe_logrotate))
    return checks


def _release_checks(site: Site, facts: Callable[[], HostFacts]) -> list[Check]:
    """A site with a release: served from the folder the case names, its code read-only to the
    application's user, its writable folders writable by it."""
    v = site.vars

    def permissions() -> tuple[list[str], list[str]] | Said:
        """The code the user can write and the writable folders it cannot, or why they are not known."""
        out = facts().command(_permissions_key(site))
        lines = out.stdout.splitlines()
        if out.rc != 0 and not lines:
            return detail("release.permissions_failed", user=v.user, rc=out.rc, error=out.stderr.strip()[-200:])
        return ([line[len(_CODE_WRITABLE):] for line in lines if line.startswith(_CODE_WRITABLE)],
                [line[len(_NOT_WRITABLE):] for line in lines if line.startswith(_NOT_WRITABLE)])

    def probe_docroot() -> tuple[bool, Said]:
        docroot, conf = facts().file(v.docroot), facts().file(v.vhost_file)
        served = f"DocumentRoot {v.docroot}\n" in conf.found
        if docroot.is_directory and served:
            return True, (detail("release.docroot", docroot=v.docroot, folder=site.case.document_root)
                          if site.case.document_root else detail("release.docroot_top", docroot=v.docroot))
        problems = ([] if docroot.is_directory else [detail("release.docroot_missing", docroot=v.docroot)]) + \
                   ([] if served else [detail("release.docroot_not_served", docroot=v.docroot, file=v.vhost_file)])
        return False, join(problems, "; ")

    def probe_code() -> tuple[bool, Said]:
        found = permissions()
        if isinstance(found, Said):
            return False, found
        writable = found[0]
        return not writable, (detail("release.code_writable", user=v.user, path=writable[0]) if writable
                              else detail("release.code_read_only", user=v.user, top=_release_top(site)))

    checks = [timed("release.docroot", probe_docroot),
              timed("release.code_read_only", probe_code)]
    if v.application.writable:
        def probe_writable() -> tuple[bool, Said]:
            found = permissions()
            if isinstance(found, Said):
                return False, found
            missing = found[1]
            return not missing, (detail("release.cannot_write", user=v.user, folders=", ".join(missing)) if missing
                                 else detail("release.writes", user=v.user,
                                             folders=", ".join(v.application.writable)))

        checks.append(timed("release.writable", probe_writable))
    return checks


# --- the trial -------------------------------------------------------------------------------

def run_trials(sites: list[Site], inventory: Inventory, hosts: Hosts, *, workers: int = WORKERS,
               ports: tuple[int, int] = PORTS) -> dict[str, list[Check]]:
    """Every check of every site, by case id: DNS and HTTP first, many sites at a time, then one
    read per host (after the HTTP checks, so php-fpm has workers to inspect)."""
    if not sites:
        return {}
    secondaries = inventory.group("dns_secondary")
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        http = {s.id: pool.submit(_http_checks, s, ports, inventory.acme_roots_file) for s in sites}
        syncs = {}
        for secondary in secondaries:
            for zones in dict.fromkeys(_sync_zones(s) for s in sites):
                syncs[secondary.name, zones] = pool.submit(_sync_check, inventory.dns_primary, secondary, zones)
        whole = _zone_reads(sites, inventory, pool)  # queued first: the record checks below wait on them
        records = {s.id: pool.submit(_record_checks, s, inventory, whole) for s in sites}
        concurrent.futures.wait(http.values())
        requests: dict[str, tuple[Host, FactsRequest]] = {}
        for s in sites:
            web = _web_host(s, inventory)
            _ask(requests.setdefault(web.name, (web, FactsRequest()))[1], s, inventory)
        # Each host on a thread of its own, beside the DNS checks still queued.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(requests)) as readers:
            read = {name: readers.submit(_read_facts, hosts, host, request)
                    for name, (host, request) in requests.items()}
            facts = {name: future.result() for name, future in read.items()}
        results = {}
        for s in sites:
            in_step = [dataclasses.replace(syncs[sec.name, _sync_zones(s)].result()) for sec in secondaries]
            results[s.id] = (in_step + records[s.id].result() + http[s.id].result()
                             + _host_checks(s, inventory, facts[_web_host(s, inventory).name]))
    return results


def run_trial(site: Site, inventory: Inventory, hosts: Hosts) -> list[Check]:
    """Every check for one site (``run_trials`` of one)."""
    return run_trials([site], inventory, hosts)[site.id]


def software_versions(site: Site, inventory: Inventory, hosts: Hosts) -> dict[str, str]:
    """Versions of the software serving the site, for the configuration record; each host is
    asked once per ``Hosts`` (a run), however many sites it serves."""
    probes: list[tuple[str, Host, str]] = [("apache", _web_host(site, inventory), "apache2 -v | head -n1")]
    if site.case.runtime == "php":
        probes.append(("php", _web_host(site, inventory), "php -v | head -n1"))
    if site.case.database is not None:
        db_host = inventory.database_host(site.case.database.engine, site.vars.db.host if site.vars.db else None)
        command = "mariadb --version" if site.case.database.engine == "mariadb" else f"{PSQL} --version"
        probes.append((site.case.database.engine, db_host, command))
    probes.append(("bind", inventory.dns_primary, "named -v"))
    versions = {}
    for name, host, command in probes:
        rc, stdout = hosts.output_once(host, command)
        versions[name] = stdout.strip() if rc == 0 else "unknown"
    return versions
