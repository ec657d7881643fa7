#!/usr/bin/python
"""Each site's releases in their own folders, and the atomic switch of its ``current`` link.

A release is unpacked once into ``<root>/releases/<id>`` (its id names the archive's content),
then ``<root>/current`` is pointed at it by renaming a new link over the old one, so a request
sees either the old code or the new, never a mix. The last few releases stay, for the undo of a
failed change and for ``provisioner rollback``. Two steps, each one call for every site:

- ``prepare``: which releases are missing; their folders are made empty (a folder left without
  its marker by a run that died is emptied first), ready for the unarchive loop that follows.
- ``switch``: marks each unpacked folder as complete, points ``current`` at it and removes the
  releases beyond ``keep`` (never the one ``current`` points at).

Results are per site, in the shape of a loop's results (as provisioner_files reports).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch

DOCUMENTATION = r"""
module: provisioner_releases
short_description: Versioned release folders and an atomic current link, for many sites at once
options:
  step: {description: prepare or switch., type: str, required: true}
  keep: {description: Releases kept per site (at least 2)., type: int, default: 3}
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: Each has site (passed back), root, release_id, owner and group.
    type: list
    elements: dict
    required: true
"""

HISTORY = ".history"


def _marker(releases, release_id):
    """Kept beside the folder, not in it: the folder is served."""
    return os.path.join(releases, f".{release_id}.complete")


def _paths(item):
    releases = os.path.join(item["root"], "releases")
    return releases, os.path.join(releases, item["release_id"]), os.path.join(item["root"], "current")


def _complete(releases, release_id):
    return os.path.isdir(os.path.join(releases, release_id)) and os.path.exists(_marker(releases, release_id))


def prepare(item, check_mode):
    """Whether the release must be unpacked; its empty folder made, unless in check mode."""
    releases, folder, _current = _paths(item)
    if _complete(releases, item["release_id"]):
        return False
    if not check_mode:
        if os.path.lexists(folder):
            shutil.rmtree(folder)
        os.makedirs(releases, mode=0o755, exist_ok=True)
        os.mkdir(folder, 0o755)
        os.chown(folder, pwd.getpwnam(item["owner"]).pw_uid, grp.getgrnam(item["group"]).gr_gid)
    return True


def _history(releases):
    try:
        with open(os.path.join(releases, HISTORY), encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError:
        return []


def switch(item, keep, check_mode):
    """Whether ``current`` moved; older releases beyond ``keep`` are removed."""
    releases, folder, current = _paths(item)
    release_id = item["release_id"]
    target = os.path.join("releases", release_id)
    moved = not (os.path.islink(current) and os.readlink(current) == target)
    if check_mode:
        return moved
    if not os.path.isdir(folder):
        raise OSError(f"{folder} is missing: the release was not unpacked")
    if not os.path.exists(_marker(releases, release_id)):
        with open(_marker(releases, release_id), "w", encoding="utf-8") as handle:
            handle.write(release_id + "\n")
    if moved:
        if os.path.isdir(current) and not os.path.islink(current):
            raise OSError(f"{current} is a directory, not a link: move it away by hand")
        staged = current + ".provisioner-new"
        if os.path.lexists(staged):
            os.unlink(staged)
        os.symlink(target, staged)
        os.replace(staged, current)
    # Most recent last; the current release is never pruned.
    order = [r for r in _history(releases) if r != release_id] + [release_id]
    present = {name for name in os.listdir(releases) if not name.startswith(".")}
    order = [r for r in order if r in present]
    order = [r for r in sorted(present) if r not in order] + order
    kept, gone = order[-keep:], order[:-keep]
    for name in gone:
        shutil.rmtree(os.path.join(releases, name))
        if os.path.exists(_marker(releases, name)):
            os.unlink(_marker(releases, name))
    staged = os.path.join(releases, HISTORY + ".new")
    with open(staged, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{name}\n" for name in kept))
    os.replace(staged, os.path.join(releases, HISTORY))
    return moved


def main():
    module = AnsibleModule(
        argument_spec={**ARGUMENTS, "step": {"type": "str", "required": True, "choices": ["prepare", "switch"]},
                       "keep": {"type": "int", "default": 3}},
        supports_check_mode=True,
    )
    step, keep = module.params["step"], max(2, module.params["keep"])
    batch = Batch(module)
    for item in module.params["items"]:
        try:
            if step == "prepare":
                changed = prepare(item, module.check_mode)
                batch.done(item, changed, release_id=item.get("release_id"), missing=changed)
            else:
                batch.done(item, switch(item, keep, module.check_mode), release_id=item.get("release_id"))
        except (OSError, KeyError) as exc:
            batch.failed(item, f"{item.get('root')}: {exc}", release_id=item.get("release_id"))
    batch.finish()


if __name__ == "__main__":
    main()
