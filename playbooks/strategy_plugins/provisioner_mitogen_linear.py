"""Mitogen's linear strategy, with the Python modules it sends to the hosts kept between runs.

At each run Mitogen's controller prepares every module a host asks for (Ansible's module_utils,
Mitogen itself, our modules' imports): it reads the source, strips Mitogen's own of comments,
compresses it at zlib level 9 and walks its imports to send what it will need with it. That is
about 2 s of CPU per run here, mostly while the first task waits for its connection; the result
depends only on the module's file, so provisioner (provisioner/ansible.py) names a folder in
PROVISIONER_MITOGEN_CACHE_DIR and what was prepared once is read back from there.

An entry is keyed by the module's name, its file's path, size and modification time (and, for a
package, its folder's: a submodule added or removed changes the folder), the Python and Mitogen
versions. A missing, unreadable or foreign entry is prepared again as Mitogen would. Without the
variable (a run by Ansible alone) or if Mitogen's internals are not the ones this was written
for, this is Mitogen's own mitogen_linear.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile

import ansible_mitogen.loaders
import ansible_mitogen.strategy
import mitogen
import mitogen.master

CACHE_DIR = os.environ.get("PROVISIONER_MITOGEN_CACHE_DIR", "")
FORMAT = 1  # bumped when what an entry holds changes


def _key(fullname, path, is_pkg):
    """The entry's file name, or None when the module has no file to key it by."""
    try:
        stats = [os.stat(path)]
        if is_pkg:
            stats.append(os.stat(os.path.dirname(path)))
    except (OSError, TypeError):
        return None
    parts = (FORMAT, fullname, path, [(s.st_size, s.st_mtime_ns, s.st_ino) for s in stats], sys.version,
             mitogen.__version__)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _read(entry, fullname):
    try:
        with open(entry, "rb") as handle:
            found = pickle.load(handle)  # our own owner-only folder
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, ValueError):
        return None
    if isinstance(found, tuple) and len(found) == 5 and found[0] == fullname:
        return found
    return None


def _write(entry, found):
    try:
        handle, partial = tempfile.mkstemp(dir=CACHE_DIR, prefix=".partial-")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(found, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, entry)  # whole or not at all, whatever runs at the same time
    except OSError:
        pass  # a cache that cannot be written costs speed, never the run


def cached(build_tuple):
    """``ModuleResponder._build_tuple`` that reads and writes its result in CACHE_DIR."""

    def _build_tuple(self, fullname):
        if fullname in self._cache:
            return self._cache[fullname]
        self.policy.denied_raise(fullname)  # as Mitogen checks first, a cached module too
        try:
            path, source, is_pkg = self._finder.get_module_source(fullname)
        except Exception:  # Mitogen's own path reports it
            return build_tuple(self, fullname)
        key = _key(fullname, path, is_pkg) if path and source is not None and fullname != "__main__" else None
        entry = os.path.join(CACHE_DIR, key) if key else None
        found = _read(entry, fullname) if entry else None
        if found is None:
            found = build_tuple(self, fullname)
            if entry and found[3] is not None:  # a module Mitogen refuses (negative answer) is not kept
                _write(entry, found)
        self._cache[fullname] = found
        return found

    _build_tuple.provisioner_cached = True
    return _build_tuple


def _install():
    responder = getattr(mitogen.master, "ModuleResponder", None)
    original = getattr(responder, "_build_tuple", None)
    if not CACHE_DIR or original is None or getattr(original, "provisioner_cached", False):
        return
    try:
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
    except OSError:
        return
    responder._build_tuple = cached(original)


_install()

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
