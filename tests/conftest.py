"""Shared fixtures: paths of the repository, a writer of case files, the command line as run by users."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cases"
LOCAL_INVENTORY = ROOT / "inventories" / "local"


def example(name: str) -> dict[str, Any]:
    path = next(EXAMPLES.glob(f"*{name}*.yml"))
    return yaml.safe_load(path.read_text())


@pytest.fixture
def write_case(tmp_path: Path) -> Callable[..., Path]:
    """Write a case file (a mutated copy of an example) beside a copy of the releases."""
    releases = tmp_path / "releases"
    releases.mkdir(exist_ok=True)
    for archive in (ROOT / "examples" / "releases").glob("*.tar.gz"):
        (releases / archive.name).write_bytes(archive.read_bytes())
    cases = tmp_path / "cases"
    cases.mkdir(exist_ok=True)

    def write(data: dict[str, Any] | str, name: str = "case.yml") -> Path:
        path = cases / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(copy.deepcopy(data), sort_keys=False))
        return path

    return write


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

    def __call__(self, *args: str, as_json: bool = True, env: dict[str, str] | None = None) -> Result:
        command = [sys.executable, "-m", "provisioner", "--records", str(self.records), *args]
        if as_json:
            command.append("--json")
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900,
                              env={**os.environ, **env} if env else None)
        self.outputs += [done.stdout, done.stderr]
        out = json.loads(done.stdout) if as_json and done.stdout.strip() else {}
        return Result(done.returncode, out, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="session")
def cli(records: Path) -> Cli:
    return Cli(records)


def assert_no_secret_leaked(state_dir: Path, records: Path, outputs: list[str]) -> None:
    """No generated password in any record, ansible-runner artifact or command output."""
    passwords = [p.read_text().strip() for p in (state_dir / "secrets").glob("*/db_password")]
    assert passwords
    places = [p for p in records.rglob("*") if p.is_file()]
    places += [p for p in (state_dir / "runs").rglob("*") if p.is_file()]
    for password in passwords:
        for place in places:
            assert password not in place.read_text(errors="replace"), place
        for output in outputs:
            assert password not in output
