"""The integration suite runs against the real local lab on this machine (`provisioner lab up`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, LOCAL_INVENTORY, Cli


@pytest.fixture(scope="session")
def lab(cli: Cli) -> Path:
    """The local lab up (idempotent), with no example installed.

    The multi-host lab goes down first: both use the pool 198.19.0.0/24 and `lab up` of one refuses
    while the other is up (a no-op when it is down). tests/conftest.py runs every test of this lab
    before those of the multi-host lab, so this happens at most once per session.
    """
    other = cli("lab", "down", "--topology", "multi", as_json=False)
    assert other.rc == 0, other.stdout[-3000:] + other.stderr[-3000:]
    up = cli("lab", "up", as_json=False)
    assert up.rc == 0, up.stdout + up.stderr
    for case in sorted(EXAMPLES.glob("*.yml")):
        gone = cli("destroy", str(case), "-i", str(LOCAL_INVENTORY), "--drop-database", "--remove-files", "--yes")
        assert gone.rc == 0, gone.out
    return LOCAL_INVENTORY
