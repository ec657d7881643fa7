"""Where Ansible teams run playbooks (issue 11): the execution environment for AWX and
ansible-navigator names the collections the roles use at the versions of our bundle, and
ansible-builder turns it into a build context; ``plan --export`` writes a run with no secret in it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT

EE = ROOT / "execution-environment"


def _used_collections() -> set[str]:
    fqcn = re.compile(r"\b(community\.[a-z_]+|ansible\.(?:posix|utils|netcommon))\.[a-z_]+")
    return {found for path in (ROOT / "playbooks").rglob("*.yml") for found in fqcn.findall(path.read_text())}


def _bundled() -> dict[str, str]:
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "list", "--format",
                           "json"], capture_output=True, text=True, check=True)
    versions: dict[str, str] = {}
    for collections in json.loads(done.stdout).values():
        for name, info in collections.items():
            versions.setdefault(name, info["version"])
    return versions


def test_the_requirements_name_every_collection_the_roles_use_at_the_bundles_version() -> None:
    wanted = {c["name"]: c["version"] for c in yaml.safe_load((EE / "requirements.yml").read_text())["collections"]}
    assert set(wanted) == _used_collections()
    bundled = _bundled()
    assert {name: bundled.get(name) for name in wanted} == wanted


def test_ansible_builder_creates_the_build_context(tmp_path: Path) -> None:
    context = tmp_path / "context"
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-builder"), "create", "-f",
                           str(EE / "execution-environment.yml"), "-c", str(context)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    assert 'ANSIBLE_INSTALL_REFS="ansible-core>=2.19,<2.20 ansible-runner>=2.4,<2.5"' in containerfile
    assert (context / "_build" / "requirements.yml").read_text() == (EE / "requirements.yml").read_text()
    assert "dnspython" in (context / "_build" / "requirements.txt").read_text()
