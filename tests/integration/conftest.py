"""The integration suite runs against the real local lab on this machine (`provisioner lab up`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, Cli, Result

# The case of `failed_apply`: its id, and the name of its application, user, database and subdomain.
FAILED_ID, FAILED_NAME = "uji-tanpa-teks", "tanpateks"


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


@pytest.fixture(scope="session")
def examples_applied(cli: Cli, lab: Path) -> Path:
    """The examples live on the lab (apply again changes nothing when another test applied them)."""
    applied = cli("apply", *sorted(str(p) for p in EXAMPLES.glob("*.yml")), "-i", str(lab))
    assert applied.rc == 0, applied.out
    return lab


@dataclass
class FailedApply:
    """The result of `failed_apply`, and the public interface's addresses (`ip -4 -o addr show`) right
    after it: a case applied later in the session may take the address this run freed."""

    result: Result
    addresses: str


@pytest.fixture(scope="session")
def failed_apply(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> FailedApply:
    """The apply of a new case whose trial fails (its run undone, its incident recorded), made once
    per session: test_end_to_end checks what it undid, test_register the incident's documents.

    The case is the MariaDB PHP example under FAILED_ID and FAILED_NAME, its trial asking for a
    text the page does not hold. No assertion here: each test checks the result itself.
    """
    data = yaml.safe_load(next(EXAMPLES.glob("*sikesda*.yml")).read_text())
    data.update(id=FAILED_ID)
    data["application"].update(name=FAILED_NAME, release=str(next((EXAMPLES.parent / "releases").glob("*sikesda*"))))
    data["application"]["trial"] = [{"path": "/", "status": 200, "contains": "TIDAK ADA TEKS INI"}]
    data["hosting"]["subdomain"] = FAILED_NAME
    path = tmp_path_factory.mktemp("failed") / "case.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = cli("apply", str(path), "-i", str(lab))
    interface = load_inventory(lab).public_interface
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", interface], capture_output=True, text=True,
                           check=False)
    return FailedApply(result, shown.stdout)


@pytest.fixture(scope="session")
def failed_case(failed_apply: FailedApply) -> str:
    """A case whose trial fails (its run undone, its incident recorded): returns its id."""
    assert failed_apply.result.rc == 1, failed_apply.result.out
    return FAILED_ID
