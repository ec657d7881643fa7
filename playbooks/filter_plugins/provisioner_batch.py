"""Batches for provisioner_files (playbooks/library) that a Jinja loop would only spell out.

``site | provisioner_ref``: what a batch item carries of its site, so that the results report per
site (its id and whether it was installed: a fleet's items carrying whole sites cost Ansible more
than the work).

``sites | provisioner_absent('files')``: one ``state: absent`` item per path the sites name under
that key (a path or a list of paths), each carrying its site's ref.

``sites | provisioner_folders('marker')``: one ``state: directory`` item (root's, 0755) per folder
holding a path the sites name under that key, each once; shared by the sites, it names none, so
it is made in the same batch as their files without being reported as any site's change.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any


def ref(site: Mapping[str, Any]) -> dict[str, Any]:
    """What a batch item carries of its site: what the report of changes reads (filter
    ``provisioner_site_changes``: its id, and whether it was installed), not the whole site. A site
    is 2.6 KB; carried whole by each of 4,000 items (500 sites' files), in the module's arguments
    and back in its results, Ansible took 14 to 16 s over a task it runs in 3 with this."""
    return {"id": site["id"], "installed": site.get("installed", True)}


def absent(sites: Iterable[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    items = []
    for site in sites:
        paths = site.get(key)
        for path in [paths] if isinstance(paths, str) else list(paths or []):
            items.append({"site": ref(site), "path": path, "state": "absent"})
    return items


def folders(sites: Iterable[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    found = dict.fromkeys(posixpath.dirname(site[key]) for site in sites)
    return [{"site": None, "path": folder, "state": "directory", "owner": "root", "group": "root", "mode": "0755"}
            for folder in found]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"provisioner_absent": absent, "provisioner_folders": folders, "provisioner_ref": ref}
