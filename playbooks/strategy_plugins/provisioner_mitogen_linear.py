"""Mitogen's linear strategy, with what the controller prepares kept between runs and workers.

Ansible runs each task in a worker process forked from ansible-playbook; whatever a worker loads
or compiles dies with it. Measured on one case's apply (73 tasks), the workers spent 3.3 of
their 10.8 s compiling Jinja templates and loading the filter and test plugins again, each for
itself. Three savings, none of which changes what a task does, and a fourth that leaves out of
a role's argument check what provisioner checked before the run:

1. **Mitogen's modules kept.** At each run Mitogen's controller prepares every module a host asks
   for (Ansible's module_utils, Mitogen itself, our modules' imports): it reads the source, strips
   Mitogen's own of comments, compresses it at zlib level 9 and walks its imports. That is about
   2 s of CPU per run; the result depends only on the module's file, so what was prepared once is
   read back from PROVISIONER_MITOGEN_CACHE_DIR. An entry is keyed by the module's name, its
   file's path, size and modification time (and, for a package, its folder's: a submodule added
   or removed changes the folder), the Python and Mitogen versions.
2. **Plugins loaded before the workers fork.** Before a play runs, the filter and test plugins,
   the connection plugins and the modules every worker imports are loaded once in ansible-playbook,
   so that each forked worker has them (about 2.5 s per run).
3. **Compiled templates kept** in PROVISIONER_TEMPLATE_CACHE_DIR: Jinja turns a template into
   Python code (parse, generate, compile: 5 to 10 ms each, some 300 per run). The code is keyed by
   the template's text and everything the code generator reads besides it: the environment's
   syntax settings, Ansible's compile context, the Jinja, Ansible and collections releases, the
   Python version, and the files of the filter and test plugins (Jinja decides at compile time
   how a filter is called). A template that does not compile is never kept: its error comes as
   before.

4. **Each site list checked once.** A role's implicit argument check (``validate_argument_spec``)
   copies its whole input: about 2 s per role for 500 sites, seven times a run. When provisioner
   has checked the run's site list against the same spec with the same validator
   (``provisioner_sites_checked``, provisioner/site.py ``checked``), each role's check leaves out its
   ``<role>_sites``, which the plays select from that list, and checks everything else as before.

A missing, unreadable or foreign entry is prepared again as Mitogen or Jinja would; a cache
folder that is not the user's own, or that others can write to, is not used. Without the
variables (a run by Ansible alone) or if the internals are not the ones this was written for,
this is Mitogen's own mitogen_linear.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import hashlib
import marshal
import os
import pickle
import sys
import tempfile
import types

import ansible_mitogen.loaders
import ansible_mitogen.strategy
import mitogen
import mitogen.master

CACHE_DIR = os.environ.get("PROVISIONER_MITOGEN_CACHE_DIR", "")
FORMAT = 1  # bumped when what an entry holds changes
TEMPLATE_CACHE_DIR = os.environ.get("PROVISIONER_TEMPLATE_CACHE_DIR", "")
TEMPLATE_FORMAT = 1
TEMPLATE_CACHE_LIMIT = 20000  # entries; past it the folder is emptied at the next run (templates differ by text only)
ROLE_CHECK = frozenset({"ansible.builtin.validate_argument_spec", "validate_argument_spec"})
SITES_CHECKED = "provisioner_sites_checked"  # provisioner/site.py SITES_CHECKED


def _own_folder(path):
    """Create the cache folder (owner-only) and say whether it is safe to read code from.

    As provisioner/user_cache.py does; this plugin imports nothing of provisioner, since an
    exported project runs it under AWX or ansible-navigator without the package."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        found = os.stat(path)
    except OSError:
        return False
    return found.st_uid == os.getuid() and not found.st_mode & 0o022


def _write_whole(folder, entry, data):
    try:
        handle, partial = tempfile.mkstemp(dir=folder, prefix=".partial-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(partial, entry)  # whole or not at all, whatever runs at the same time
    except OSError:
        pass  # a cache that cannot be written costs speed, never the run


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
    _write_whole(CACHE_DIR, entry, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL))


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
    if _own_folder(CACHE_DIR):
        responder._build_tuple = cached(original)


# 2. Plugins loaded before the workers fork.

def _warm():
    """Load in ansible-playbook what every worker would otherwise load for itself."""
    from ansible.plugins.loader import connection_loader, filter_loader, lookup_loader, test_loader

    for loader in (filter_loader, test_loader):
        for _ in loader.all():  # every filter and test plugin file, wrapped once
            pass
    for loader, jinja_name in ((filter_loader, "length"), (test_loader, "defined")):
        with contextlib.suppress(KeyError):  # a name Jinja serves: looked for in ansible.builtin first
            loader.get(jinja_name)
    for name in ("mitogen_local", "mitogen_ssh"):
        connection_loader.get(name, class_only=True)
    lookup_loader.get("file", class_only=True)
    for module in ("ansible.parsing.yaml.dumper", "ansible.utils.encrypt", "ansible.utils.unicode",
                   "ansible.module_utils._internal._json._profiles._module_legacy_m2c"):
        with contextlib.suppress(ImportError):
            __import__(module)


# 3. Compiled templates kept.

_expression = contextvars.ContextVar("provisioner_template_expression", default=None)
_fingerprint = []  # computed in ansible-playbook before each play, so before its workers fork


