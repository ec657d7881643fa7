"""Temporary inventories for the unit tests: the settings provisioner needs, and vaulted data
written with Ansible's own VaultLib (as ``ansible-vault encrypt`` and ``encrypt_string`` do)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

PASSWORD = "correct horse battery"
SECRET = "hunter2-not-in-clear"
TSIG_SECRET = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="


def settings(tmp_path: Path, **more: Any) -> dict[str, Any]:
    """Group all's variables of a valid inventory, its state outside the inventory's folder."""
    return {
        "provisioner_zones": ["example.test"], "provisioner_pool": "198.19.0.0/24",
        "provisioner_pool_first": "198.19.0.10", "provisioner_pool_last": "198.19.0.250",
        "provisioner_reverse_zones": ["0.19.198.in-addr.arpa"], "provisioner_public_interface": "provpub0",
        "provisioner_tsig_key_file": "/nonexistent/tsig.key", "provisioner_state_dir": str(tmp_path / "state"),
        **more,
    }


def encrypted(text: str, password: str = PASSWORD, label: str | None = None) -> str:
    """``text`` in Vault format (1.1, or 1.2 with a label)."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(password.encode())
    return VaultLib([(label or "default", secret)]).encrypt(text, secret=secret, vault_id=label).decode()


def inline(name: str, value: str, password: str = PASSWORD, label: str | None = None) -> str:
    """A YAML line ``name: !vault |`` with the encrypted value, as ``ansible-vault encrypt_string``."""
    return f"{name}: !vault |\n" + textwrap.indent(encrypted(value, password, label), "  ")


def write(path: Path, content: str | dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def yaml_inventory(folder: Path, tmp_path: Path, **more: Any) -> Path:
    """A YAML inventory: web1 in web, db1 in both database groups, ns1 primary; settings in group_vars/all/."""
    write(folder / "hosts.yml", {"all": {"children": {
        "web": {"hosts": {"web1": {"ansible_host": "192.0.2.11"}}},
        "db_mariadb": {"hosts": {"db1": {"ansible_host": "192.0.2.12"}}},
        "db_postgresql": {"hosts": {"db1": None}},
        "dns_primary": {"hosts": {"ns1": {"ansible_host": "192.0.2.13"}}},
    }}})
    write(folder / "group_vars" / "all" / "main.yml", settings(tmp_path, **more))
    return folder
