"""Generated secrets, kept on the controller in owner-only files outside ``records/``, in Ansible
Vault format, never in plaintext.

Each inventory's state folder holds its own vault password for them
(``<state_dir>/secrets/vault-password``, 0600, made once, label ``provisioner-secrets``); every
Ansible run of that inventory gets it as one more ``--vault-id`` (``vault_arguments``), so the
playbooks' ``file`` lookups (``no_log`` tasks) decrypt the passwords in memory. A password never
travels in extravars (which ansible-runner writes into its artifacts) nor appears in any output. A
copy of the secrets without that key file (a backup of the password files, a leaked folder) reveals
nothing. Password files written in plaintext by an earlier version are encrypted in place, their
values kept, by the next ``apply`` on the inventory (``seal``).
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path
from typing import Any

from provisioner.language import _

ALPHABET = string.ascii_letters + string.digits
LENGTH = 32
KEY_LABEL = "provisioner-secrets"
VAULT_HEADER = b"$ANSIBLE_VAULT;"


def secrets_dir(state_dir: Path, case_id: str) -> Path:
    return state_dir / "secrets" / case_id


def password_file(state_dir: Path, case_id: str) -> Path:
    return secrets_dir(state_dir, case_id) / "db_password"


def key_file(state_dir: Path) -> Path:
    return state_dir / "secrets" / "vault-password"


def vault_arguments(state_dir: Path) -> list[str]:
    """ansible-playbook's option opening this inventory's generated secrets (none made yet: none)."""
    key = key_file(state_dir)
    return ["--vault-id", f"{KEY_LABEL}@{key}"] if key.is_file() else []


def _private_folders(*folders: Path) -> None:
    for folder in folders:
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    """``data`` into a new 0600 file, replacing ``path`` in one step."""
    partial = path.with_name(f".{path.name}.new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _generated() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def _vault(state_dir: Path, create: bool) -> tuple[Any, Any]:
    """(VaultLib, VaultSecret) of the inventory's own key; the key is made once when ``create``."""
    from provisioner.ansible_inventory import import_ansible

    import_ansible()
    from ansible.parsing.vault import VaultLib, VaultSecret  # type: ignore[import-untyped]

    key = key_file(state_dir)
    if not key.is_file():
        if not create:
            raise FileNotFoundError(_("{key} is missing: the generated secrets of {folder} cannot be opened").format(
                key=key, folder=state_dir))
        _private_folders(state_dir, state_dir / "secrets")
        _write_private(key, (_generated() + _generated()).encode())
    secret = VaultSecret(key.read_text().strip().encode())
    return VaultLib([(KEY_LABEL, secret)]), secret


def ensure_password(state_dir: Path, case_id: str) -> Path:
    """Create the case's database password once, vault-encrypted (0600 in a 0700 folder); return its
    path. A plaintext one from an earlier version is encrypted in place, its value kept."""
    path = password_file(state_dir, case_id)
    current = path.read_bytes() if path.exists() else None
    if current is not None and current.startswith(VAULT_HEADER):
        return path
    vault, secret = _vault(state_dir, create=True)
    _private_folders(state_dir, state_dir / "secrets", path.parent)
    value = current.decode().strip() if current else _generated()
    _write_private(path, vault.encrypt(value, secret=secret, vault_id=KEY_LABEL))
    return path


def seal(state_dir: Path) -> list[str]:
    """Encrypt every password file still in plaintext (written by an earlier version, for any case,
    installed or kept); once per apply. Return the case ids whose file was sealed."""
    sealed = []
    for path in sorted((state_dir / "secrets").glob("*/db_password")):
        with path.open("rb") as handle:
            if handle.read(len(VAULT_HEADER)) != VAULT_HEADER:
                ensure_password(state_dir, path.parent.name)
                sealed.append(path.parent.name)
    return sealed


def read_password(state_dir: Path, case_id: str) -> str | None:
    """The case's database password, decrypted in memory; None when the case has none."""
    path = password_file(state_dir, case_id)
    if not path.exists():
        return None
    data = path.read_bytes()
    if not data.startswith(VAULT_HEADER):
        return data.decode().strip()
    vault, _secret = _vault(state_dir, create=False)
    return str(vault.decrypt(data).decode())


def forget(state_dir: Path, case_id: str) -> None:
    """Remove a case's secrets (after its database was dropped)."""
    path = password_file(state_dir, case_id)
    path.unlink(missing_ok=True)
    if path.parent.exists() and not any(path.parent.iterdir()):
        path.parent.rmdir()
