"""Where Ansible teams run playbooks (issue 11): ``plan --export`` writes the run ``apply`` would
make; ``ansible-playbook`` and ``ansible-navigator --ee false`` run it without provisioner, and
``provisioner verify`` then passes. No password is in anything exported."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from provisioner import secrets
from provisioner.inventory import load_inventory
from tests import fleet
from tests.conftest import LOCAL_INVENTORY, Cli

INV = load_inventory(LOCAL_INVENTORY)


@pytest.fixture(scope="module")
def cases(cli: Cli, lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A case file per runner. Each test leaves its case installed; both go here in one destroy at
    the end of the module, which must succeed on what the exported runs installed."""
    folder = tmp_path_factory.mktemp("export-cases")
    written = {}
    for runner, (index, kind) in (("ansible-playbook", (0, "php")), ("ansible-navigator", (1, "proxy"))):
        data = fleet.case(index, kind, prefix="expo")
        written[runner] = folder / f"{data['id']}.yml"
        written[runner].write_text(yaml.safe_dump(data, sort_keys=False))
    yield written
    gone = cli("destroy", *(str(p) for p in written.values()), "-i", str(lab), "--drop-database", "--remove-files",
               "--yes")
    assert gone.rc == 0, gone.out.get("message")
    for path in written.values():
        assert not Path(f"/etc/provisioner/sites/{yaml.safe_load(path.read_text())['id']}.yml").exists()


@pytest.mark.parametrize("runner", ["ansible-playbook", "ansible-navigator"])
def test_an_exported_run_made_by_ansible_alone_verifies(cli: Cli, lab: Path, cases: dict[str, Path],
                                                        tmp_path: Path, runner: str) -> None:
    case = str(cases[runner])
    plan = cli("plan", case, "-i", str(lab), "--export", str(tmp_path / "run"))
    assert plan.rc == 0, plan.out.get("message")
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"extra-vars.json", "run-ansible-playbook",
                                                              "run-ansible-navigator"}
    case_id = yaml.safe_load(cases[runner].read_text())["id"]
    password = secrets.read_password(INV.state_dir, case_id)
    assert password and not any(password in p.read_text() for p in (tmp_path / "run").iterdir())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(tmp_path / "run" / f"run-{runner}")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, check=False, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert password not in done.stdout + done.stderr
    assert Path(f"/etc/provisioner/sites/{case_id}.yml").exists()
    checked = cli("verify", case, "-i", str(lab))
    assert checked.rc == 0, [(k["name"], k["detail"]) for c in checked.out["cases"] for k in c["checks"] if not k["ok"]]
