"""The integration suite runs against the real local lab on this machine (`provisioner lab up`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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


@pytest.fixture(scope="session")
def examples_applied(cli: Cli, lab: Path) -> Path:
    """The examples live on the lab (apply again changes nothing when another test applied them)."""
    applied = cli("apply", *sorted(str(p) for p in EXAMPLES.glob("*.yml")), "-i", str(lab))
    assert applied.rc == 0, applied.out
    return lab


@pytest.fixture(scope="session")
def failed_case(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A case whose trial fails (its run undone, its incident recorded): returns its id."""
    data = yaml.safe_load(next(EXAMPLES.glob("*sikesda*.yml")).read_text())
    data.update(id="uji-tanpa-teks")
    data["application"].update(name="tanpateks", release=str(next((EXAMPLES.parent / "releases").glob("*sikesda*"))))
    data["application"]["trial"] = [{"path": "/", "status": 200, "contains": "TIDAK ADA TEKS INI"}]
    data["hosting"]["subdomain"] = "tanpateks"
    path = tmp_path_factory.mktemp("failed") / "case.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = cli("apply", str(path), "-i", str(lab))
    assert result.rc == 1, result.out
    return str(data["id"])
