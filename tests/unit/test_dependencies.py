"""What provisioner declares is what it imports, and requirements.lock pins all of it (issue 11).

A dependency imported but not declared works on the machine that happened to have it and breaks on
the next; one declared but never imported is weight and attack surface. The lock is the set the
suite passed with: scripts/bootstrap installs from it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from provisioner import ansible as ansible_run
from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DECLARED = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
EXTRAS = {name: [Requirement(r) for r in reqs] for name, reqs in PYPROJECT["project"]["optional-dependencies"].items()}
# Needed without an import in provisioner/: the collections the playbooks use, and the test runner
# testinfra's hosts run under.
NOT_IMPORTED = {"ansible": "the collections bundle the playbooks use", "pytest": "testinfra runs under it"}


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "provisioner").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(str(node.args[0].value).split(".")[0])
    return names - set(sys.stdlib_module_names) - {"provisioner"}


def _distributions(module: str) -> set[str]:
    return {canonicalize_name(d) for d in importlib.metadata.packages_distributions().get(module, [])}


def test_every_third_party_import_is_declared() -> None:
    declared = {canonicalize_name(r.name) for r in DECLARED}
    undeclared = {m: _distributions(m) for m in _imported_top_levels() if not _distributions(m) & declared}
    assert undeclared == {}


def test_every_declared_dependency_is_imported_or_has_a_reason() -> None:
    imported = set().union(*(_distributions(m) for m in _imported_top_levels()))
    unused = {r.name for r in DECLARED if canonicalize_name(r.name) not in imported} - set(NOT_IMPORTED)
    assert unused == set()


def test_ansible_and_mitogen_have_upper_bounds() -> None:
    bounded = {canonicalize_name(r.name) for r in [*DECLARED, *EXTRAS["mitogen"]]
               if any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)}
    assert {"ansible", "ansible-core", "mitogen"} <= bounded


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[canonicalize_name(name)] = version
    return pins


@pytest.mark.parametrize("group", ["dependencies", *EXTRAS])
def test_the_lock_pins_every_declared_dependency_within_its_range(group: str) -> None:
    pins = _locked()
    wanted = DECLARED if group == "dependencies" else EXTRAS[group]
    outside = {r.name: pins.get(canonicalize_name(r.name)) for r in wanted
               if pins.get(canonicalize_name(r.name)) is None
               or not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)}
    assert outside == {}


def test_the_lock_carries_a_hash_for_every_pin() -> None:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pins = [i for i, line in enumerate(lines) if "==" in line and not line.startswith((" ", "#"))]
    assert len(pins) == len(_locked()) > 0
    assert [lines[i] for i in pins if "--hash=sha256:" not in lines[i + 1]] == []


def test_without_mitogen_runs_use_the_linear_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISIONER_STRATEGY", raising=False)
    monkeypatch.setattr(ansible_run.importlib.util, "find_spec", lambda name: None)
    assert ansible_run._mitogen_strategy() == {}  # Ansible's default, linear
