"""Generated database passwords are stored in Ansible Vault format, never in plaintext (issue 11),
and the playbooks still read them: every run gets the inventory's own secrets key as a vault id,
and the ``file`` lookup decrypts in memory."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner import secrets
from provisioner.case import load_case
from provisioner.inventory import load_inventory
from provisioner.site import Placement, build
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, ROOT


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_password_is_made_once_encrypted_owner_only(tmp_path: Path) -> None:
    path = secrets.ensure_password(tmp_path, "2026-011")
    data = path.read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.2;AES256;provisioner-secrets\n")
    password = secrets.read_password(tmp_path, "2026-011")
    assert password is not None and len(password) == secrets.LENGTH and password.encode() not in data
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700 and _mode(secrets.key_file(tmp_path)) == 0o600
    assert secrets.ensure_password(tmp_path, "2026-011") == path and path.read_bytes() == data  # once
    other = secrets.ensure_password(tmp_path, "2026-014")
    assert secrets.read_password(tmp_path, "2026-014") != password and other != path


def test_a_plaintext_password_of_an_earlier_version_is_encrypted_keeping_its_value(tmp_path: Path) -> None:
    path = secrets.password_file(tmp_path, "2026-020")
    path.parent.mkdir(parents=True)
    path.write_text("OldPlaintextPassword123\n")
    secrets.ensure_password(tmp_path, "2026-020")
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;")
    assert secrets.read_password(tmp_path, "2026-020") == "OldPlaintextPassword123"
    assert [p.name for p in path.parent.iterdir()] == ["db_password"]  # no partial file left


def test_without_the_key_the_passwords_cannot_be_read(tmp_path: Path) -> None:
    secrets.ensure_password(tmp_path, "2026-011")
    secrets.key_file(tmp_path).unlink()
    with pytest.raises(FileNotFoundError, match="vault-password is missing"):
        secrets.read_password(tmp_path, "2026-011")


def test_runs_get_the_key_as_a_vault_id_once_it_exists(tmp_path: Path) -> None:
    assert secrets.vault_arguments(tmp_path) == []
    secrets.ensure_password(tmp_path, "2026-011")
    assert secrets.vault_arguments(tmp_path) == ["--vault-id",
                                                 f"provisioner-secrets@{secrets.key_file(tmp_path)}"]


def test_the_role_renders_the_decrypted_password_into_the_sites_settings(tmp_path: Path) -> None:
    # The apache_vhost role's own vars, templated by ansible-playbook with the run's vault id.
    case = next(c for c in map(load_case, sorted(EXAMPLES.glob("*.yml"))) if c.database and c.runtime == "php")
    password_file = secrets.ensure_password(tmp_path, case.id)
    site = build(case, Placement("198.19.0.10", "localhost"),
                 load_inventory(LOCAL_INVENTORY), password_file=password_file).vars.as_vars()
    role = ROOT / "playbooks" / "roles" / "apache_vhost"
    playbook = tmp_path / "render.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(role / "defaults" / "main.yml"), str(role / "vars" / "main.yml")],
        "tasks": [{"ansible.builtin.copy": {"content": "{{ apache_vhost_settings_items[0].content }}",
                                            "dest": str(tmp_path / "app.env"), "mode": "0600"},
                   "no_log": True}],
    }]))
    (tmp_path / "sites.json").write_text(json.dumps({"role_path": str(role), "apache_vhost_sites": [site],
                                                     "ansible_python_interpreter": sys.executable}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "playbooks" / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           *secrets.vault_arguments(tmp_path), "-e", f"@{tmp_path / 'sites.json'}", str(playbook)],
                          capture_output=True, text=True, env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    password = secrets.read_password(tmp_path, case.id)
    assert f"DB_PASSWORD={password}\n" in (tmp_path / "app.env").read_text()
    assert password not in done.stdout + done.stderr


def test_seal_encrypts_every_plaintext_password_once_keeping_its_value(tmp_path: Path) -> None:
    # Cases removed with their database kept, from before passwords were encrypted: apply seals them.
    secrets.ensure_password(tmp_path, "2026-011")
    for case_id in ("prof-001", "prof-002"):
        path = secrets.password_file(tmp_path, case_id)
        path.parent.mkdir(parents=True)
        path.write_text(f"plain-{case_id}\n")
    assert secrets.seal(tmp_path) == ["prof-001", "prof-002"]
    files = sorted((tmp_path / "secrets").glob("*/db_password"))
    assert len(files) == 3 and all(f.read_bytes().startswith(secrets.VAULT_HEADER) for f in files)
    assert secrets.read_password(tmp_path, "prof-002") == "plain-prof-002"
    assert secrets.seal(tmp_path) == []
