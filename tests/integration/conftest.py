"""The integration suite runs against the real lab on this machine: `provisioner lab up` first."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, LOCAL_INVENTORY

pytestmark = pytest.mark.integration


@dataclass
class Result:
    rc: int
    out: dict[str, Any]
    stdout: str
    stderr: str


class Cli:
    """Runs the real command line, the way an engineer or a script does."""

    def __init__(self, records: Path) -> None:
        self.records = records
        self.outputs: list[str] = []

    def __call__(self, *args: str, as_json: bool = True) -> Result:
        command = [sys.executable, "-m", "provisioner", "--records", str(self.records), *args]
        if as_json:
            command.append("--json")
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        self.outputs += [done.stdout, done.stderr]
        out = json.loads(done.stdout) if as_json and done.stdout.strip() else {}
        return Result(done.returncode, out, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="session")
def cli(records: Path) -> Cli:
    return Cli(records)


@pytest.fixture(scope="session")
def lab(cli: Cli) -> Iterator[Path]:
    """Bring the lab up (idempotent) and start from no installed example."""
    up = cli("lab", "up", as_json=False)
    assert up.rc == 0, up.stdout + up.stderr
    for case in sorted(EXAMPLES.glob("*.yml")):
        gone = cli("destroy", str(case), "-i", str(LOCAL_INVENTORY), "--drop-database", "--remove-files", "--yes")
        assert gone.rc == 0, gone.out
    yield LOCAL_INVENTORY
