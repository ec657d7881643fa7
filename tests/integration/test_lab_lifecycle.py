"""The local lab's life cycle: `lab down` removes what the lab added (and the cases in it), `lab up`
twice changes nothing, and the multi-host lab cannot come up beside it.

Marked `lab_lifecycle`: tests/conftest.py runs these, in this order, after every other test of the
local lab (the first takes it down, the next brings it back up).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from provisioner.inventory import load_inventory
from tests.conftest import LOCAL_INVENTORY, Cli

pytestmark = pytest.mark.lab_lifecycle
INV = load_inventory(LOCAL_INVENTORY)


def _running(name: str, grace_s: float = 10.0) -> bool:
    """Whether a process of that name is still there after a grace period for it to exit."""
    deadline = time.monotonic() + grace_s
    while subprocess.run(["pgrep", "-x", name], capture_output=True, check=False).returncode == 0:
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False


def test_lab_down_removes_what_the_lab_added(cli: Cli, lab: Path) -> None:
    record = Path("/var/lib/provisioner-lab/apache-modules-enabled")
    lab_enabled = record.read_text().split() if record.exists() else []
    result = cli("lab", "down", as_json=False)
    assert result.rc == 0, result.stdout + result.stderr[-2000:]
    for name in ("apache2", "mariadbd", "named", "postgres"):
        assert not _running(name), name
    assert not Path(f"/sys/class/net/{INV.public_interface}").exists()
    assert not Path("/etc/bind/named.conf.provisioner-lab").exists()
    assert "provisioner-lab" not in Path("/etc/bind/named.conf.local").read_text()
    assert not INV.tsig_key_file.exists()
    assert not list(Path("/etc/provisioner/sites").glob("*.yml"))
    assert not list(Path("/etc/apache2/sites-enabled").glob("*.tarakankota.go.id.conf"))
    # Modules the lab enabled are disabled again; those enabled before it (setenvif) stay.
    enabled = {p.stem for p in Path("/etc/apache2/mods-enabled").glob("*.load")}
    assert not enabled & set(lab_enabled), enabled & set(lab_enabled)
    assert "setenvif" in enabled
    status = cli("lab", "status", as_json=False)
    assert status.rc == 1


def test_lab_up_twice_changes_nothing_the_second_time(cli: Cli, lab: Path) -> None:
    first = cli("lab", "up", as_json=False)
    assert first.rc == 0, first.stdout[-2000:]
    second = cli("lab", "up", as_json=False)
    assert second.rc == 0
    assert "lab is up (changed 0)" in second.stdout
    assert cli("lab", "status", as_json=False).rc == 0


def test_the_multi_host_lab_cannot_come_up_beside_it(cli: Cli, lab: Path) -> None:
    refused = cli("lab", "up", "--topology", "multi", as_json=False)
    assert refused.rc == 1
    assert "lab down --topology local" in refused.stdout + refused.stderr
    assert not Path("/run/provisioner-lab").exists()
    assert not Path("/sys/class/net/provlab0").exists()
    assert cli("lab", "status", as_json=False).rc == 0
