"""Vault passwords: which identities open an inventory's vaulted data, here and in every Ansible run.

As ``ansible-playbook``: ``--vault-id [LABEL@]SOURCE`` and ``--vault-password-file FILE``, each
repeatable, come after the identities of ``ANSIBLE_VAULT_IDENTITY_LIST`` and before
``ANSIBLE_VAULT_PASSWORD_FILE``. A source is a password file, an executable script that prints the
password, or ``prompt``. Only paths travel: each run gets the same options on its command line (paths
made absolute, since ansible-runner starts ansible-playbook in ``playbooks/``); a password typed at
a prompt reaches ansible-playbook as ansible-runner's answer to the same prompt, never through a
file, an argument or the environment.

Nothing here imports Ansible until a password is needed: ``check`` without vaulted data stays fast.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _

IDENTITY_LIST_ENV = "ANSIBLE_VAULT_IDENTITY_LIST"
PASSWORD_FILE_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
VAULT_ID = "--vault-id"
PASSWORD_FILE = "--vault-password-file"
# Ansible's label for a password given without one (its DEFAULT_VAULT_IDENTITY).
DEFAULT_LABEL = "default"
# ``prompt`` asks "Vault password (LABEL): "; ``prompt_ask_vault_pass`` is --ask-vault-pass's "Vault password: ".
PROMPTS = ("prompt", "prompt_ask_vault_pass")


@dataclass(frozen=True)
class VaultIdentity:
    """One vault password: its label (None: Ansible's default), where it comes from, and who named it."""

    label: str | None
    source: str  # an absolute path, one of PROMPTS, or "" (refused by VaultIdentities.check)
    given_by: str  # --vault-id, --vault-password-file, or the environment variable

    @property
    def prompts(self) -> bool:
        return self.source in PROMPTS

    @property
    def slug(self) -> str:
        """``LABEL@SOURCE`` as Ansible writes it."""
        return f"{self.label}@{self.source}" if self.label is not None else self.source

    @property
    def prompt_pattern(self) -> str:
        """What ansible-playbook prints when it asks for this password (a regular expression)."""
        if self.source == "prompt_ask_vault_pass":
            return r"Vault password:\s*$"
        return rf"Vault password \({re.escape(self.label or DEFAULT_LABEL)}\):\s*$"

    def __str__(self) -> str:
        return f"{self.given_by} {self.slug}"


def _identity(slug: str, given_by: str) -> VaultIdentity:
    label, found, source = slug.partition("@")
    if not found:
        label, source = "", slug
    if source and source not in PROMPTS:
        source = str(Path(source).expanduser().absolute())
    return VaultIdentity(label or None, source, given_by)


@dataclass
class VaultIdentities:
    """The vault passwords of one command, in the order Ansible tries them."""

    identities: tuple[VaultIdentity, ...] = ()
    _secrets: list[tuple[str, Any]] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_options(cls, vault_ids: Sequence[str] = (), password_files: Sequence[str | Path] = (),
                     environ: Mapping[str, str] | None = None) -> VaultIdentities:
        """The command line's identities with those of the environment, in ansible-playbook's order."""
        environ = os.environ if environ is None else environ
        listed = [s.strip() for s in environ.get(IDENTITY_LIST_ENV, "").split(",") if s.strip()]
        found = [_identity(slug, IDENTITY_LIST_ENV) for slug in listed]
        found += [_identity(slug, VAULT_ID) for slug in vault_ids]
        found += [_identity(str(path), PASSWORD_FILE) for path in password_files]
        if environ.get(PASSWORD_FILE_ENV):
            found.append(_identity(environ[PASSWORD_FILE_ENV], PASSWORD_FILE_ENV))
        return cls(tuple(found))

    def __bool__(self) -> bool:
        return bool(self.identities)

    @property
    def prompts(self) -> bool:
        """Some password is asked on the terminal (once, before the command does anything else)."""
        return any(identity.prompts for identity in self.identities)

    def check(self) -> None:
        """Each identity names a source, and each password file or script exists (cheap: run before
        anything is read)."""
        errors = []
        for identity in self.identities:
            if not identity.source:
                errors.append(FieldError(identity.given_by,
                                         _("'{value}' must be [LABEL@]FILE, [LABEL@]SCRIPT or [LABEL@]prompt").format(
                                             value=identity.slug)))
            elif not identity.prompts and not Path(identity.source).is_file():
                errors.append(FieldError(identity.given_by, _("{path} does not exist or is not a file").format(
                    path=identity.source)))
        if errors:
            raise InvalidInput(_("a vault password cannot be found; nothing was changed"), errors)

    # What each Ansible run gets: the same identities, with absolute paths.

    def run_arguments(self) -> list[str]:
        """ansible-playbook's options for the identities given on our command line."""
        arguments: list[str] = []
        for identity in self.identities:
            if identity.given_by == VAULT_ID:
                arguments += [VAULT_ID, identity.slug]
            elif identity.given_by == PASSWORD_FILE:
                arguments += [PASSWORD_FILE, identity.source]
        return arguments

    def run_environment(self) -> dict[str, str]:
        """The environment's identities again, with absolute paths (the run starts in another folder)."""
        environment: dict[str, str] = {}
        listed = [i.slug for i in self.identities if i.given_by == IDENTITY_LIST_ENV]
        if listed:
            environment[IDENTITY_LIST_ENV] = ",".join(listed)
        for identity in self.identities:
            if identity.given_by == PASSWORD_FILE_ENV:
                environment[PASSWORD_FILE_ENV] = identity.source
        return environment

    def run_prompt_answers(self) -> dict[str, str]:
        """ansible-runner's answers to ansible-playbook's password prompts (asked here once, first)."""
        prompted = [i for i in self.identities if i.prompts]
        if not prompted:
            return {}
        loaded = dict(zip(self.identities, (secret for _, secret in self.secrets()), strict=True))
        return {identity.prompt_pattern: loaded[identity].bytes.decode() for identity in prompted}

    # The in-process reads (the inventory).

    def secrets(self) -> list[tuple[str, Any]]:
        """Ansible's vault secrets, (label, VaultSecret) in order; loaded once, a prompt asked once."""
        if self._secrets is None:
            self._secrets = _load_secrets(self)
        return self._secrets


def _load_secrets(identities: VaultIdentities) -> list[tuple[str, Any]]:
    from provisioner.ansible_inventory import import_ansible

    import_ansible()
    from ansible.errors import AnsibleError  # type: ignore[import-untyped]
    from ansible.parsing.dataloader import DataLoader  # type: ignore[import-untyped]
    from ansible.parsing.vault import PromptVaultSecret, get_file_vault_secret  # type: ignore[import-untyped]

    identities.check()
    loader = DataLoader()
    secrets: list[tuple[str, Any]] = []
    for identity in identities.identities:
        label = identity.label or DEFAULT_LABEL
        if identity.prompts and not sys.stdin.isatty():
            raise InvalidInput(
                _("{identity}: no terminal to ask for the vault password on; nothing was changed").format(
                    identity=identity),
                [FieldError(identity.given_by, _("give a password file or script instead of prompt"))])
        try:
            if identity.prompts:
                formats = ["Vault password: "] if identity.source == "prompt_ask_vault_pass" else None
                secret = PromptVaultSecret(vault_id=label, prompt_formats=formats)
            else:
                secret = get_file_vault_secret(filename=identity.source, vault_id=identity.label, loader=loader)
            secret.load()
        except AnsibleError as exc:
            raise InvalidInput(_("the vault password of {identity} cannot be read; nothing was changed").format(
                identity=identity),
                               [FieldError(identity.given_by, f"{identity.slug}: {exc.message}")]) from None
        secrets.append((label, secret))
    return secrets
