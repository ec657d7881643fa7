#!/usr/bin/python
"""Directories, files and links of many sites in one module call.

A loop of ``template``/``copy``/``file`` over 500 sites is 500 module runs per task; this module
takes the whole batch (contents rendered on the controller) and writes only what differs,
atomically, reporting per site in the shape of a loop's results so that the roles' report of
what changed (filter ``provisioner_site_changes``) reads it as it reads any loop.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch

DOCUMENTATION = r"""
module: provisioner_files
short_description: Ensure many directories, files and symbolic links at once
description:
  - Each item is a directory, a file with the given content, or a link to a target, with owner,
    group and mode; or a path that must be absent (a directory goes with everything in it). Only
    what differs is changed; files are replaced atomically. Check mode reports what would change;
    with --diff, the content changes of files are returned.
options:
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: >-
      Each has site (passed back), path, state (directory, file, link or absent), content (file), src
      (link target), owner, group and mode (octal string).
    type: list
    elements: dict
    required: true
"""


class Problem(Exception):
    pass


def _ids(item, check_mode):
    """(uid, gid); None where the account is missing in check mode (an earlier task makes it)."""
    owner, group = item.get("owner") or "root", item.get("group") or "root"
    try:
        uid = pwd.getpwnam(owner).pw_uid
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        if check_mode:
            return None
        raise Problem(f"{item['path']}: no such account {owner} or group {group}") from None
    return uid, gid


def _attributes(path, item, ids, check_mode, follow=True):
    """Owner, group and mode as asked; whether they changed."""
    mode = int(str(item["mode"]), 8) if item.get("mode") else None
    now = os.stat(path) if follow else os.lstat(path)
    changed = ids is None or (now.st_uid, now.st_gid) != ids
    changed = changed or (mode is not None and stat.S_IMODE(now.st_mode) != mode)
    if changed and not check_mode:
        os.chown(path, *ids)
        if mode is not None:
            os.chmod(path, mode)
    return changed


def _directory(item, check_mode):
    path = item["path"]
    ids = _ids(item, check_mode)
    if os.path.isdir(path):
        return _attributes(path, item, ids, check_mode), None
    if os.path.lexists(path):
        raise Problem(f"{path} exists and is not a directory")
    if not check_mode:
        os.makedirs(path)
        _attributes(path, item, ids, check_mode)
    return True, None


def _file(item, check_mode, want_diff):
    path = item["path"]
    content = (item.get("content") or "").encode("utf-8")
    ids = _ids(item, check_mode)
    before = None
    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isfile(path):
            raise Problem(f"{path} exists and is not a regular file")
        with open(path, "rb") as handle:
            before = handle.read()
    diff = None
    if before == content:
        return _attributes(path, item, ids, check_mode), None
    if want_diff:
        diff = {"before_header": path, "after_header": path,
                "before": (before or b"").decode("utf-8", "replace"), "after": content.decode("utf-8", "replace")}
    if not check_mode:
        folder = os.path.dirname(path)
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".provisioner-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            os.chown(temporary, *ids)
            os.chmod(temporary, int(str(item.get("mode") or "0644"), 8))
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    return True, diff


def _link(item, check_mode):
    path, target = item["path"], item["src"]
    if os.path.islink(path) and os.readlink(path) == target:
        return False, None
    if os.path.isdir(path) and not os.path.islink(path):
        raise Problem(f"{path} is a directory, not a link")
    if not check_mode:
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
    return True, None


def _absent(item, check_mode):
    path = item["path"]
    if not os.path.lexists(path):
        return False, None
    if not check_mode:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return True, None


def main():
    module = AnsibleModule(argument_spec=ARGUMENTS, supports_check_mode=True)
    batch, diffs = Batch(module), []
    for item in module.params["items"]:
        try:
            if item["state"] == "directory":
                changed, diff = _directory(item, module.check_mode)
            elif item["state"] == "file":
                changed, diff = _file(item, module.check_mode, module._diff)
            elif item["state"] == "link":
                changed, diff = _link(item, module.check_mode)
            elif item["state"] == "absent":
                changed, diff = _absent(item, module.check_mode)
            else:
                raise Problem(f"{item.get('path')}: unknown state {item.get('state')!r}")
        except (Problem, OSError) as exc:
            batch.failed(item, str(exc), path=item.get("path"))
            continue
        if diff:
            diffs.append(diff)
        batch.done(item, changed, path=item["path"])
    batch.finish(diff=diffs)


if __name__ == "__main__":
    main()
