"""Hosts, groups and variables of an inventory, as Ansible itself reads them (in-process).

Ansible's ``InventoryManager`` parses the source, a file or a directory, with the inventory plugins
of the configuration every run uses (``playbooks/ansible.cfg``): YAML, INI, scripts and plugins;
its ``VariableManager`` merges each host's variables as a play sees them before templating, with
``group_vars``/``host_vars`` files and folders beside the source. Values are not templated.
Vault-encrypted data is opened with the command's vault identities: whole files by Ansible's
loader, inline ``!vault`` values here, so that a value that cannot be decrypted is named with its
file and variable. What comes back is plain Python data, without Ansible's types.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.errors import FieldError, InvalidInput
from provisioner.language import N_, _
from provisioner.vault import VaultIdentities

# The configuration of every Ansible run (provisioner/ansible.py): the read here sees what the runs see.
ANSIBLE_CONFIG = Path(__file__).resolve().parent.parent / "playbooks" / "ansible.cfg"
VAULT_HEADER = b"$ANSIBLE_VAULT"
NO_PASSWORD = N_("is vault-encrypted and no vault password was given (--vault-password-file, --vault-id, "
                 "ANSIBLE_VAULT_PASSWORD_FILE or ANSIBLE_VAULT_IDENTITY_LIST)")
WRONG_PASSWORD = N_("cannot be decrypted with the vault password(s) given")


@dataclass
class InventoryData:
    """What an inventory holds: group -> host names, host -> variables, the variables of group all."""

    groups: dict[str, list[str]]
    hosts: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    vaulted: bool = False  # some of it was vault-encrypted (so it is never cached)


def import_ansible() -> None:
    """Import Ansible's configuration with the runs' ``ansible.cfg`` (it is read once per process)."""
    if "ansible.constants" in sys.modules:
        return
    before = os.environ.get("ANSIBLE_CONFIG")
    os.environ["ANSIBLE_CONFIG"] = str(ANSIBLE_CONFIG)
    try:
        import ansible.constants  # type: ignore[import-untyped]  # noqa: F401
    finally:
        if before is None:
            del os.environ["ANSIBLE_CONFIG"]
        else:
            os.environ["ANSIBLE_CONFIG"] = before


def _forget_found_vars_files() -> None:
    """Ansible's group_vars/host_vars plugin remembers, per process, which files it found: a second
    read in the same process (the tests, a command reading again) must see files added since."""
    from ansible.plugins.vars import host_group_vars  # type: ignore[import-untyped]

    host_group_vars.FOUND.clear()
    host_group_vars.NAK.clear()


def _origin(value: object, directory: Path) -> str | None:
    """The file (and line) a value was read from, relative to the inventory's directory if inside it.

    Ansible 2.19 tags loaded data with its origin; the tag's home is internal, so without it the
    message names the host or group instead."""
    try:
        from ansible._internal._datatag._tags import Origin  # type: ignore[import-untyped]
    except ImportError:
        return None
    tag = value if isinstance(value, Origin) else Origin.get_tag(value) if value is not None else None
    if tag is None or not tag.path:
        return None
    path = Path(tag.path)
    shown = str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)
    return f"{shown}:{tag.line_num}" if tag.line_num else shown


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class _Reader:
    """One read: Ansible's loader with the vault secrets, and the problems found on the way."""

    def __init__(self, source: Path, vault: VaultIdentities) -> None:
        from ansible.parsing.dataloader import DataLoader  # type: ignore[import-untyped]

        self.source = source
        self.directory = source if source.is_dir() else source.parent
        self.loader = DataLoader()
        self.secrets = vault.secrets() if vault else []
        if self.secrets:
            self.loader.set_vault_secrets(self.secrets)
        self.problems: dict[str, FieldError] = {}
        self.undecrypted = False  # some problem is vaulted data that did not open
        self.decrypted: dict[str, str] = {}  # ciphertext -> plaintext, for this read only
        self.vaulted = False

    def problem(self, path: str, message: str) -> None:
        self.problems.setdefault(path, FieldError(path, message))

    @property
    def vault_message(self) -> str:
        return _(WRONG_PASSWORD if self.secrets else NO_PASSWORD)

    def failed_read(self, exc: BaseException, entity: str) -> None:
        """A file Ansible could not load for ``entity``: a vaulted one that does not open, or bad YAML."""
        from ansible.parsing.vault import AnsibleVaultError  # type: ignore[import-untyped]

        chain = list(_chain(exc))
        where = next((w for e in chain if (w := _origin(getattr(e, "obj", None), self.directory))), None)
        if any(isinstance(e, AnsibleVaultError) for e in chain):
            self.undecrypted = True
            self.problem(where or entity, self.vault_message)
        else:
            self.problem(where or entity, str(getattr(exc, "message", exc)))

    def decrypt(self, value: Any, variable: str, entity: str) -> str | None:
        from ansible.errors import AnsibleError  # type: ignore[import-untyped]
        from ansible.parsing.vault import VaultHelper, VaultLib

        self.vaulted = True
        ciphertext = VaultHelper.get_ciphertext(value, with_tags=True)
        if str(ciphertext) not in self.decrypted:  # a group's value reaches each of its hosts: once
            try:
                self.decrypted[str(ciphertext)] = VaultLib(self.secrets).decrypt(ciphertext).decode("utf-8")
            except AnsibleError:
                self.undecrypted = True
                where = _origin(value, self.directory) or entity
                self.problem(f"{where}: {variable}", self.vault_message)
                return None
        return self.decrypted[str(ciphertext)]

    def plain(self, value: Any, variable: str, entity: str) -> Any:
        """``value`` as plain Python data (Ansible 2.19 tags what it loads), inline vault decrypted."""
        from ansible.parsing.vault import EncryptedString

        if isinstance(value, EncryptedString):
            return self.decrypt(value, variable, entity)
        if isinstance(value, Mapping):
            return {self.plain(k, variable, entity): self.plain(v, f"{variable}.{k}", entity) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.plain(v, f"{variable}[{i}]", entity) for i, v in enumerate(value)]
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):  # Ansible's tagged subclasses become the plain types
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bytes):
            return bytes(value)
        for moment in (dt.datetime, dt.date, dt.time):
            if isinstance(value, moment):
                return moment.fromisoformat(value.isoformat())
        return value

    def plain_vars(self, variables: Mapping[str, Any], entity: str, skip: frozenset[str]) -> dict[str, Any]:
        return {str(k): self.plain(v, str(k), entity) for k, v in variables.items() if k not in skip}

    def vaulted_sources(self) -> list[str]:
        """The inventory's own files (not group_vars/host_vars) that are vault-encrypted as a whole."""
        files = [self.source] if self.source.is_file() else sorted(p for p in self.source.iterdir() if p.is_file())
        found = []
        for path in files:
            try:
                with path.open("rb") as handle:
                    if handle.read(len(VAULT_HEADER)) == VAULT_HEADER:
                        found.append(path.name)
            except OSError:
                continue
        return found


