"""Vault identities: the order Ansible gives them, and how they reach every ansible-runner run
(paths on the command line, never a password in a file, an argument or the environment)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from provisioner import ansible, vault
from provisioner.cli import cli
from provisioner.errors import EXIT_INVALID, InvalidInput
from provisioner.inventory import Inventory
from provisioner.vault import VaultIdentities
from tests.conftest import EXAMPLES
from tests.unit.inventory_helpers import PASSWORD, SECRET, inline, write, yaml_inventory


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("ANSIBLE_VAULT_IDENTITY_LIST", raising=False)


def test_identities_come_in_ansible_playbooks_order_with_absolute_paths(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {"ANSIBLE_VAULT_IDENTITY_LIST": "dev@dev-pass, ops@prompt", "ANSIBLE_VAULT_PASSWORD_FILE": "env-pass"}
    found = VaultIdentities.from_options(["prod@prod-pass", "bare-pass"], ["file-pass"], environ)
    assert [(i.label, i.source, i.given_by) for i in found.identities] == [
        ("dev", str(tmp_path / "dev-pass"), "ANSIBLE_VAULT_IDENTITY_LIST"),
        ("ops", "prompt", "ANSIBLE_VAULT_IDENTITY_LIST"),
        ("prod", str(tmp_path / "prod-pass"), "--vault-id"),
        (None, str(tmp_path / "bare-pass"), "--vault-id"),
        (None, str(tmp_path / "file-pass"), "--vault-password-file"),
        (None, str(tmp_path / "env-pass"), "ANSIBLE_VAULT_PASSWORD_FILE"),
    ]
    assert found.run_arguments() == ["--vault-id", f"prod@{tmp_path}/prod-pass", "--vault-id", f"{tmp_path}/bare-pass",
                                     "--vault-password-file", f"{tmp_path}/file-pass"]
    assert found.run_environment() == {"ANSIBLE_VAULT_IDENTITY_LIST": f"dev@{tmp_path}/dev-pass,ops@prompt",
                                       "ANSIBLE_VAULT_PASSWORD_FILE": f"{tmp_path}/env-pass"}


def test_an_identity_without_a_source_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        VaultIdentities.from_options(["prod@"], environ={}).check()
    assert info.value.errors[0].path == "--vault-id"


def test_a_prompt_without_a_terminal_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: False))
    with pytest.raises(InvalidInput) as info:
        VaultIdentities.from_options(["prod@prompt"], environ={}).secrets()
    assert "no terminal" in info.value.message and "--vault-id prod@prompt" in info.value.message


def test_a_prompted_password_answers_ansible_playbooks_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    identities = VaultIdentities.from_options(["prod@prompt", "prompt_ask_vault_pass"], environ={})
    typed = [("prod", SimpleNamespace(bytes=b"typed-prod")), ("default", SimpleNamespace(bytes=b"typed-default"))]
    monkeypatch.setattr(vault, "_load_secrets", lambda identities: typed)
    answers = identities.run_prompt_answers()
    assert [answer for pattern, answer in answers.items() if re.search(pattern, "Vault password (prod): ")] == [
        "typed-prod"]
    assert [answer for pattern, answer in answers.items() if re.search(pattern, "Vault password: ")] == [
        "typed-default"]
    assert identities.run_arguments() == ["--vault-id", "prod@prompt", "--vault-id", "prompt_ask_vault_pass"]


class _FakeRunner:
    def __init__(self, private: Path) -> None:
        self.rc, self.status = 0, "successful"
        self.config = SimpleNamespace(artifact_dir=str(private / "artifacts" / "run"))


def test_every_run_gets_the_vault_options_and_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password_file = write(tmp_path / "vault-pass", PASSWORD)
    hosts = write(tmp_path / "inv" / "hosts.ini", "[web]\nweb1\n")
    monkeypatch.setenv("ANSIBLE_VAULT_IDENTITY_LIST", f"ops@{password_file}")
    identities = VaultIdentities.from_options(["prod@" + str(password_file)], [str(password_file)])
    inventory = Inventory(path=hosts.parent, groups={}, hosts={}, source=hosts, vault=identities)
    seen: dict[str, Any] = {}

    def run(**kwargs: Any) -> _FakeRunner:
        seen.update(kwargs)
        return _FakeRunner(Path(kwargs["private_data_dir"]))

    monkeypatch.setattr(ansible.ansible_runner, "run", run)
    result = ansible.run_playbook("provision.yml", inventory, tmp_path / "state", {"provisioner_sites": []}, check=True)
    assert result.ok
    assert seen["inventory"] == str(hosts)
    assert seen["cmdline"] == (f"-m provisioner.playbook_process --check --diff --vault-id prod@{password_file} "
                               f"--vault-password-file {password_file} provision.yml")
    assert seen["envvars"]["ANSIBLE_VAULT_IDENTITY_LIST"] == f"ops@{password_file}"
    assert seen["passwords"] is None and seen["suppress_env_files"] is True
    written = [p for p in (tmp_path / "state" / "runs").rglob("*") if p.is_file()]
    assert written and not any(PASSWORD in p.read_text() for p in written)


def test_a_bare_path_still_gets_the_environments_identities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", "relative-pass")
    seen: dict[str, Any] = {}

    def run(**kwargs: Any) -> _FakeRunner:
        seen.update(kwargs)
        return _FakeRunner(Path(kwargs["private_data_dir"]))

    monkeypatch.setattr(ansible.ansible_runner, "run", run)
    ansible.run_playbook("destroy.yml", tmp_path / "inv", tmp_path / "state", {})
    assert seen["envvars"]["ANSIBLE_VAULT_PASSWORD_FILE"] == str(tmp_path / "relative-pass")
    assert seen["cmdline"] == "-m provisioner.playbook_process destroy.yml"  # no vault option


def test_ansible_playbook_decrypts_with_the_same_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real run on this machine (connection local, no service touched): the vaulted value opens."""
    playbooks = tmp_path / "playbooks"
    write(playbooks / "ansible.cfg", "[defaults]\nretry_files_enabled = false\ngathering = explicit\n")
    write(playbooks / "vaulted.yml", """---
- name: The vaulted value reaches the play
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Compare without showing it
      ansible.builtin.assert:
        that: db_admin_password == expected
        quiet: true
      no_log: true
""")
    folder = tmp_path / "inv"
    hosts = write(folder / "hosts.ini",
                  f"[local]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    write(folder / "group_vars" / "all.yml", inline("db_admin_password", SECRET))
    monkeypatch.setattr(ansible, "PLAYBOOK_DIR", playbooks)
    monkeypatch.setenv("PROVISIONER_STRATEGY", "linear")
    password_file = write(tmp_path / "vault-pass", PASSWORD + "\n")
    identities = VaultIdentities.from_options(password_files=[str(password_file)], environ={})
    inventory = Inventory(path=folder, groups={}, hosts={}, source=hosts, vault=identities)
    result = ansible.run_playbook("vaulted.yml", inventory, tmp_path / "state", {"expected": SECRET})
    assert result.ok, result.failures
    without = Inventory(path=folder, groups={}, hosts={}, source=hosts)
    assert not ansible.run_playbook("vaulted.yml", without, tmp_path / "state", {"expected": SECRET}).ok
    written = [p for p in (tmp_path / "state" / "runs").rglob("*") if p.is_file() and p.name != "extravars"]
    assert not any(PASSWORD in p.read_text(errors="replace") for p in written)


def test_a_wrong_vault_password_on_the_command_line_is_exit_2_naming_the_value(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    write(folder / "group_vars" / "all" / "vault.yml", inline("db_admin_password", SECRET))
    wrong = write(tmp_path / "wrong-pass", "wrong\n")
    case = next(EXAMPLES.glob("*ppid*.yml"))
    result = CliRunner().invoke(cli, ["--vault-password-file", str(wrong), "check", str(case), "-i", str(folder),
                                      "--json"])
    assert result.exit_code == EXIT_INVALID
    assert "group_vars/all/vault.yml:1: db_admin_password" in result.output
    assert "cannot be decrypted" in result.output


def test_a_missing_vault_password_file_on_the_command_line_is_exit_2(tmp_path: Path) -> None:
    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    case = next(EXAMPLES.glob("*ppid*.yml"))
    result = CliRunner().invoke(cli, ["--vault-id", f"prod@{tmp_path}/none", "check", str(case), "-i", str(folder)])
    assert result.exit_code == EXIT_INVALID
    assert f"{tmp_path}/none does not exist" in result.output


def test_a_prompt_is_asked_when_the_inventory_is_read_even_from_the_cache(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked before anything else, not in the middle of the first Ansible run."""
    from provisioner.inventory import load_inventory

    folder = yaml_inventory(tmp_path / "inv", tmp_path)
    load_inventory(folder)  # now cached
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: False))
    with pytest.raises(InvalidInput, match="no terminal"):
        load_inventory(folder, VaultIdentities.from_options(["prompt"], environ={}))
