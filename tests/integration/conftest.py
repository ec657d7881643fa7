"""The integration suite runs against the real lab on this machine: `provisioner lab up` first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, LOCAL_INVENTORY, Cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def lab(cli: Cli) -> Iterator[Path]:
    """Bring the lab up (idempotent) and start from no installed example."""
    up = cli("lab", "up", as_json=False)
    assert up.rc == 0, up.stdout + up.stderr
    for case in sorted(EXAMPLES.glob("*.yml")):
        gone = cli("destroy", str(case), "-i", str(LOCAL_INVENTORY), "--drop-database", "--remove-files", "--yes")
        assert gone.rc == 0, gone.out
    yield LOCAL_INVENTORY