def _plugins_fingerprint():
    """The releases and plugin files that compiled code depends on besides its template."""
    if not _fingerprint:
        import ansible.release
        import jinja2
        from ansible.plugins.loader import filter_loader, test_loader

        files = set()
        for loader in (filter_loader, test_loader):
            files.update(getattr(plugin, "_original_path", None) for plugin in loader.all())
        collections = os.path.join(os.path.dirname(os.path.dirname(ansible.release.__file__)),
                                   "ansible_collections", "ansible_release.py")
        stats = []
        for path in sorted(f for f in files | {collections} if f):
            try:
                found = os.stat(path)
            except OSError:
                stats.append((path, None))
            else:
                stats.append((path, found.st_size, found.st_mtime_ns, found.st_ino))
        parts = (TEMPLATE_FORMAT, sys.version, jinja2.__version__, ansible.release.__version__, stats)
        _fingerprint.append(hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest())
    return _fingerprint[0]


def _code_key(env, kind, text, name, filename, defer_init):
    """The entry's file name, or None where the code may depend on more than the key says."""
    from ansible._internal._templating import _jinja_bits

    if getattr(env, "_debuggable_template_source", False) or not isinstance(env.autoescape, bool):
        return None
    context = _jinja_bits._TemplateCompileContext.current(optional=True)
    syntax = tuple((field, getattr(env, field)) for field in _jinja_bits._TEMPLATE_OVERRIDE_FIELD_NAMES)
    parts = (_plugins_fingerprint(), kind, str(text), name, filename, defer_init,
             type(env).__module__, type(env).__qualname__, env.code_generator_class.__qualname__, syntax,
             env.optimized, env.autoescape, env.finalize is not None, env.is_async, sorted(env.extensions),
             bool(context and context.escape_backslashes))
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _read_code(entry):
    try:
        with open(entry, "rb") as handle:
            code = marshal.load(handle)  # our own owner-only folder
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def cached_compile(compile_):
    """``jinja2.Environment.compile`` that reads and writes the code it makes in TEMPLATE_CACHE_DIR."""

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        expression = _expression.get()
        if raw:
            key = None
        elif isinstance(source, str):
            key = _code_key(self, "template", source, name, filename, defer_init)
        elif expression is not None:  # the node tree compile_expression parsed from that text
            key = _code_key(self, "expression", expression, name, filename, defer_init)
        else:
            key = None
        entry = os.path.join(TEMPLATE_CACHE_DIR, key) if key else None
        code = _read_code(entry) if entry else None
        if code is None:
            token = _expression.set(None)  # the text names this compile only
            try:
                code = compile_(self, source, name, filename, raw, defer_init)
            finally:
                _expression.reset(token)
            if entry and isinstance(code, types.CodeType):
                _write_whole(TEMPLATE_CACHE_DIR, entry, marshal.dumps(code))
        return code

    compile.provisioner_cached = True
    return compile


def remembering_expression(compile_expression):
    """``jinja2.Environment.compile_expression`` that names its text to the compile it makes."""

    def compile_expression_(self, source, undefined_to_none=True):
        token = _expression.set(source)
        try:
            return compile_expression(self, source, undefined_to_none)
        finally:
            _expression.reset(token)

    compile_expression_.provisioner_cached = True
    return compile_expression_


def _install_template_cache():
    import jinja2

    if not TEMPLATE_CACHE_DIR or getattr(jinja2.Environment.compile, "provisioner_cached", False):
        return
    try:
        from ansible._internal._templating import _jinja_bits

        _jinja_bits._TemplateCompileContext.current  # noqa: B018 - the internals this was written for
        _jinja_bits._TEMPLATE_OVERRIDE_FIELD_NAMES  # noqa: B018
    except (ImportError, AttributeError):
        return
    if not _own_folder(TEMPLATE_CACHE_DIR):
        return
    try:
        if len(os.listdir(TEMPLATE_CACHE_DIR)) > TEMPLATE_CACHE_LIMIT:
            for stale in os.listdir(TEMPLATE_CACHE_DIR):
                os.unlink(os.path.join(TEMPLATE_CACHE_DIR, stale))
    except OSError:
        pass
    jinja2.Environment.compile = cached_compile(jinja2.Environment.compile)
    jinja2.Environment.compile_expression = remembering_expression(jinja2.Environment.compile_expression)


_install()
_install_template_cache()

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


def without_checked_sites(task, task_vars):
    """``task``, or when it is a role's own argument check in a run whose site list provisioner
    checked, a copy that leaves out the role's ``<role>_sites`` (saving 2 s per role for 500 sites)."""
    if task.action not in ROLE_CHECK or task_vars.get(SITES_CHECKED) is not True:
        return task
    context = task.args.get("validate_args_context") or {}
    spec = task.args.get("argument_spec") or {}
    sites = f"{context.get('name')}_sites"
    if context.get("type") != "role" or sites not in spec:
        return task
    lighter = task.copy()
    lighter.args = {**task.args, "argument_spec": {name: option for name, option in spec.items() if name != sites}}
    return lighter


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    def _queue_task(self, host, task, task_vars, play_context):
        return super()._queue_task(host, without_checked_sites(task, task_vars), task_vars, play_context)

    def run(self, iterator, play_context, result=0):
        _warm()
        # What exists when the first play starts (the playbook, the inventory, the plugins) lives as
        # long as the process: set aside from the garbage collector, so that neither this process
        # nor the workers forked from it scan it again, and a worker does not copy the pages it lies
        # on by scanning them. Once: what later plays leave behind stays collectable.
        if not gc.get_freeze_count():
            gc.freeze()
        if TEMPLATE_CACHE_DIR:  # again for each play: a role may have brought plugins of its own
            _fingerprint.clear()
            _plugins_fingerprint()
        return super().run(iterator, play_context, result)
