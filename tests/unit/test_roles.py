"""Each role documents its inputs: defaults/main.yml and meta/argument_specs.yml stay in step."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ROLES = sorted(p for p in (ROOT / "playbooks" / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_in_the_argument_spec(role: Path) -> None:
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) <= set(options), set(defaults) - set(options)
    undocumented = [name for name, spec in options.items() if not spec.get("description")]
    assert not undocumented


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_variable_carries_the_role_prefix(role: Path) -> None:
    names = list(yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {})
    if (role / "vars" / "main.yml").exists():
        names += list(yaml.safe_load((role / "vars" / "main.yml").read_text()) or {})
    assert all(name.startswith(f"{role.name}_") for name in names), names
