"""The trial (uji coba): checks run from outside the servers after every apply and by ``verify``.

Name servers are asked directly over DNS, the site over HTTP(S) on its public address from this
machine, and the hosts are inspected with testinfra (services, users, files, permissions, the
address, Apache's configtest, and a database login with the very settings the application got).
Every check reports name, ok, detail and duration; none of them changes anything.
"""

from __future__ import annotations

import http.client
import shlex
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.exception
import yaml
from cryptography import x509

from provisioner import dns as dnsq
from provisioner.hosts import Hosts
from provisioner.inventory import Host, Inventory
from provisioner.site import Site, php_version

HTTP_TIMEOUT = 5.0
# How long a secondary name server may take to catch up with the primary (NOTIFY, then a zone
# transfer: well under a second in the lab) before the trial says it did not.
SECONDARY_SYNC_TIMEOUT = 15.0


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


def _dns_checks(site: Site, inventory: Inventory) -> list[Check]:
    checks = []
    primary = inventory.dns_primary
    for secondary in inventory.group("dns_secondary"):
        def probe_sync(secondary: Host = secondary) -> tuple[bool, str]:
            return _in_step(primary, secondary, [site.case.zone, inventory.reverse_zone])

        checks.append(timed(f"dns zones on {secondary.name} in step with {primary.name}", probe_sync))
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

    def __init__(self, address: str, server_name: str, context: ssl.SSLContext) -> None:
        super().__init__(address, 443, timeout=HTTP_TIMEOUT, context=context)
        self.server_name = server_name
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.server_name)


def _certificate_names(sock: Any) -> list[str]:
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        return []
    try:
        san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))


