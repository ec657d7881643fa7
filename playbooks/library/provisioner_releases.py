#!/usr/bin/python
"""Each site's releases in their own folders, and the atomic switch of its ``current`` link.

A release is unpacked once into ``<root>/releases/<id>`` (its id names the archive's content),
then ``<root>/current`` is pointed at it by renaming a new link over the old one, so a request
sees either the old code or the new, never a mix. The last few releases stay, for the undo of a
failed change and for ``provisioner rollback``. The code belongs to ``owner`` (root) and is
read-only to the application's ``user``; only its writable folders are the user's, kept in
``<root>/shared`` across releases and linked into each release. Steps, each one call for every
site:

- ``prepare``: which releases are missing; their folders are made empty (a folder left without
  its marker by a run that died is emptied first), and the folder the archives are copied to
  (root's alone), ready for the copy of each distinct archive that follows.
- ``unpack``: each missing release unpacked from its archive's copy (``archive``; one copy per
  release however many sites use it), a few at a time, by GNU tar or unzip as root, the owners the
  archive names not kept; the copies are removed after. A fleet's 167 releases took 20 s as a
  loop of the unarchive module, each copying the archive again.
- ``seal``: a release not sealed yet becomes the owner's, writable by no one else (directories
  0755, files 0644 or 0755); each writable folder is then a link into ``shared`` (created from
  the release's own folder the first time; what a new release adds to it is copied in).
- ``run``: for a release not complete yet, the site's commands, in order, as the user with its
  settings file, in the release's folder; the first failure fails the site (its output, with the
  database password masked, in the message).
- ``switch``: marks each unpacked folder as complete, points ``current`` at it and removes the
  releases beyond ``keep`` (never the one ``current`` points at).

Results are per site, in the shape of a loop's results (as provisioner_files reports).
"""

from __future__ import annotations

import concurrent.futures
import grp
import os
import pwd
import shutil
import stat
import subprocess
import zipfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch

DOCUMENTATION = r"""
module: provisioner_releases
short_description: Versioned release folders and an atomic current link, for many sites at once
options:
  step: {description: prepare, unpack, seal, run or switch., type: str, required: true}
  keep: {description: Releases kept per site (at least 2)., type: int, default: 3}
  timeout: {description: Seconds each command may take (run)., type: int, default: 900}
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: >-
      Each has site (passed back), root, release_id, owner and group (of the code); for prepare and
      unpack also archive (the archive's copy on this host); for seal and run also user (the
      application's), writable (folders in the release), shared (their folder), env_file (its
      settings, may be empty) and commands.
    type: list
    elements: dict
    required: true
"""

HISTORY = ".history"
# What the application's commands get as their environment, beside its settings file.
COMMAND_PATH = "/usr/local/bin:/usr/bin:/bin"
OUTPUT_SHOWN = 2000  # characters of a failed command's output, from its end
MASK = "********"
PARALLEL_UNPACKS = 4  # each a tar or unzip process, mostly waiting on the disk


def _marker(releases, release_id):
    """Kept beside the folder, not in it: the folder is served."""
    return os.path.join(releases, f".{release_id}.complete")


def _paths(item):
    releases = os.path.join(item["root"], "releases")
    return releases, os.path.join(releases, item["release_id"]), os.path.join(item["root"], "current")


def _complete(releases, release_id):
    return os.path.isdir(os.path.join(releases, release_id)) and os.path.exists(_marker(releases, release_id))


def _sealed(releases, release_id):
    return os.path.join(releases, f".{release_id}.sealed")


def _ids(owner, group):
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid


def _read_only(path, mode, uid, gid):
    """The code's own mode: no one but its owner writes; directories and executables 0755."""
    wanted = 0o755 if stat.S_ISDIR(mode) or mode & 0o111 else 0o644
    os.lchown(path, uid, gid)
    os.chmod(path, wanted)


def _seal_tree(folder, uid, gid):
    _read_only(folder, os.lstat(folder).st_mode, uid, gid)
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                os.lchown(path, uid, gid)
            else:
                _read_only(path, mode, uid, gid)


