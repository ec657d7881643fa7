"""The trial (uji coba): checks run from outside the servers after every apply and by ``verify``.

Name servers are asked directly over DNS, the site over HTTP(S) on its public address from this
machine, and the hosts are inspected (services, users, files, permissions, the address, Apache's
configtest, and a database login with the very settings the application got). Every check
reports name, ok, detail and duration; none of them changes anything.

A fleet is trialled as a batch (``run_trials``): the DNS and HTTP checks of all sites run in a
bounded thread pool; each host is read once for all its sites (provisioner/host_facts.py: one
command, a few for a huge batch), after the HTTP checks so that php-fpm has workers to inspect;
Apache's configtest runs once per host, and whether a secondary name server is in step is asked
once per set of zones. Each site's checks keep their names and their order.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.client
import json
import shlex
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dns.exception
import yaml
from cryptography import x509

from provisioner import dns as dnsq
from provisioner.case_schema import PHP_EXTENSIONS
from provisioner.host_facts import FactsRequest, HostFacts
from provisioner.inventory import Host, Inventory
from provisioner.site import Site, php_version

if TYPE_CHECKING:  # paramiko and testinfra: records.py imports Check from here and needs neither
    from provisioner.hosts import Hosts

HTTP_TIMEOUT = 5.0
# How long a secondary name server may take to catch up with the primary (NOTIFY, then a zone
# transfer: well under a second in the lab) before the trial says it did not.
SECONDARY_SYNC_TIMEOUT = 15.0
# DNS and HTTP checks of this many sites at a time (each waits on the network, not the CPU).
WORKERS = 16
PORTS = (80, 443)  # HTTP, HTTPS on the sites' public addresses
CONFIGTEST = "apache2ctl configtest"
_RC_MARK = "--provisioner-rc "


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "duration_s": round(self.duration_s, 3)}


def timed(name: str, probe: Callable[[], tuple[bool, str]]) -> Check:
    start = time.perf_counter()
    try:
        ok, detail = probe()
    except (OSError, dns.exception.DNSException, http.client.HTTPException, ssl.SSLError, RuntimeError) as exc:
        ok, detail = False, f"{exc.__class__.__name__}: {exc}"
    return Check(name, ok, detail, time.perf_counter() - start)


# --- DNS -------------------------------------------------------------------------------------

def _in_step(primary: Host, secondary: Host, zones: list[str]) -> tuple[bool, str]:
    """Wait (bounded) until ``secondary`` serves every zone at the primary's SOA serial."""
    deadline = time.monotonic() + SECONDARY_SYNC_TIMEOUT
    while True:
        want = {zone: dnsq.soa_serial(primary.address, zone) for zone in zones}
        have = {zone: dnsq.soa_serial(secondary.address, zone) for zone in zones}
        if want == have:
            return True, "SOA serials " + ", ".join(f"{zone} {serial}" for zone, serial in have.items())
        if time.monotonic() > deadline:
            return False, (f"after {SECONDARY_SYNC_TIMEOUT:.0f} s: " + ", ".join(
                f"{zone} {have[zone]} (primary {want[zone]})" for zone in zones if have[zone] != want[zone]))
        time.sleep(0.1)


def _sync_zones(site: Site) -> tuple[str, ...]:
    """The zones a secondary must serve in step for this site: its own and its reverse zone."""
    return tuple(dict.fromkeys([site.case.zone, site.vars.reverse_zone]))


def _sync_name(secondary: Host, inventory: Inventory) -> str:
    return f"dns zones on {secondary.name} in step with {inventory.dns_primary.name}"


def _sync_check(primary: Host, secondary: Host, zones: tuple[str, ...], name: str) -> Check:
    return timed(name, lambda: _in_step(primary, secondary, list(zones)))


def _record_checks(site: Site, inventory: Inventory) -> list[Check]:
    """A (and PTR, unless the site is served on a shared address) on every authoritative server."""
    checks = []
    for server in inventory.dns_servers:
        def probe_a(server: Host = server) -> tuple[bool, str]:
            rcode, answers = dnsq.query(server.address, site.fqdn, "A")
            return answers == [site.ip], f"{site.fqdn} A -> {', '.join(answers) or rcode} (want {site.ip})"

        def probe_ptr(server: Host = server) -> tuple[bool, str]:
            name = dnsq.reverse_name(site.ip)
            rcode, answers = dnsq.query(server.address, name, "PTR")
            want = f"{site.fqdn}."
            return answers == [want], f"{name} PTR -> {', '.join(answers) or rcode} (want {want})"

        checks.append(timed(f"dns A on {server.name}", probe_a))
        if not site.vars.shared:  # the shared address's PTR names the host, not each site on it
            checks.append(timed(f"dns PTR on {server.name}", probe_ptr))
    return checks


