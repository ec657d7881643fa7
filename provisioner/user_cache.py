"""The user's cache folders: ``$XDG_CACHE_HOME/provisioner/<name>`` (``~/.cache`` without it).

What is kept there only saves time (an inventory read, the modules Mitogen prepares, compiled
templates) and is keyed by everything it depends on: deleting any of it is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path


def folder(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "provisioner" / name


def owned_folder(name: str) -> Path | None:
    """The folder, created owner-only; None when it cannot be, or is not the user's alone."""
    path = folder(name)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = path.stat()
    except OSError:
        return None
    return path if found.st_uid == os.getuid() and not found.st_mode & 0o022 else None