def read(source: Path, vault: VaultIdentities) -> InventoryData:
    """Read ``source`` (an inventory file or directory) through Ansible; raise InvalidInput naming
    what could not be read or decrypted."""
    import_ansible()
    from ansible import constants
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager  # type: ignore[import-untyped]
    from ansible.utils.vars import combine_vars  # type: ignore[import-untyped]
    from ansible.vars.manager import VariableManager  # type: ignore[import-untyped]
    from ansible.vars.plugins import get_vars_from_inventory_sources  # type: ignore[import-untyped]

    reader = _Reader(source, vault)
    _forget_found_vars_files()
    try:
        manager = InventoryManager(loader=reader.loader, sources=[str(source)])
    except AnsibleError as exc:
        raise InvalidInput(_("Ansible cannot read the inventory {source}; nothing was changed").format(source=source),
                           [FieldError("-i", str(getattr(exc, "message", exc)))]) from None
    if not manager.hosts:
        vaulted = reader.vaulted_sources()
        errors = ([FieldError(name, reader.vault_message) for name in vaulted] if vaulted else
                  [FieldError("-i", _("Ansible found no host in it (its warnings above say why, if any)"))])
        raise InvalidInput(_("Ansible cannot read the inventory {source}; nothing was changed").format(source=source),
                           errors)

    variables = VariableManager(loader=reader.loader, inventory=manager)
    magic = frozenset(constants.INTERNAL_STATIC_VARS)
    hosts: dict[str, dict[str, Any]] = {}
    for host in manager.get_hosts():
        try:
            found = variables.get_vars(host=host, include_hostvars=False)
        except AnsibleError as exc:
            reader.failed_read(exc, f"host {host.name}")
            continue
        hosts[str(host.name)] = reader.plain_vars(found, f"host {host.name}", magic)

    group_all = manager.groups["all"]
    try:
        settings = combine_vars(group_all.get_vars(), get_vars_from_inventory_sources(
            reader.loader, [str(source)], [group_all], "task"))
    except AnsibleError as exc:
        reader.failed_read(exc, "group_vars/all")
        settings = {}
    settings = reader.plain_vars(settings, "group all", magic)
    if reader.problems:
        what = (_("vault-encrypted data cannot be decrypted") if reader.undecrypted else
                _("its variables cannot be read"))
        raise InvalidInput(_("inventory {source}: {what}; nothing was changed").format(source=source, what=what),
                           sorted(reader.problems.values(), key=lambda e: e.path))
    groups = {str(name): [str(h) for h in members] for name, members in manager.get_groups_dict().items()}
    return InventoryData(groups=groups, hosts=hosts, settings=settings, vaulted=reader.vaulted)

