"""The Vagrant suite: the Vagrantfile's four machines booted for real (`vagrant up`), then the
examples applied to them through inventories/vagrant.

Opt-in (`pytest -m vagrant`, or `scripts/test --vagrant`): root, libvirt, the box of
scripts/vagrant-box, and under QEMU without KVM the best part of an hour (README). The machines
use 198.18.0.0/24 as the multi-host lab does, so tests/conftest.py runs these last, after that
lab is down; the session ends with `vagrant destroy`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.inventory import Inventory, load_inventory
from tests.conftest import ROOT

VAGRANT_INVENTORY = ROOT / "inventories" / "vagrant"
KEY = Path("~/.ssh/provisioner-vagrant").expanduser()
VAGRANT_ENV = {**os.environ, "VAGRANT_DEFAULT_PROVIDER": "libvirt"}


def vagrant(*args: str, timeout: int = 3600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["vagrant", *args], cwd=ROOT, env=VAGRANT_ENV, capture_output=True, text=True,
                          check=False, timeout=timeout)
    # The upload's progress meter, one line per step, would fill any failure message.
    done.stdout = "\n".join(line for line in done.stdout.splitlines() if "Progress:" not in line)
    return done


@pytest.fixture(scope="session")
def machines() -> Iterator[dict[str, float]]:
    """The box built (or taken from its cache), the four machines up; destroyed at the end.

    Yields the seconds each step took, for the README's measurements (`pytest -s` prints them).
    """
    timings: dict[str, float] = {}
    start = time.monotonic()
    box = subprocess.run([str(ROOT / "scripts" / "vagrant-box")], capture_output=True, text=True, check=False)
    assert box.returncode == 0, box.stdout[-3000:] + box.stderr[-3000:]
    timings["box"] = time.monotonic() - start
    try:
        start = time.monotonic()
        up = vagrant("up", "--provider=libvirt")
        timings["vagrant up"] = time.monotonic() - start
        assert up.returncode == 0, up.stdout[-5000:] + up.stderr[-5000:]
        yield timings
    finally:
        start = time.monotonic()
        gone = vagrant("destroy", "-f", timeout=900)
        print(f"\nvagrant timings (s): { {k: round(v) for k, v in timings.items()} }, "
              f"destroy {time.monotonic() - start:.0f}")
        assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr[-3000:]
        # The Vagrantfile removes its libvirt networks after the last machine; nothing stays on 198.18.0.0/24.
        networks = subprocess.run([str(ROOT / "scripts" / "vagrant-networks"), "down"], capture_output=True,
                                  text=True, check=False)
        assert networks.returncode == 0, networks.stderr
        assert "198.18.0.1/" not in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                                                    check=True).stdout


@pytest.fixture(scope="session")
def vms(machines: dict[str, float]) -> Inventory:
    return load_inventory(VAGRANT_INVENTORY)


def ssh(address: str, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as root on a machine with provisioner's key (fresh host keys on every boot)."""
    return subprocess.run(["ssh", "-i", str(KEY), "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                           f"root@{address}", command],
                          capture_output=True, text=True, check=False, timeout=120)
