"""Connections to the inventory's hosts for reading (testinfra): the trial and the live state.

Local hosts are read directly; others as Ansible reaches them: by OpenSSH (provisioner/openssh.py;
a shared master connection where the configuration has one), or by paramiko where the inventory
says ``ansible_connection: paramiko`` (provisioner/ssh.py, imported only then: paramiko alone costs
a fifth of a second to import). Connections are opened on first use and reused for the whole command.
"""

from __future__ import annotations

import concurrent.futures
import json
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import testinfra
import testinfra.host

from provisioner import host_facts
from provisioner.host_facts import PSQL, FactsRequest, HostFacts
from provisioner.inventory import Host, Inventory
from provisioner.language import _
from provisioner.site import REGISTRY_DIR as REGISTRY
from provisioner.site import ownership_record

# Shared with the site_registry role, which records the checksums this script reads back.
CHECKSUMS_SCRIPT = Path(__file__).resolve().parent.parent / "playbooks/roles/site_registry/files/checksums.py"


@dataclass
class WebState:
    """What the web host says of its sites: ownership records by case, the current checksum of
    each file the records list (None: missing), and which programs run."""

    records: dict[str, dict[str, Any]]
    checksums: dict[str, str | None]
    processes: set[str]


class Hosts:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._cache: dict[str, Any] = {}
        self._outputs: dict[tuple[str, str], tuple[int, str]] = {}

    def get(self, host: Host) -> Any:
        if host.name not in self._cache:
            if host.connection == "local":
                self._cache[host.name] = testinfra.get_host("local://")
            elif host.connection == "paramiko":
                from provisioner import ssh  # paramiko only where the inventory asks for it

                self._cache[host.name] = testinfra.host.Host(ssh.CheckedParamikoBackend(ssh.ssh_settings(host),
                                                                                        host.name))
            else:  # OpenSSH, as Ansible's ssh connection (its default)
                from provisioner.openssh import OpenSSHBackend

                self._cache[host.name] = testinfra.host.Host(OpenSSHBackend(host))
        return self._cache[host.name]

    @staticmethod
    def python(host: Host) -> str:
        """The host's Python: the inventory's ``ansible_python_interpreter``, or python3 from PATH
        (where a version manager's shim may stand before the system's: 0.14 s a start here, not 0.014)."""
        interpreter = str(host.vars.get("ansible_python_interpreter") or "python3")
        return "python3" if interpreter.startswith("auto") else interpreter

    def facts(self, host: Host, request: FactsRequest) -> HostFacts:
        """Everything ``request`` asks of ``host``, in one command (a few for a huge request)."""
        return host_facts.read(self.get(host), request, name=host.name, python=self.python(host))

    def output_once(self, host: Host, command: str) -> tuple[int, str]:
        """(exit code, stdout) of a read-only ``command`` whose answer does not change during the
        command (a software version): run once per host, then remembered."""
        key = (host.name, command)
        if key not in self._outputs:
            out = self.get(host).run(command)
            self._outputs[key] = (out.rc, str(out.stdout))
        return self._outputs[key]

    def web_state(self, web: Host, cases: Collection[str] | None = None) -> WebState:
        """The ownership records on the web host ``web`` (site_registry role), each with its
        ``web_host``, the current checksum of each file they list (of the ``cases`` named, or of
        every case: for 500 cases 0.14 s, the records alone 0.06), and the names of the running
        processes: one command."""
        only = "" if cases is None else " " + shlex.quote(json.dumps(sorted(cases)))
        out = self.get(web).run(f"{shlex.quote(self.python(web))} {host_facts.HOST_PYTHON_FLAGS} "
                                f"-c {shlex.quote(CHECKSUMS_SCRIPT.read_text())} "
                                f"--registry {REGISTRY}{only}")
        if out.rc != 0:
            raise OSError(_("cannot read {path} on {host}: {error}").format(
                path=REGISTRY, host=web.name, error=(out.stderr or out.stdout).strip()[:300]))
        found = json.loads(out.stdout)
        records: dict[str, dict[str, Any]] = {}
        for path, text in found["records"].items():
            try:
                doc = ownership_record(text)
            except ValueError as exc:
                raise OSError(_("{host}: {path} is not a record: {error}").format(host=web.name, path=path,
                                                                                  error=exc)) from None
            if isinstance(doc, dict) and "case" in doc:
                doc["web_host"] = web.name  # where it was found is where the case is
                records[str(doc["case"])] = doc
        return WebState(records, found["checksums"], set(found["processes"]))

    def registry(self) -> dict[str, dict[str, Any]]:
        """The ownership records on every web host (site_registry role): case id -> record, with
        the ``web_host`` it was found on."""
        webs = self.inventory.web_hosts
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(8, len(webs)))) as pool:
            # Side by side (over SSH each is a round trip); the records alone, no file's checksum.
            states = list(pool.map(lambda web: self.web_state(web, cases=()), webs))
        records: dict[str, dict[str, Any]] = {}
        for state in states:
            merge_records(records, state.records)
        return records

    def run(self, host: Host, command: str) -> str:
        """Run a read-only command on ``host``; raise OSError naming the host when it fails."""
        out = self.get(host).run(command)
        if out.rc != 0:
            raise OSError(_("{host}: {program} failed: {error}").format(
                host=host.name, program=command.split()[0], error=(out.stderr or out.stdout).strip()[:300]))
        return str(out.stdout)

    def existing_users(self, web: Host, names: list[str]) -> set[str]:
        """Which of these accounts exist on the web host ``web``."""
        if not names:
            return set()
        out = self.get(web).run("getent passwd " + " ".join(names))
        return {line.split(":", 1)[0] for line in out.stdout.splitlines() if line}

    def bound_addresses(self, web: Host) -> set[str]:
        """IPv4 addresses on the public interface of the web host ``web``."""
        out = self.run(web, f"ip -4 -o addr show dev {self.inventory.public_interface}")
        return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}

    def databases(self, engine: str, host: Host) -> tuple[set[str], set[str]]:
        """(databases, users) on the engine's database host ``host``, read as its administrator."""
        if engine == "mariadb":
            names = self.run(host, "mariadb -N -B -e 'SELECT schema_name FROM information_schema.schemata'")
            users = self.run(host, "mariadb -N -B -e 'SELECT DISTINCT user FROM mysql.user'")
        else:
            psql = f"runuser -u postgres -- {PSQL} -X -tA -c"
            names = self.run(host, f"{psql} 'SELECT datname FROM pg_database'")
            users = self.run(host, f"{psql} 'SELECT rolname FROM pg_roles'")
        return set(names.split()), set(users.split())

    def grants(self, engine: str, host: Host) -> set[tuple[str, str, str]]:
        """(database, user, client address) for each database a user may use from an address,
        as the database role grants it: MariaDB, rights on ``db.*`` for ``user@address``;
        PostgreSQL, the user owns the database, PUBLIC cannot connect to it, and pg_hba.conf lets
        the user in from the address."""
        if engine == "mariadb":
            rows = self.run(host, "mariadb -N -B -e \"SELECT Db, User, Host FROM mysql.db WHERE Select_priv='Y'\"")
            # A grant on a name with _ or % is written escaped (e\\_kinerja) in mysql.db.
            return {(db.replace("\\", ""), user, client) for db, user, client in _rows(rows, 3)}
        psql = f"runuser -u postgres -- {PSQL} -X -tA -F '|' -c"
        owners = self.run(host, f"{psql} \"SELECT datname, pg_get_userbyid(datdba), "
                                "coalesce(array_to_string(datacl, ','), '') FROM pg_database\"")
        hba = self.run(host, f"{psql} \"SELECT array_to_string(database, ','), array_to_string(user_name, ','), "
                             "coalesce(address, '') FROM pg_hba_file_rules WHERE type = 'host'\"")
        allowed = {(db, user, address) for db, user, address in _rows(hba, 3)}
        return {(db, owner, address) for db, owner, acl in _rows(owners, 3)
                # No ACL at all is the default: PUBLIC may connect.
                if acl and not any(entry.startswith("=") and "c" in entry.split("/")[0] for entry in acl.split(","))
                for (hba_db, hba_user, address) in allowed if (hba_db, hba_user) == (db, owner)}


def merge_records(into: dict[str, dict[str, Any]], records: dict[str, dict[str, Any]]) -> None:
    """Add one web host's ownership records to those of the others: a case recorded on two hosts
    (moved by hand) is where it is installed, not where a removal left a record."""
    for case_id, record in records.items():
        if case_id not in into or (into[case_id].get("removed") and not record.get("removed")):
            into[case_id] = record


def _rows(text: str, width: int) -> list[tuple[str, ...]]:
    """Rows of tab- or |-separated output of a database client, each of ``width`` fields."""
    rows = []
    for line in text.splitlines():
        fields = line.split("\t") if "\t" in line else line.split("|")
        if len(fields) == width:
            rows.append(tuple(fields))
    return rows

