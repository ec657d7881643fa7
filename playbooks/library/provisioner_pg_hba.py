#!/usr/bin/python
"""The pg_hba.conf lines of many sites in one module call.

``community.postgresql.postgresql_pg_hba`` reads, sorts and rewrites the whole file once per
site; over 500 sites that is 500 rewrites. This module reads the file once, puts each present
site's ``host`` line in (or mends its method), takes each absent site's line out, and writes the
file once, in place of the old one by a rename, keeping its owner and mode. Lines it does not
manage, comments included, stay where they are; new lines go at the end. Results per site in the
shape of a loop's results (module_utils/provisioner_batch).
"""

from __future__ import annotations

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch

DOCUMENTATION = r"""
module: provisioner_pg_hba
short_description: Ensure many pg_hba.conf host lines are present or absent at once
description:
  - A line is known by its type (host), database, user and source; a present one gets the given
    method. The file is rewritten only when a line changed. Check mode reports what would change.
options:
  dest: {description: The pg_hba.conf file., type: path, required: true}
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: Each has site (passed back), database, user, source (an address with its prefix), method and state.
    type: list
    elements: dict
    required: true
"""


def key_of(line: str) -> tuple[str, str, str, str] | None:
    """(type, database, user, source) of a host line with an address in one field; None otherwise."""
    fields = line.split("#", 1)[0].split()
    if len(fields) < 5 or fields[0] != "host" or "/" not in fields[3]:
        return None
    return fields[0], fields[1], fields[2], fields[3]


def method_of(line: str) -> str:
    return line.split("#", 1)[0].split()[4]


def edit(lines: list[str], items: list[dict]) -> tuple[list[str], list[bool]]:
    """The file's lines after the items' changes, and per item whether it changed anything."""
    out = list(lines)
    changed = []
    for item in items:
        key = ("host", item["database"], item["user"], item["source"])
        line = "\t".join([*key, item.get("method", "scram-sha-256")])
        found = [i for i, existing in enumerate(out) if key_of(existing) == key]
        if item.get("state", "present") == "absent":
            out = [existing for i, existing in enumerate(out) if i not in found]
            changed.append(bool(found))
        elif not found:
            out.append(line)
            changed.append(True)
        elif any(method_of(out[i]) != line.split("\t")[4] for i in found) or len(found) > 1:
            out[found[0]] = line
            out = [existing for i, existing in enumerate(out) if i not in found[1:]]
            changed.append(True)
        else:
            changed.append(False)
    return out, changed


def _write(path: str, lines: list[str]) -> None:
    status = os.stat(path)
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".pg_hba.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write("".join(line + "\n" for line in lines))
        os.chown(temporary, status.st_uid, status.st_gid)
        os.chmod(temporary, status.st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main():
    module = AnsibleModule(argument_spec={**ARGUMENTS, "dest": {"type": "path", "required": True}},
                           supports_check_mode=True)
    batch = Batch(module)
    items = []
    for item in module.params["items"]:
        if not all(item.get(k) for k in ("database", "user", "source")) or \
                item.get("state", "present") not in ("present", "absent"):
            batch.failed(item, f"pg_hba line {item.get('database')}/{item.get('user')}: needs a database, a user, "
                               "a source and state present or absent")
        else:
            items.append(item)
    path = module.params["dest"]
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}")
    new, changed = edit(lines, items)
    for item, did in zip(items, changed, strict=True):
        batch.done(item, did, database=item["database"], user=item["user"])
    if new != lines and not module.check_mode:
        try:
            _write(path, new)
        except OSError as exc:
            module.fail_json(msg=f"cannot write {path}: {exc}", results=batch.results)
    batch.finish()


if __name__ == "__main__":
    main()