def _seed(source, target, uid, gid):
    """Copy into ``target`` what the release's folder has and ``target`` lacks; nothing is overwritten."""
    for parent, dirs, files in os.walk(source):
        relative = os.path.relpath(parent, source)
        for name in dirs + files:
            path, there = os.path.join(parent, name), os.path.normpath(os.path.join(target, relative, name))
            if os.path.lexists(there):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                os.mkdir(there, 0o755)
            else:
                shutil.copy2(path, there, follow_symlinks=False)
            os.lchown(there, uid, gid)


def _link_writable(folder, shared, relative, uid, gid, check_mode):
    """The release's ``relative`` folder as a link into ``shared``; whether anything changed."""
    inside, target = os.path.join(folder, relative), os.path.join(shared, relative)
    if os.path.islink(inside) and os.readlink(inside) == target and os.path.isdir(target):
        return False
    if check_mode:
        return True
    if not os.path.isdir(target):
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        os.mkdir(target)
        os.chmod(target, 0o755)
        os.lchown(target, uid, gid)
    if os.path.isdir(inside) and not os.path.islink(inside):
        _seed(inside, target, uid, gid)
        shutil.rmtree(inside)
    elif os.path.lexists(inside):
        os.unlink(inside)
    os.makedirs(os.path.dirname(inside), 0o755, exist_ok=True)
    os.symlink(target, inside)
    os.lchown(inside, uid, gid)  # Apache's SymLinksIfOwnerMatch: the link's owner is its target's
    return True


def seal(item, check_mode):
    """Whether the release's ownership, modes or writable links changed (would change)."""
    releases, folder, _current = _paths(item)
    changed = not os.path.exists(_sealed(releases, item["release_id"]))
    if not check_mode and changed:
        if not os.path.isdir(folder):
            raise OSError(f"{folder} is missing: the release was not unpacked")
        _seal_tree(folder, *_ids(item["owner"], item["group"]))
    user = _ids(item["user"], item["user"]) if item.get("writable") and not check_mode else (0, 0)
    for relative in item.get("writable") or []:
        changed |= _link_writable(folder, item["shared"], relative, *user, check_mode)
    if not check_mode and changed:
        with open(_sealed(releases, item["release_id"]), "w", encoding="utf-8") as handle:
            handle.write(item["release_id"] + "\n")
    return changed