# --- HTTP ------------------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    body: str
    location: str
    cert_names: list[str]


class _NamedTLSConnection(http.client.HTTPSConnection):
    """HTTPS to an address, presenting the site's name in SNI as a browser would."""

    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=HTTP_TIMEOUT, context=context)
        self.server_name = server_name
        self.tls_context = context
        self.cert_names: list[str] = []

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.server_name)
        # Read now: a response that closes the connection (HTTP/1.0, Connection: close) takes the socket.
        self.cert_names = _certificate_names(self.sock)


def _certificate_names(sock: Any) -> list[str]:
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        return []
    try:
        san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))


def fetch(site: Site, path: str, tls: bool, ports: tuple[int, int] = PORTS) -> Response:
    """GET ``path`` from the site's public address with its Host header; redirects not followed."""
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # self-signed is allowed; the names are checked instead
        conn = _NamedTLSConnection(site.ip, ports[1], site.fqdn, context)
    else:
        conn = http.client.HTTPConnection(site.ip, ports[0], timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": site.fqdn, "User-Agent": "provisioner-trial"})
        resp = conn.getresponse()
        body = resp.read(256 * 1024).decode("utf-8", errors="replace")
        names = conn.cert_names if isinstance(conn, _NamedTLSConnection) else []
        return Response(resp.status, body, resp.getheader("Location", ""), names)
    finally:
        conn.close()


def _http_checks(site: Site, ports: tuple[int, int] = PORTS) -> list[Check]:
    """One site's HTTP checks, in order (a case's own trial requests may build on each other)."""
    tls = site.case.tls != "none"
    scheme = "https" if tls else "http"
    checks = []
    if tls:
        def probe_redirect() -> tuple[bool, str]:
            resp = fetch(site, "/", tls=False, ports=ports)
            want = f"https://{site.fqdn}/"
            return (resp.status in (301, 308) and resp.location == want,
                    f"http://{site.ip}/ Host {site.fqdn} -> {resp.status} {resp.location} (want 301 {want})")

        def probe_cert() -> tuple[bool, str]:
            resp = fetch(site, "/", tls=True, ports=ports)
            return site.fqdn in resp.cert_names, f"certificate names: {', '.join(resp.cert_names) or 'none'}"

        checks.append(timed("http redirects to https", probe_redirect))
        checks.append(timed("tls certificate names the site", probe_cert))

    def probe_site() -> tuple[bool, str]:
        resp = fetch(site, "/", tls=tls, ports=ports)
        return resp.status < 500, f"{scheme}://{site.ip}/ Host {site.fqdn} -> {resp.status}"

    checks.append(timed(f"{scheme} answers on {site.ip}", probe_site))
    for index, trial in enumerate(site.case.trial):
        def probe_trial(trial: Any = trial) -> tuple[bool, str]:
            resp = fetch(site, trial.path, tls=tls, ports=ports)
            problems = []
            if resp.status != trial.status:
                problems.append(f"status {resp.status}, want {trial.status}")
            if trial.contains and trial.contains not in resp.body:
                problems.append(f"body lacks {trial.contains!r}")
            detail = f"GET {trial.path} -> {resp.status}" + (f": {'; '.join(problems)}" if problems else "")
            return not problems, detail

        checks.append(timed(f"trial[{index}] GET {trial.path}", probe_trial))
    return checks


# --- hosts -----------------------------------------------------------------------------------

def _as_app_user(site: Site, command: str, settings: bool = True) -> str:
    """Run ``command`` as the application's user, with the settings it was given (its env file)."""
    env_file = site.vars.env_file
    inner = f"set -a; . {shlex.quote(env_file)}; set +a; {command}" if settings else command
    return f"runuser -u {shlex.quote(site.vars.user)} -- sh -c {shlex.quote(inner)}"


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


def _php_modules_command(inventory: Inventory) -> str:
    return f"php-fpm{php_version(inventory)} -m"


def _db_commands(engine: str) -> tuple[str, str]:
    if engine == "mariadb":
        base = 'MYSQL_PWD="$DB_PASSWORD" mariadb -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -N -B'
        return f'{base} "$DB_NAME" -e "SELECT 1"', f'{base} mysql -e "SELECT 1"'
    base = 'PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5 psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -tA'
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
        record = json.loads("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    except ValueError:
        try:
            record = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RuntimeError(f"the ownership record is not readable: {exc}") from None
    return record if isinstance(record, dict) else {}


def _host_checks(site: Site, inventory: Inventory, read: HostFacts | Exception) -> list[Check]:
    v = site.vars
    checks = []

    def facts() -> HostFacts:
        if isinstance(read, Exception):
            raise read
        return read

    def probe_address() -> tuple[bool, str]:
        iface = facts().interface(inventory.public_interface)
        if iface.addresses is None:
            raise RuntimeError(f"{inventory.public_interface}: {iface.error}")
        return site.ip in iface.addresses, f"{iface.name} carries {', '.join(iface.addresses) or 'nothing'}"

    def probe_configtest() -> tuple[bool, str]:
        out = facts().command("configtest")
        text = out.stderr or out.stdout
        return out.rc == 0, text.strip().splitlines()[-1] if text.strip() else ""

    def probe_apache() -> tuple[bool, str]:
        running = facts().users_running("apache2")
        return bool(running), f"{len(running)} apache2 processes"

    def probe_vhost() -> tuple[bool, str]:
        link, conf = facts().file(v.vhost_link), facts().file(v.vhost_file)
        ok = link.is_symlink and conf.exists and conf.user == "root" and f"{site.ip}:" in conf.found
        problem = "" if ok else " missing, not enabled or not on the address"
        return ok, f"{v.vhost_link} -> {v.vhost_file}{problem}"

    def probe_vhost_unchanged() -> tuple[bool, str]:
        marker, conf = facts().file(v.marker), facts().file(v.vhost_file)
        want = _ownership_record(marker.content if marker.exists else None).get("vhost_sha256", "")
        now = conf.sha256 if conf.exists else "missing"
        return bool(want) and now == want, ("as applied" if now == want else
                                            f"{v.vhost_file} differs from what apply wrote (edited by hand?)")

    def probe_user() -> tuple[bool, str]:
        user = facts().user(v.user)
        ok = user.exists and user.shell in ("/usr/sbin/nologin", "/bin/false")
        return ok, f"user {v.user}: " + (f"shell {user.shell}" if user.exists else "missing")

    def probe_docroot() -> tuple[bool, str]:
        docroot = facts().file(v.docroot)
        ok = docroot.is_directory and docroot.user == v.user and docroot.mode & 0o002 == 0
        return ok, f"{v.docroot} owner {docroot.user if docroot.exists else '-'} mode " \
                   f"{oct(docroot.mode) if docroot.exists else '-'}"

    checks += [timed("public address bound", probe_address),
               timed("apache configtest passes", probe_configtest),
               timed("apache is running", probe_apache),
               timed("virtual host enabled", probe_vhost),
               timed("virtual host as applied", probe_vhost_unchanged),
               timed("application user exists", probe_user)]
    if site.case.release is None:  # the site's files are uploaded by hand, as its own user
        checks.append(timed("document root owned by the application", probe_docroot))
    else:
        checks += _release_checks(site, facts)

    if site.case.runtime == "php":
        def probe_pool() -> tuple[bool, str]:
            pool, sock = facts().file(v.pool_file), facts().file(v.pool_socket)
            ok = pool.exists and pool.user == "root" and pool.mode == 0o600 and sock.is_socket
            detail = f"{v.pool_file} mode {oct(pool.mode) if pool.exists else '-'}, socket " + \
                     ("present" if sock.is_socket else "missing")
            return ok, detail

        def probe_workers() -> tuple[bool, str]:
            # ondemand pools start workers on request; the trial's HTTP checks have made some.
            users = set(facts().users_running(f"php-fpm{php_version(inventory)}"))
            return v.user in users, f"php-fpm workers run as: {', '.join(sorted(users)) or 'none'}"

        checks += [timed("php-fpm pool configured, root-only", probe_pool),
                   timed("php-fpm runs as the application user", probe_workers)]

    if site.case.php.extensions:
        def probe_extensions() -> tuple[bool, str]:
            out = facts().command("php modules")
            loaded = {line.strip().lower() for line in out.stdout.splitlines()}
            missing = [name for name in site.case.php.extensions if PHP_EXTENSIONS[name][1] not in loaded]
            if out.rc != 0:
                return False, f"{_php_modules_command(inventory)}: rc {out.rc}: {out.stderr.strip()[-200:]}"
            return not missing, ("missing: " + ", ".join(missing)) if missing else \
                "loaded: " + ", ".join(site.case.php.extensions)

        checks.append(timed("php extensions loaded", probe_extensions))

    database = site.case.database
    if database is not None:
        def probe_env() -> tuple[bool, str]:
            env = facts().file(v.env_file)
            ok = env.exists and env.user == v.user and env.mode == 0o400
            return ok, f"{v.env_file} owner {env.user if env.exists else '-'} mode " \
                       f"{oct(env.mode) if env.exists else '-'}"

        def logins() -> list[tuple[int, list[str]]]:
            out = facts().command(_login_key(site))
            return _db_results(out.stdout, out.stderr, out.rc)

        def probe_login() -> tuple[bool, str]:
            rc, lines = logins()[0]
            said = [line.strip() for line in lines if line.strip()]
            return rc == 0 and said[-1:] == ["1"], \
                f"{database.user}@{v.db.address if v.db else '-'}/{database.name}: " + \
                ("login ok" if rc == 0 else (said or ["failed"])[-1])

        def probe_isolated() -> tuple[bool, str]:
            rc, _ = logins()[1]
            target = "mysql" if database.engine == "mariadb" else "postgres"
            return rc != 0, f"database {target}: " + ("refused" if rc != 0 else "reachable, must not be")

        checks += [timed("database settings file readable by the application only", probe_env),
                   timed("database user logs in with the application's settings", probe_login),
                   timed("database user cannot reach other databases", probe_isolated)]

    if v.application.cron:
        def probe_cron() -> tuple[bool, str]:
            cron = facts().file(v.application.cron_file)
            ok = cron.is_file and cron.user == "root" and cron.mode == 0o644
            return ok, f"{v.application.cron_file} " + (f"owner {cron.user} mode {oct(cron.mode)}, "
                                                         f"{len(v.application.cron)} lines" if cron.exists
                                                         else "missing")

        checks.append(timed("cron lines installed", probe_cron))
    return checks


def _release_checks(site: Site, facts: Callable[[], HostFacts]) -> list[Check]:
    """A site with a release: served from the folder the case names, its code read-only to the
    application's user, its writable folders writable by it."""
    v = site.vars

    def permissions() -> tuple[list[str], list[str]]:
        out = facts().command(_permissions_key(site))
        lines = out.stdout.splitlines()
        if out.rc != 0 and not lines:
            raise RuntimeError(f"reading permissions as {v.user} failed (rc {out.rc}): {out.stderr.strip()[-200:]}")
        return ([line[len(_CODE_WRITABLE):] for line in lines if line.startswith(_CODE_WRITABLE)],
                [line[len(_NOT_WRITABLE):] for line in lines if line.startswith(_NOT_WRITABLE)])

    def probe_docroot() -> tuple[bool, str]:
        docroot, conf = facts().file(v.docroot), facts().file(v.vhost_file)
        served = f"DocumentRoot {v.docroot}\n" in conf.found
        where = site.case.document_root or "its top folder"
        problem = "" if docroot.is_directory else " (missing from the release)"
        problem += "" if served else f"; {v.vhost_file} does not serve it"
        return docroot.is_directory and served, f"{v.docroot}: the release's {where}{problem}"

    def probe_code() -> tuple[bool, str]:
        writable, _ = permissions()
        return not writable, (f"{v.user} can write {writable[0]}" if writable
                              else f"{v.user} can write nothing of {_release_top(site)} but its writable folders")

    checks = [timed("document root is the case's folder of the release", probe_docroot),
              timed("code read-only to the application", probe_code)]
    if v.application.writable:
        def probe_writable() -> tuple[bool, str]:
            _, missing = permissions()
            return not missing, (f"{v.user} cannot write: {', '.join(missing)}" if missing
                                 else f"{v.user} writes: {', '.join(v.application.writable)}")

        checks.append(timed("writable folders writable by the application", probe_writable))
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
        http = {s.id: pool.submit(_http_checks, s, ports) for s in sites}
        syncs = {}
        for secondary in secondaries:
            name = _sync_name(secondary, inventory)
            for zones in dict.fromkeys(_sync_zones(s) for s in sites):
                syncs[secondary.name, zones] = pool.submit(_sync_check, inventory.dns_primary, secondary, zones, name)
        records = {s.id: pool.submit(_record_checks, s, inventory) for s in sites}
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
        command = "mariadb --version" if site.case.database.engine == "mariadb" else "psql --version"
        probes.append((site.case.database.engine, db_host, command))
    probes.append(("bind", inventory.dns_primary, "named -v"))
    versions = {}
    for name, host, command in probes:
        rc, stdout = hosts.output_once(host, command)
        versions[name] = stdout.strip() if rc == 0 else "unknown"
    return versions
