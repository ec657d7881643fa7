"""Batches for provisioner_files (playbooks/library) that a Jinja loop would only spell out.

``sites | provisioner_absent('files')``: one ``state: absent`` item per path the sites name under
that key (a path or a list of paths), each carrying its site so the results report per site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def absent(sites: Iterable[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    items = []
    for site in sites:
        paths = site.get(key)
        for path in [paths] if isinstance(paths, str) else list(paths or []):
            items.append({"site": site, "path": path, "state": "absent"})
    return items


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"provisioner_absent": absent}
