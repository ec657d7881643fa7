"""What a run is doing, kept on the controller until it ends: recovery after SIGKILL.

Before provisioning, a run writes one entry per case it is installing for the first time; the
entry goes when the case is live or when the run has undone it. An entry left behind means a run
died halfway (killed, power lost): the next run knows the leftovers on the servers (user,
database, address, files) are that case's own, finishes the installation or, if that fails,
removes all of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioner.site import Placement


def _folder(state_dir: Path) -> Path:
    return state_dir / "journal"


def begin(state_dir: Path, case_id: str, fqdn: str, where: Placement, shared: bool = False) -> None:
    """The case is being installed at ``where`` (its leftovers, if the run dies, are there)."""
    folder = _folder(state_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(folder / f"{case_id}.json", {"case": case_id, "fqdn": fqdn, "ip": where.ip, "shared": shared,
                                         "web": where.web, "db": where.db, "pid": os.getpid(),
                                         "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})


def _write(path: Path, entry: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entry))
    tmp.replace(path)


def end(state_dir: Path, case_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (_folder(state_dir) / f"{case_id}.json").unlink()


def unfinished(state_dir: Path) -> dict[str, dict[str, Any]]:
    """Entries of runs that died: the lock is held while a run lives, so any entry read under the
    lock belongs to a dead run."""
    folder = _folder(state_dir)
    if not folder.is_dir():
        return {}
    entries = {}
    for path in folder.glob("*.json"):
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(path.read_text())
            entries[str(data["case"])] = data
    return entries


def note(state_dir: Path, case_id: str, created: list[str]) -> None:
    """Add to a case's entry what the roles reported creating, for whoever reads a dead run's entry."""
    path = _folder(state_dir) / f"{case_id}.json"
    with contextlib.suppress(FileNotFoundError, ValueError):
        entry = json.loads(path.read_text())
        _write(path, {**entry, "created": created})
