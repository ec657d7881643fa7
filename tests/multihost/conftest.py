"""The multi-host suite: the examples on web1, db1, ns1 and ns2 (`provisioner lab up --topology multi`).

Both labs use the pool 198.19.0.0/24, so the session fixture takes the local lab down before
building this one; tests/conftest.py runs these tests after every test of the local lab, so the
labs switch once per session.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.inventory import Inventory, load_inventory
from tests.conftest import ROOT, Cli

LAB_INVENTORY = ROOT / "inventories" / "lab"
# The machine's own configuration, which the lab's hosts see through overlays but never change.
WATCHED = ("/etc/apache2", "/etc/bind", "/etc/mysql", "/etc/postgresql", "/etc/php", "/etc/ssh/sshd_config.d",
           "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/provisioner")


def machine_configuration() -> dict[str, str]:
    """Path -> sha256 (or link target) of every file under WATCHED on this machine."""
    found: dict[str, str] = {}
    for top in map(Path, WATCHED):
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if path.is_symlink():
                found[str(path)] = "-> " + str(path.readlink())
            elif path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="session")
def before_lab(cli: Cli) -> dict[str, str]:
    """The machine's configuration before the multi-host lab is built, the local lab taken down first."""
    down = cli("lab", "down", as_json=False)
    assert down.rc == 0, down.stdout[-3000:] + down.stderr[-3000:]
    return machine_configuration()


@pytest.fixture(scope="session")
def multi(cli: Cli, before_lab: dict[str, str]) -> Iterator[Inventory]:
    """The multi-host lab up (idempotent), after `before_lab` took the local lab down."""
    up = cli("lab", "up", "--topology", "multi", as_json=False)
    assert up.rc == 0, up.stdout[-3000:] + up.stderr[-3000:]
    yield load_inventory(LAB_INVENTORY)


def ssh(host: str, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` on a lab host with OpenSSH and this boot's client configuration."""
    return subprocess.run(["ssh", "-F", "/run/provisioner-lab/ssh/config", host, command],
                          capture_output=True, text=True, check=False, timeout=60)
