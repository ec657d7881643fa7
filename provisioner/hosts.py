"""Connections to the inventory's hosts for reading (testinfra): the trial and the live state.

Local hosts are read directly; others over SSH with paramiko, using the inventory's user, port
and key. Connections are opened on first use and reused for the whole command.
"""

from __future__ import annotations

from typing import Any

import testinfra
import yaml

from provisioner.inventory import Host, Inventory

REGISTRY = "/etc/provisioner/sites"


class Hosts:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._cache: dict[str, Any] = {}

    def get(self, host: Host) -> Any:
        if host.name not in self._cache:
            self._cache[host.name] = testinfra.get_host(self.spec(host))
        return self._cache[host.name]

    @staticmethod
    def spec(host: Host) -> str:
        if host.connection == "local":
            return "local://"
        user = host.vars.get("ansible_user", "root")
        port = host.vars.get("ansible_port", 22)
        spec = f"paramiko://{user}@{host.vars.get('ansible_host', host.name)}:{port}"
        key = host.vars.get("ansible_ssh_private_key_file")
        return f"{spec}?ssh_identity_file={key}" if key else spec

    def registry(self) -> dict[str, dict[str, Any]]:
        """The ownership records on the web host (site_registry role): case id -> record."""
        web = self.get(self.inventory.web)
        out = web.run(f"sh -c 'for f in {REGISTRY}/*.yml; do [ -f \"$f\" ] && {{ echo ---; cat \"$f\"; }}; done; true'")
        if out.rc != 0:
            raise OSError(f"cannot read {REGISTRY} on {self.inventory.web.name}: {out.stderr.strip()}")
        records = [doc for doc in yaml.safe_load_all(out.stdout) if isinstance(doc, dict) and "case" in doc]
        return {str(doc["case"]): doc for doc in records}

    def run(self, host: Host, command: str) -> str:
        """Run a read-only command on ``host``; raise OSError naming the host when it fails."""
        out = self.get(host).run(command)
        if out.rc != 0:
            raise OSError(f"{host.name}: {command.split()[0]} failed: {(out.stderr or out.stdout).strip()[:300]}")
        return str(out.stdout)

    def existing_users(self, names: list[str]) -> set[str]:
        """Which of these accounts exist on the web host."""
        if not names:
            return set()
        out = self.get(self.inventory.web).run("getent passwd " + " ".join(names))
        return {line.split(":", 1)[0] for line in out.stdout.splitlines() if line}

    def bound_addresses(self) -> set[str]:
        """IPv4 addresses on the web host's public interface."""
        out = self.run(self.inventory.web, f"ip -4 -o addr show dev {self.inventory.public_interface}")
        return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}

    def databases(self, engine: str) -> tuple[set[str], set[str]]:
        """(databases, users) on the engine's database host, read as its administrator."""
        host = self.inventory.database_host(engine)
        if engine == "mariadb":
            names = self.run(host, "mariadb -N -B -e 'SELECT schema_name FROM information_schema.schemata'")
            users = self.run(host, "mariadb -N -B -e 'SELECT DISTINCT user FROM mysql.user'")
        else:
            psql = "runuser -u postgres -- psql -X -tA -c"
            names = self.run(host, f"{psql} 'SELECT datname FROM pg_database'")
            users = self.run(host, f"{psql} 'SELECT rolname FROM pg_roles'")
        return set(names.split()), set(users.split())
