"""Backups of installed cases on the controller: where each goes, its manifest, and retention.

A backup is a folder ``<provisioner_backup_dir>/cases/<case id>/<UTC time>/`` (owner-only)
holding ``database.sql.gz`` (the database's dump, when the case has one), ``files.tar.gz`` (its
data folders: ``public/`` of a site without a release, ``shared/`` where its application
writes; the code comes back from its release) and ``manifest.json`` (case, time, each file's
size and SHA-256). The playbooks (backup.yml, restore.yml) move the files; this module names the
folders, writes and checks manifests, and prunes old backups.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.checksums import sha256_of
from provisioner.errors import FieldError, InvalidInput
from provisioner.inventory import Inventory
from provisioner.language import _
from provisioner.site import Site

MANIFEST = "manifest.json"
DATABASE_FILE = "database.sql.gz"
FILES_FILE = "files.tar.gz"
DATA_FOLDERS = ("public", "shared")
DEFAULT_KEEP = 7
STAMP = "%Y%m%dT%H%M%SZ"


def root(inventory: Inventory) -> Path:
    """Where the inventory's case backups live on the controller."""
    return Path(str(inventory.settings.get("provisioner_backup_dir", "/var/backups/provisioner"))) / "cases"


def data_folders(site: Site) -> list[str]:
    """The folders of the site's folder a backup archives (its data, not its release's code)."""
    return [Path(d.path).name for d in site.vars.dirs
            if Path(d.path).parent == Path(site.vars.root) and Path(d.path).name in DATA_FOLDERS]


@dataclass
class Plan:
    """One case's backup to make, or to restore from."""

    site: Site
    folder: Path
    members: list[str]
    database: bool

    def as_var(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "members": self.members, "database": self.database}


def new_folder(inventory: Inventory, case_id: str, now: dt.datetime) -> Path:
    """A new owner-only folder for a backup of ``case_id`` taken ``now``."""
    folder = root(inventory) / case_id / now.astimezone(dt.UTC).strftime(STAMP)
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (folder.parent.parent, folder.parent):  # cases/ and the case's: the backup dir stays as it is
        os.chmod(path, 0o700)
    folder.mkdir(mode=0o700)
    return folder


def write_manifest(plan: Plan, inventory: Inventory, taken: dt.datetime) -> dict[str, Any]:
    """Describe the backup's files (each must be there) in its manifest, owner-only; return it."""
    site = plan.site
    files = {}
    wanted = ([DATABASE_FILE] if plan.database else []) + ([FILES_FILE] if plan.members else [])
    for name in wanted:
        path = plan.folder / name
        if not path.is_file():
            raise RuntimeError(f"the backup of {site.id} lacks {name} in {plan.folder}")
        os.chmod(path, 0o600)
        files[name] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
    manifest = {"case": site.id, "fqdn": site.fqdn, "taken": taken.isoformat(), "inventory": inventory.name,
                "database": ({"engine": site.vars.db.engine, "name": site.vars.db.name}
                             if site.vars.db is not None else None),
                "folders": plan.members, "release_id": site.vars.release_id, "files": files}
    target = plan.folder / MANIFEST
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, target)
    return manifest


def read_checked(source: Path, case_id: str) -> tuple[Path, dict[str, Any]]:
    """(folder, manifest) of the backup at ``source`` (its folder or its manifest), refused (exit 2)
    unless it is a backup of ``case_id`` whose every file has the size and checksum on record."""
    folder = source.parent if source.name == MANIFEST else source
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(_("{folder} is not a backup").format(folder=folder),
                           [FieldError("--from", _("no readable {name}: {error}").format(name=MANIFEST, error=exc))],
                           ) from None
    problems = []
    if manifest.get("case") != case_id:
        problems.append(_("it is a backup of case {other}, not of {case}").format(other=manifest.get("case"),
                                                                               case=case_id))
    for name, facts in sorted((manifest.get("files") or {}).items()):
        path = folder / name
        if not path.is_file():
            problems.append(_("{name} is missing").format(name=name))
        elif path.stat().st_size != facts.get("size") or sha256_of(path) != facts.get("sha256"):
            problems.append(_("{name} does not match its checksum in the manifest").format(name=name))
    if problems:
        raise InvalidInput(_("the backup {folder} is refused; nothing was changed").format(folder=folder),
                           [FieldError("--from", p) for p in problems])
    return folder, manifest


def prune(case_folder: Path, keep: int, keep_days: int | None, now: dt.datetime) -> list[Path]:
    """Remove the case's oldest complete backups beyond the last ``keep`` and, with ``keep_days``,
    those older than that; the newest always stays. Returns what was removed."""
    backups = sorted(p for p in case_folder.iterdir() if (p / MANIFEST).is_file()) if case_folder.is_dir() else []
    newest_first = backups[::-1]
    removed = []
    for index, folder in enumerate(newest_first):
        if index == 0:
            continue
        taken = dt.datetime.strptime(folder.name, STAMP).replace(tzinfo=dt.UTC)
        too_old = keep_days is not None and now - taken > dt.timedelta(days=keep_days)
        if index >= keep or too_old:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def discard(folder: Path) -> None:
    """Remove a backup that did not complete: no folder is left that looks like a backup."""
    shutil.rmtree(folder, ignore_errors=True)
