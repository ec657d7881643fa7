"""``plan --export DIR``: the Ansible run ``apply`` would make, written down so that Ansible alone
can make it (``ansible-playbook``, ``ansible-navigator``, AWX), without provisioner.

DIR gets ``extra-vars.json`` (the site list, exactly as ``apply`` hands it to Ansible: its strings
marked as data, never templates, ``__ansible_unsafe``) and two
scripts with the whole command line: ``run-ansible-playbook`` and ``run-ansible-navigator``
(``--ee false``: the machine's own Ansible). No secret is written: each database password stays
in its vault-encrypted file on the controller (provisioner/secrets.py) and the scripts name the
vault id that opens it; the inventory's own vault identities are named as given (paths).
Afterwards ``provisioner verify`` trials the cases as after an ``apply``.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from provisioner import secrets
from provisioner.ansible import PLAYBOOK_DIR, as_data
from provisioner.inventory import Inventory
from provisioner.site import Site

VARS_FILE = "extra-vars.json"
SCRIPTS = {
    "run-ansible-playbook": ["ansible-playbook"],
    "run-ansible-navigator": ["ansible-navigator", "run", "--ee", "false", "--mode", "stdout",
                              "--playbook-artifact-enable", "false", "--log-file", "/dev/null"],
}


def _script(command: list[str], arguments: list[str], case_ids: list[str]) -> str:
    return "\n".join([
        "#!/bin/sh",
        f"# Written by `provisioner plan --export` for case(s) {', '.join(case_ids)}: the Ansible run",
        "# `provisioner apply` would make, run by Ansible alone. Extra arguments are passed on.",
        "set -eu",
        f"export ANSIBLE_CONFIG={shlex.quote(str(PLAYBOOK_DIR / 'ansible.cfg'))}",
        f"export ANSIBLE_ROLES_PATH={shlex.quote(str(PLAYBOOK_DIR / 'roles'))}",
        f"exec {shlex.join(command + arguments)} \"$@\"",
        "",
    ])


def write(directory: Path, sites: list[Site], inventory: Inventory) -> list[Path]:
    """Write the run into ``directory`` (created owner-only); return the files written."""
    directory = directory.resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    variables = directory / VARS_FILE
    variables.write_text(json.dumps(as_data({"provisioner_sites": [s.vars.as_vars() for s in sites]}), indent=1))
    os.chmod(variables, 0o600)
    playbook = [str(PLAYBOOK_DIR / "provision.yml"), "-i", str(inventory.ansible_source), "-e", f"@{variables}"]
    arguments = playbook + inventory.vault.run_arguments() + secrets.vault_arguments(inventory.state_dir)
    written = [variables]
    for name, command in SCRIPTS.items():
        script = directory / name
        script.write_text(_script(command, arguments, [s.id for s in sites]))
        os.chmod(script, 0o700)
        written.append(script)
    return written
