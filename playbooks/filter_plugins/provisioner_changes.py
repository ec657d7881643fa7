"""What a role changed, per site: the data each site role hands to ``ansible.builtin.set_stats``.

The Python side reads it from the run's stats (``provisioner_changes``), never from task names or
loop labels. Shape, for one role::

    {"<case id>": {"<role>": {"changed": [thing, ...], "created": [thing, ...]}}}

A *thing* is a short stable noun a role chooses for what one of its tasks manages (``vhost``,
``database``, ...). ``changed`` lists the things this run changed for the site (in check mode:
would change); ``created`` is the subset the role declares as made from nothing when its task
changes (an undo may remove it). Only sites with at least one change get an entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _site(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The site of one loop item's result, read from the item itself.

    The result carries its loop variable under the name ``ansible_loop_var`` gives: a site, or a
    ``[site, element]`` pair when the loop is ``subelements``.
    """
    value = item.get(item.get("ansible_loop_var", "item"))
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and value:
        value = value[0]
    if isinstance(value, Mapping) and value.get("id") is not None:
        return value
    return None


def _items(result: Any) -> Iterable[Mapping[str, Any]]:
    """Item results of one registered loop result, or of a list of them (one thing, several tasks).

    A task that never ran (its file not included) is passed as ``{}``; a task without a loop
    names no site, so it has no items here.
    """
    results = result if isinstance(result, Sequence) and not isinstance(result, str | bytes) else [result]
    for one in results:
        if isinstance(one, Mapping):
            yield from (item for item in one.get("results") or [] if isinstance(item, Mapping))


def _did_change(item: Mapping[str, Any], site: Mapping[str, Any], check_mode: bool) -> bool:
    """Whether the item changed its thing (in check mode: would change it).

    In check mode a new site's items are skipped where a task builds on an earlier task's output
    (``when: not ansible_check_mode or <site>.installed``) or where Ansible cannot simulate the
    module (``command``, ``unarchive`` with GNU tar): for a site not installed yet, all of them
    would change in a real run. For an installed site a skipped item proves nothing either way,
    so it is not listed (the real run still compares it).
    """
    return bool(item.get("changed")) or (check_mode and bool(item.get("skipped")) and not site.get("installed", True))


def site_changes(results_by_thing: Mapping[str, Any], role: str, created: Iterable[str] = (),
                 check_mode: bool = False) -> dict[str, dict[str, dict[str, list[str]]]]:
    """``{thing: registered result (or a list of them)}`` -> ``{case id: {role: {changed, created}}}``."""
    creations = set(created)
    report: dict[str, dict[str, dict[str, list[str]]]] = {}
    for thing, result in results_by_thing.items():
        for item in _items(result):
            site = _site(item)
            if site is None or not _did_change(item, site, check_mode):
                continue
            entry = report.setdefault(str(site["id"]), {}).setdefault(role, {"changed": [], "created": []})
            if thing not in entry["changed"]:
                entry["changed"].append(thing)
                if thing in creations:
                    entry["created"].append(thing)
    return report


class FilterModule:
    """``provisioner_site_changes``: a role's report of what it changed, per site."""

    def filters(self) -> dict[str, Any]:
        return {"provisioner_site_changes": site_changes}
