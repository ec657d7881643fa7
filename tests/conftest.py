"""Shared fixtures: paths of the repository and a writer of case files."""

from __future__ import annotations

import copy
from collections.abc import Callable
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
