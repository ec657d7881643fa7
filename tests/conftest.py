"""Shared fixtures: paths of the repository, a writer of case files, the command line as run by users.

Also the suite's shape: each test is marked by its directory (unit, integration, multihost); a plain
`pytest` runs the unit tests only; and the tests run unit first, then those of the local lab, then
those of the multi-host lab, so each lab's session fixture brings it up once whatever the file names.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cases"
LOCAL_INVENTORY = ROOT / "inventories" / "local"
TESTS = ROOT / "tests"
# Directory -> marker. The others than unit need root and a lab; the multi-host lab's fixtures name
# it; vagrant (the Vagrantfile's machines) runs only when asked for, even by scripts/test.
GROUPS = {TESTS / "unit": "unit", TESTS / "integration": "integration", TESTS / "multihost": "multihost",
          TESTS / "vagrant": "vagrant"}
LAB_GROUPS = ("integration", "multihost", "vagrant")
MULTI_LAB_FIXTURES = {"multi", "before_lab"}
NOT_RUN = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None]:
    """Mark by directory before `-m` selects; leave out the lab's tests unless asked for; then order."""
    for item in items:
        group = next((m for d, m in GROUPS.items() if item.path.is_relative_to(d)), None)
        if group is None:
            raise pytest.UsageError(f"{item.nodeid}: tests live under tests/unit, tests/integration, tests/multihost "
                                    "or tests/vagrant")
        item.add_marker(group)
    if not config.option.markexpr:
        asked = _lab_paths_named(config)
        dropped = {i for i in items if _group(i) in LAB_GROUPS and not any(i.path.is_relative_to(p) for p in asked)}
        if dropped:
            config.hook.pytest_deselected(items=[i for i in items if i in dropped])
            items[:] = [i for i in items if i not in dropped]
            config.stash[NOT_RUN] = len(dropped)
    yield
    # After every other plugin (-m, --ff, ...): the order stays theirs within each lab's group.
    items.sort(key=_lab_order)


def _group(item: pytest.Item) -> str:
    return next(m.name for m in item.iter_markers() if m.name in GROUPS.values())


def _lab_paths_named(config: pytest.Config) -> list[Path]:
    """Paths given on the command line that lie in a lab's test directory (`pytest tests/multihost`)."""
    named = [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]
    return [p for p in named if any(p.is_relative_to(TESTS / group) for group in LAB_GROUPS)]


def _lab_order(item: pytest.Item) -> int:
    """0 unit; 1 the local lab; 2 tests taking the local lab down or up; 3 and 4 the same for the multi-host lab;
    5 the Vagrant machines, on the multi-host lab's link network once that lab is down.

    Both labs use the pool 198.19.0.0/24, so each lab's fixture takes the other down: one switch per session.
    """
    if _group(item) == "unit":
        return 0
    if _group(item) == "vagrant":
        return 5
    multi = _group(item) == "multihost" or bool(MULTI_LAB_FIXTURES & set(item.fixturenames))
    return (3 if multi else 1) + (item.get_closest_marker("lab_lifecycle") is not None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if not_run := config.stash.get(NOT_RUN, 0):
        terminalreporter.write_line(
            f"{not_run} integration, multi-host and Vagrant tests not run: they need root and build the labs. "
            "Run scripts/test, `pytest -m integration`, `pytest -m multihost`, or name their files.")


def example(name: str) -> dict[str, Any]:
    path = next(EXAMPLES.glob(f"*{name}*.yml"))
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def vendor_examples() -> dict[str, Path]:
    """The vendor examples (examples/cases/vendor) by application name, their releases built from
    Debian's packages first where missing (tests/vendor_releases.py: apt-get download, no install)."""
    from tests import vendor_releases

    vendor_releases.build(ROOT / "examples" / "releases", missing_only=True)
    return {yaml.safe_load(path.read_text())["application"]["name"]: path
            for path in sorted((EXAMPLES / "vendor").glob("*.yml"))}


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
    """No generated password in any record, ansible-runner artifact or command output; on the
    controller, each is stored vault-encrypted only."""
    from provisioner import secrets

    files = list((state_dir / "secrets").glob("*/db_password"))
    assert files and all(f.read_bytes().startswith(secrets.VAULT_HEADER) for f in files)
    passwords = [secrets.read_password(state_dir, f.parent.name) or "" for f in files]
    assert all(passwords)
    places = [p for p in records.rglob("*") if p.is_file()]
    places += [p for p in (state_dir / "runs").rglob("*") if p.is_file()]
    for password in passwords:
        for place in places:
            assert password not in place.read_text(errors="replace"), place
        for output in outputs:
            assert password not in output
