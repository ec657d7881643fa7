"""Generated secrets, kept on the controller in owner-only files outside ``records/``.

Playbooks read them with a ``file`` lookup inside ``no_log`` tasks, so a password never travels in
extravars (which ansible-runner writes into its artifacts) nor appears in any output.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

ALPHABET = string.ascii_letters + string.digits
LENGTH = 32


def secrets_dir(state_dir: Path, case_id: str) -> Path:
    return state_dir / "secrets" / case_id


def password_file(state_dir: Path, case_id: str) -> Path:
    return secrets_dir(state_dir, case_id) / "db_password"


def ensure_password(state_dir: Path, case_id: str) -> Path:
    """Create the case's database password once (0600 in a 0700 folder); return its path."""
    path = password_file(state_dir, case_id)
    if path.exists():
        return path
    for folder in (state_dir, state_dir / "secrets", path.parent):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    value = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return path


def read_password(state_dir: Path, case_id: str) -> str | None:
    path = password_file(state_dir, case_id)
    return path.read_text().strip() if path.exists() else None


def forget(state_dir: Path, case_id: str) -> None:
    """Remove a case's secrets (after its database was dropped)."""
    path = password_file(state_dir, case_id)
    path.unlink(missing_ok=True)
    if path.parent.exists() and not any(path.parent.iterdir()):
        path.parent.rmdir()
