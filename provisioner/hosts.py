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