def _password(env_file):
    """The database password the settings file holds, to mask in a command's output."""
    try:
        with open(env_file, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("DB_PASSWORD="):
                    return line.split("=", 1)[1].strip().strip("'")
    except OSError:
        pass
    return ""


def command_line(item, command):
    """How one of the site's commands runs: as its user, a clean environment, its settings read."""
    settings = f"set -a; . {item['env_file']}; set +a; " if item.get("env_file") else ""
    return ["runuser", "-u", item["user"], "--", "env", "-i", f"PATH={COMMAND_PATH}", f"HOME={item['root']}",
            "LANG=C.UTF-8", "sh", "-c", settings + command]


def run(item, check_mode, timeout):
    """Whether the site's commands ran (would run) for its release: only for one not complete yet."""
    releases, folder, _current = _paths(item)
    commands = item.get("commands") or []
    if not commands or _complete(releases, item["release_id"]):
        return False
    if check_mode:
        return True
    secret = _password(item.get("env_file") or "")
    for number, command in enumerate(commands):
        try:
            done = subprocess.run(command_line(item, command), cwd=folder, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
            rc, output = done.returncode, done.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            rc, output = 124, f"timed out after {timeout} s"
        if rc != 0:
            if len(secret) >= 8:
                output = output.replace(secret, MASK)
            raise OSError(f"command {number + 1} ({command}) failed with exit code {rc}: "
                          f"{output.strip()[-OUTPUT_SHOWN:] or 'no output'}")
    return True


def prepare(item, check_mode):
    """Whether the release must be unpacked; its empty folder made, unless in check mode."""
    releases, folder, _current = _paths(item)
    if _complete(releases, item["release_id"]):
        return False
    if not check_mode:
        if os.path.lexists(folder):
            shutil.rmtree(folder)
        if item.get("archive"):  # where unpack finds the archive, copied there after this step
            os.makedirs(os.path.dirname(item["archive"]), mode=0o700, exist_ok=True)
        os.makedirs(releases, mode=0o755, exist_ok=True)
        os.mkdir(folder, 0o755)
        os.chown(folder, *_ids(item["owner"], item["group"]))
        if os.path.exists(_sealed(releases, item["release_id"])):
            os.unlink(_sealed(releases, item["release_id"]))
    return True


def _unpack_one(archive, folder):
    """Fill ``folder`` from ``archive`` as root (a zip by unzip, a tar of any compression by GNU tar);
    the owners and groups the archive names are not kept. OSError when the program fails."""
    if zipfile.is_zipfile(archive):
        command = ["unzip", "-q", "-o", archive, "-d", folder]
    else:
        command = ["tar", "--extract", "--no-same-owner", "--file", archive, "--directory", folder]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=False)
    except OSError as exc:
        raise OSError(f"{command[0]}: {exc}") from None
    if done.returncode != 0:
        output = done.stdout.decode("utf-8", "replace").strip()
        raise OSError(f"{command[0]} failed ({done.returncode}) on {archive}: {output[-OUTPUT_SHOWN:] or 'no output'}")


def unpack(items, check_mode, workers=PARALLEL_UNPACKS):
    """Each item's release unpacked into its prepared folder from ``archive`` (the archive's copy on
    this host, shared by the sites of one release), a few at a time; item index -> the error of
    one that failed. The copies are removed afterwards, whatever happened: the next run copies
    again. Check mode unpacks nothing."""
    errors = {}
    try:
        if not check_mode and items:
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
                running = {index: pool.submit(_unpack_one, item["archive"], _paths(item)[1])
                           for index, item in enumerate(items)}
                for index, future in running.items():
                    try:
                        future.result()
                    except OSError as exc:
                        errors[index] = exc
    finally:
        if not check_mode:
            for archive in {item["archive"] for item in items if item.get("archive")}:
                if os.path.lexists(archive):
                    os.unlink(archive)
    return errors


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
        for marker in (_marker(releases, name), _sealed(releases, name)):
            if os.path.exists(marker):
                os.unlink(marker)
    staged = os.path.join(releases, HISTORY + ".new")
    with open(staged, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{name}\n" for name in kept))
    os.replace(staged, os.path.join(releases, HISTORY))
    return moved


def main():
    module = AnsibleModule(
        argument_spec={**ARGUMENTS,
                       "step": {"type": "str", "required": True,
                                "choices": ["prepare", "unpack", "seal", "run", "switch"]},
                       "keep": {"type": "int", "default": 3}, "timeout": {"type": "int", "default": 900}},
        supports_check_mode=True,
    )
    step, keep = module.params["step"], max(2, module.params["keep"])
    batch = Batch(module)
    if step == "unpack":
        errors = unpack(module.params["items"], module.check_mode)
        for index, item in enumerate(module.params["items"]):
            if index in errors:
                batch.failed(item, f"{item.get('root')}: {errors[index]}", release_id=item.get("release_id"))
            else:
                batch.done(item, True, release_id=item.get("release_id"))
        batch.finish()
        return
    for item in module.params["items"]:
        try:
            if step == "prepare":
                changed = prepare(item, module.check_mode)
                batch.done(item, changed, release_id=item.get("release_id"), missing=changed)
            elif step == "seal":
                batch.done(item, seal(item, module.check_mode), release_id=item.get("release_id"))
            elif step == "run":
                batch.done(item, run(item, module.check_mode, module.params["timeout"]),
                           release_id=item.get("release_id"))
            else:
                batch.done(item, switch(item, keep, module.check_mode), release_id=item.get("release_id"))
        except (OSError, KeyError) as exc:
            batch.failed(item, f"{item.get('root')}: {exc}", release_id=item.get("release_id"))
    batch.finish()


if __name__ == "__main__":
    main()