def fetch(site: Site, path: str, tls: bool) -> Response:
    """GET ``path`` from the site's public address with its Host header; redirects not followed."""
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # self-signed is allowed; the names are checked instead
        conn = _NamedTLSConnection(site.ip, site.fqdn, context)
    else:
        conn = http.client.HTTPConnection(site.ip, 80, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": site.fqdn, "User-Agent": "provisioner-trial"})
        resp = conn.getresponse()
        body = resp.read(256 * 1024).decode("utf-8", errors="replace")
        names = _certificate_names(conn.sock) if tls else []
        return Response(resp.status, body, resp.getheader("Location", ""), names)
    finally:
        conn.close()


def _http_checks(site: Site) -> list[Check]:
    tls = site.case.tls != "none"
    scheme = "https" if tls else "http"
    checks = []
    if tls:
        def probe_redirect() -> tuple[bool, str]:
            resp = fetch(site, "/", tls=False)
            want = f"https://{site.fqdn}/"
            return (resp.status in (301, 308) and resp.location == want,
                    f"http://{site.ip}/ Host {site.fqdn} -> {resp.status} {resp.location} (want 301 {want})")

        def probe_cert() -> tuple[bool, str]:
            resp = fetch(site, "/", tls=True)
            return site.fqdn in resp.cert_names, f"certificate names: {', '.join(resp.cert_names) or 'none'}"

        checks.append(timed("http redirects to https", probe_redirect))
        checks.append(timed("tls certificate names the site", probe_cert))

    def probe_site() -> tuple[bool, str]:
        resp = fetch(site, "/", tls=tls)
        return resp.status < 500, f"{scheme}://{site.ip}/ Host {site.fqdn} -> {resp.status}"

    checks.append(timed(f"{scheme} answers on {site.ip}", probe_site))
    for index, trial in enumerate(site.case.trial):
        def probe_trial(trial: Any = trial) -> tuple[bool, str]:
            resp = fetch(site, trial.path, tls=tls)
            problems = []
            if resp.status != trial.status:
                problems.append(f"status {resp.status}, want {trial.status}")
            if trial.contains and trial.contains not in resp.body:
                problems.append(f"body lacks {trial.contains!r}")
            detail = f"GET {trial.path} -> {resp.status}" + (f": {'; '.join(problems)}" if problems else "")
            return not problems, detail

        checks.append(timed(f"trial[{index}] GET {trial.path}", probe_trial))
    return checks


# --- hosts (testinfra) -----------------------------------------------------------------------

def _as_app_user(site: Site, command: str) -> str:
    """Run ``command`` as the application's user with the settings it was given (its env file)."""
    env_file = site.vars.env_file
    inner = f"set -a; . {shlex.quote(env_file)}; set +a; {command}"
    return f"runuser -u {shlex.quote(site.vars.user)} -- sh -c {shlex.quote(inner)}"


def _db_commands(engine: str) -> tuple[str, str]:
    if engine == "mariadb":
        base = 'MYSQL_PWD="$DB_PASSWORD" mariadb -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -N -B'
        return f'{base} "$DB_NAME" -e "SELECT 1"', f'{base} mysql -e "SELECT 1"'
    base = 'PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5 psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -tA'
    return f'{base} -d "$DB_NAME" -c "SELECT 1"', f'{base} -d postgres -c "SELECT 1"'


def _host_checks(site: Site, inventory: Inventory, hosts: Hosts) -> list[Check]:
    web = hosts.get(inventory.web)
    v = site.vars
    checks = []

    def probe_address() -> tuple[bool, str]:
        addresses = web.interface(inventory.public_interface).addresses
        return site.ip in addresses, f"{inventory.public_interface} carries {', '.join(addresses) or 'nothing'}"

    def probe_configtest() -> tuple[bool, str]:
        out = web.run("apache2ctl configtest")
        return out.rc == 0, (out.stderr or out.stdout).strip().splitlines()[-1] if (out.stderr or out.stdout) else ""

    def probe_apache() -> tuple[bool, str]:
        running = web.process.filter(comm="apache2")
        return bool(running), f"{len(running)} apache2 processes"

    def probe_vhost() -> tuple[bool, str]:
        link = web.file(v.vhost_link)
        conf = web.file(v.vhost_file)
        ok = link.is_symlink and conf.exists and conf.user == "root" and f"{site.ip}:" in conf.content_string
        problem = "" if ok else " missing, not enabled or not on the address"
        return ok, f"{v.vhost_link} -> {v.vhost_file}{problem}"

    def probe_vhost_unchanged() -> tuple[bool, str]:
        record = yaml.safe_load(web.file(v.marker).content_string) if web.file(v.marker).exists else {}
        want = (record or {}).get("vhost_sha256", "")
        now = web.file(v.vhost_file).sha256sum if web.file(v.vhost_file).exists else "missing"
        return bool(want) and now == want, ("as applied" if now == want else
                                            f"{v.vhost_file} differs from what apply wrote (edited by hand?)")

    def probe_user() -> tuple[bool, str]:
        user = web.user(v.user)
        ok = user.exists and user.shell in ("/usr/sbin/nologin", "/bin/false")
        return ok, f"user {v.user}: " + (f"shell {user.shell}" if user.exists else "missing")

    def probe_docroot() -> tuple[bool, str]:
        docroot = web.file(v.docroot)
        ok = docroot.is_directory and docroot.user == v.user and docroot.mode & 0o002 == 0
        return ok, f"{v.docroot} owner {docroot.user if docroot.exists else '-'} mode " \
                   f"{oct(docroot.mode) if docroot.exists else '-'}"

    checks += [timed("public address bound", probe_address),
               timed("apache configtest passes", probe_configtest),
               timed("apache is running", probe_apache),
               timed("virtual host enabled", probe_vhost),
               timed("virtual host as applied", probe_vhost_unchanged),
               timed("application user exists", probe_user),
               timed("document root owned by the application", probe_docroot)]

    if site.case.runtime == "php":
        def probe_pool() -> tuple[bool, str]:
            pool = web.file(v.pool_file)
            sock = web.file(v.pool_socket)
            ok = pool.exists and pool.user == "root" and pool.mode == 0o600 and sock.is_socket
            detail = f"{v.pool_file} mode {oct(pool.mode) if pool.exists else '-'}, socket " + \
                     ("present" if sock.is_socket else "missing")
            return ok, detail

        def probe_workers() -> tuple[bool, str]:
            # ondemand pools start workers on request; the trial's HTTP checks have made some.
            out = web.run(f"ps -o user= -C php-fpm{php_version(inventory)}")
            users = {line.strip() for line in out.stdout.splitlines() if line.strip()}
            return v.user in users, f"php-fpm workers run as: {', '.join(sorted(users)) or 'none'}"

        checks += [timed("php-fpm pool configured, root-only", probe_pool),
                   timed("php-fpm runs as the application user", probe_workers)]

    database = site.case.database
    if database is not None:
        def probe_env() -> tuple[bool, str]:
            env = web.file(v.env_file)
            ok = env.exists and env.user == v.user and env.mode == 0o400
            return ok, f"{v.env_file} owner {env.user if env.exists else '-'} mode " \
                       f"{oct(env.mode) if env.exists else '-'}"

        own, other = _db_commands(database.engine)

        def probe_login() -> tuple[bool, str]:
            out = web.run(_as_app_user(site, own))
            return out.rc == 0 and out.stdout.strip() == "1", \
                f"{database.user}@{v.db.address if v.db else '-'}/{database.name}: " + \
                ("login ok" if out.rc == 0 else (out.stderr.strip().splitlines() or ["failed"])[-1])

        def probe_isolated() -> tuple[bool, str]:
            out = web.run(_as_app_user(site, other))
            target = "mysql" if database.engine == "mariadb" else "postgres"
            return out.rc != 0, f"database {target}: " + ("refused" if out.rc != 0 else "reachable, must not be")

        checks += [timed("database settings file readable by the application only", probe_env),
                   timed("database user logs in with the application's settings", probe_login),
                   timed("database user cannot reach other databases", probe_isolated)]
    return checks


def run_trial(site: Site, inventory: Inventory, hosts: Hosts) -> list[Check]:
    """Every check for one site, HTTP first so php-fpm has workers to inspect."""
    return _dns_checks(site, inventory) + _http_checks(site) + _host_checks(site, inventory, hosts)


def software_versions(site: Site, inventory: Inventory, hosts: Hosts) -> dict[str, str]:
    """Versions of the software serving the site, for the configuration record."""
    probes: list[tuple[str, Host, str]] = [("apache", inventory.web, "apache2 -v | head -n1")]
    if site.case.runtime == "php":
        probes.append(("php", inventory.web, "php -v | head -n1"))
    if site.case.database is not None:
        db_host = inventory.database_host(site.case.database.engine)
        command = "mariadb --version" if site.case.database.engine == "mariadb" else "psql --version"
        probes.append((site.case.database.engine, db_host, command))
    probes.append(("bind", inventory.dns_primary, "named -v"))
    versions = {}
    for name, host, command in probes:
        out = hosts.get(host).run(command)
        versions[name] = out.stdout.strip() if out.rc == 0 else "unknown"
    return versions
