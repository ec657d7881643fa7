"""Loads a module or plugin of playbooks/ for a unit test, as Ansible would find it.

Our modules import ``ansible.module_utils.provisioner_batch``, which Ansible resolves from
``module_utils = module_utils`` in playbooks/ansible.cfg; here it is registered under that name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"


def _from_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(relative: str) -> ModuleType:
    """``relative`` to playbooks/, e.g. ``library/provisioner_files.py``."""
    waiting = sorted((PLAYBOOKS / "module_utils").glob("*.py"))
    stalled = 0
    while waiting:  # a module_utils file may import another: each once those it needs are in
        util = waiting.pop(0)
        name = f"ansible.module_utils.{util.stem}"
        if name in sys.modules:
            continue
        try:
            sys.modules[name] = _from_file(name, util)
            stalled = 0
        except ModuleNotFoundError as exc:
            stalled += 1
            if not str(exc.name).startswith("ansible.module_utils.provisioner") or stalled > len(waiting):
                raise
            waiting.append(util)
    path = PLAYBOOKS / relative
    return _from_file(path.stem, path)
