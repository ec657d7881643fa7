"""The user's cache folders: ``$XDG_CACHE_HOME/provisioner/<name>`` (``~/.cache`` without it).

What is kept there only saves time (an inventory read, the modules Mitogen prepares, compiled
templates) and is keyed by everything it depends on: deleting any of it is always safe.
"""

from __future__ import annotations

import os
import tempfile
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


def read(name: str, entry: str) -> str | None:
    """An entry's text, or None when there is none (or the folder is not the user's alone)."""
    path = owned_folder(name)
    try:
        return (path / entry).read_text(encoding="utf-8") if path else None
    except (OSError, UnicodeDecodeError):
        return None


def write(name: str, entry: str, text: str) -> None:
    """Whole or not at all, whatever runs at the same time; a cache that cannot be written costs
    only time."""
    path = owned_folder(name)
    if path is None:
        return
    try:
        handle, partial = tempfile.mkstemp(dir=path, prefix=".partial-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, path / entry)
    except OSError:
        pass
