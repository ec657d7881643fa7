"""``ansible-playbook`` as provisioner starts it: Ansible's own entry point, less two costs of the
interpreter that buy a short-lived process nothing (provisioner/ansible.py runs ``python -m
provisioner.playbook_process`` where it would run ``ansible-playbook``; the arguments are the same).

- Python's cyclic garbage collector runs every 700 new container objects. Reading the playbooks,
  roles and their argument specs makes hundreds of thousands, so it ran hundreds of times, and
  each task's worker, forked from this process, inherits the same setting. Here it runs less often
  (``THRESHOLDS``; the strategy plugin also sets aside what exists when the first play starts, see
  ``gc.freeze`` there). Measured on one PHP case's run through Ansible (README, Speed): 0.2 to
  0.9 s less CPU per run, out of about 7.
- At exit, after the other threads ended and every ``atexit`` handler ran (Mitogen's shutdown,
  Ansible's temporary folders), the interpreter would still tear down every module and object it
  made: 0.2-0.3 s that changes nothing on disk. The process ends there instead, its output flushed,
  with ansible-playbook's exit status.

Nothing else differs: ``sys.argv[0]`` names the ``ansible-playbook`` beside this Python (Ansible
finds its other programs beside it), and a playbook run by hand, by AWX or by an export behaves the
same without this module.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from pathlib import Path

# Collections of the youngest generation every 50,000 new objects instead of 700, the older two as
# Python's defaults count them (one per 10 younger collections). provisioner's own commands use the
# same (provisioner/cli.py).
THRESHOLDS = (50_000, 10, 10)


def exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives the process: None is 0, an int is itself, anything else
    is printed to stderr and is 1 (as the interpreter does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def finish(code: object) -> None:
    """End the process as the interpreter would after ``sys.exit(code)``, less its teardown: wait
    for the threads that are not daemons, run the ``atexit`` handlers, flush, exit."""
    status = exit_status(code)
    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter calls first on exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 1
    os._exit(status)


def main() -> None:
    gc.set_threshold(*THRESHOLDS)
    sys.argv[0] = str(Path(sys.executable).with_name("ansible-playbook"))
    from ansible.cli.playbook import main as ansible_playbook  # type: ignore[import-untyped]

    try:
        ansible_playbook()
    except SystemExit as exc:
        finish(exc.code)
    finish(0)


if __name__ == "__main__":
    main()
