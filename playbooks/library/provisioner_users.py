#!/usr/bin/python
"""The system users of many sites in one module call.

A loop of ``ansible.builtin.user`` over 500 sites is 500 module runs; this module reads the
account database once and runs ``useradd``/``usermod``/``userdel`` only for the accounts that
differ, reporting per site in the shape of a loop's results (as provisioner_files does) so that
the roles' report of what changed (filter ``provisioner_site_changes``) reads it as any loop.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch

DOCUMENTATION = r"""
module: provisioner_users
short_description: Ensure many system users are present or absent at once
description:
  - A present user is a system account with a group of its own name, the given home (not
    created), shell and comment; an existing one whose home, shell or comment differs is
    modified. An absent user is deleted with its own group; its files are left alone. Check mode
    reports what would change.
options:
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: Each has site (passed back), name, state (present or absent), home, shell and comment.
    type: list
    elements: dict
    required: true
"""


def _present(item):
    name = item["name"]
    wanted = {"home": item["home"], "shell": item.get("shell") or "/usr/sbin/nologin",
              "comment": item.get("comment") or ""}
    try:
        now = pwd.getpwnam(name)
    except KeyError:
        now = None
    if now is None:
        command = ["useradd", "--system", "--no-create-home", "--home-dir", wanted["home"],
                   "--shell", wanted["shell"], "--comment", wanted["comment"]]
        try:
            grp.getgrnam(name)
            command += ["--gid", name]
        except KeyError:
            command += ["--user-group"]
        return True, [*command, name]
    differs = []
    if now.pw_dir != wanted["home"]:
        differs += ["--home", wanted["home"]]
    if now.pw_shell != wanted["shell"]:
        differs += ["--shell", wanted["shell"]]
    if now.pw_gecos != wanted["comment"]:
        differs += ["--comment", wanted["comment"]]
    return bool(differs), (["usermod", *differs, name] if differs else None)


def _absent(item):
    try:
        pwd.getpwnam(item["name"])
    except KeyError:
        return False, None
    return True, ["userdel", item["name"]]


def run(command):
    """(exit code, error output) of ``command``, in the C locale. Not AnsibleModule.run_command:
    its preexec function makes Python fork the whole module process (under Mitogen, one holding
    the batch) instead of vfork, 10 to 20 ms more for each of a fleet's 500 useradd or userdel."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              env={**os.environ, "LC_ALL": "C"}, check=False)
    except OSError as exc:
        return 127, str(exc)
    return done.returncode, done.stderr


def main():
    module = AnsibleModule(argument_spec=ARGUMENTS, supports_check_mode=True)
    batch = Batch(module)
    for item in module.params["items"]:
        state = item.get("state", "present")
        if state not in ("present", "absent") or not item.get("name"):
            batch.failed(item, f"{item.get('name')}: needs a name and state present or absent", name=item.get("name"))
            continue
        changed, command = _present(item) if state == "present" else _absent(item)
        if command and not module.check_mode:
            rc, err = run(command)
            if rc != 0:
                batch.failed(item, f"{item['name']}: {command[0]} failed ({rc}): {err.strip()}", name=item["name"])
                continue
        batch.done(item, changed, name=item["name"])
    batch.finish()


if __name__ == "__main__":
    main()
