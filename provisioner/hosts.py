"""Connections to the inventory's hosts for reading (testinfra): the trial and the live state.

Local hosts are read directly; others over SSH with paramiko, with what OpenSSH would use for
Ansible: the inventory's address, user, port and key, and the OpenSSH client configuration named
by ``-F`` in ``ansible_ssh_args``/``ansible_ssh_common_args`` (IdentityFile, UserKnownHostsFile,
StrictHostKeyChecking). Host keys are checked against those known hosts unless the inventory
turns checking off. Connections are opened on first use and reused for the whole command.
"""

from __future__ import annotations

import functools
import shlex
import socket
from pathlib import Path
from typing import Any

import paramiko
import testinfra
import testinfra.host
import yaml
from testinfra.backend.paramiko import IgnorePolicy, ParamikoBackend

from provisioner.inventory import Host, Inventory
from provisioner.site import REGISTRY_DIR as REGISTRY


@functools.lru_cache(maxsize=16)
def _ssh_config(path: str) -> paramiko.SSHConfig:
    return paramiko.SSHConfig.from_path(path)


def ssh_settings(host: Host) -> dict[str, Any]:
    """Where, as whom and with which key and known hosts to reach ``host`` over SSH."""
    address = str(host.vars.get("ansible_host", host.name))
    found: dict[str, Any] = {}
    args = shlex.split(" ".join(str(host.vars.get(k, "")) for k in ("ansible_ssh_args", "ansible_ssh_common_args")))
    config = next((args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-F"), None)
    if config and Path(config).is_file():
        found = dict(_ssh_config(config).lookup(address))
    checking = host.vars.get("ansible_host_key_checking", host.vars.get("ansible_ssh_host_key_checking", True))
    known = found.get("userknownhostsfile", "~/.ssh/known_hosts").split()[0]
    return {
        "address": address,
        "user": str(host.vars.get("ansible_user") or found.get("user") or "root"),
        "port": int(host.vars.get("ansible_port") or found.get("port") or 22),
        "key": _expand(host.vars.get("ansible_ssh_private_key_file") or (found.get("identityfile") or [None])[0]),
        "known_hosts": str(Path(known).expanduser()),
        "check_host_keys": str(checking).lower() not in ("false", "no", "0")
        and found.get("stricthostkeychecking", "yes") != "no",
    }


def _expand(path: str | None) -> str | None:
    return str(Path(path).expanduser()) if path else None


class CheckedParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, with the host key checked against the known hosts file."""

    def __init__(self, settings: dict[str, Any], name: str) -> None:
        self.settings = settings
        self.host_name = name
        super().__init__(f"{settings['user']}@{settings['address']}:{settings['port']}",
                         ssh_identity_file=settings["key"])

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.settings["check_host_keys"]:
            if Path(self.settings["known_hosts"]).is_file():
                client.load_host_keys(self.settings["known_hosts"])
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(IgnorePolicy())
        address, port = self.settings["address"], self.settings["port"]
        where = f"ssh to {self.host_name} ({address}:{port})"
        try:
            # Checks are many short commands: without TCP_NODELAY each waits on a delayed ACK (~40 ms).
            sock = socket.create_connection((address, port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.connect(address, port=port, username=self.settings["user"], sock=sock,
                           key_filename=self.settings["key"], timeout=self.timeout, allow_agent=False,
                           look_for_keys=self.settings["key"] is None)
        except (OSError, paramiko.SSHException) as exc:  # unreachable, a host key that does not match, ...
            raise OSError(f"{where}: {exc or exc.__class__.__name__}") from None
        return client


class Hosts:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._cache: dict[str, Any] = {}

    def get(self, host: Host) -> Any:
        if host.name not in self._cache:
            if host.connection == "local":
                self._cache[host.name] = testinfra.get_host("local://")
            else:
                self._cache[host.name] = testinfra.host.Host(CheckedParamikoBackend(ssh_settings(host), host.name))
        return self._cache[host.name]

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
