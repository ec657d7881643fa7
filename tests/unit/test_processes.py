"""A stopped run leaves no process of its own: what left the playbook's process group is held and ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from provisioner.processes import HeldProcesses, StopAndHold, descendants

# A parent in its own process group (as ansible-runner starts ansible-playbook) whose child leaves
# that group for a session of its own (as Ansible's task workers do), then both sleep.
_PLAYBOOK_LIKE = """
import os, sys, time
child = os.fork()
if child == 0:
    os.setsid()
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(120)
"""


def _start() -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen([sys.executable, "-c", _PLAYBOOK_LIKE], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while os.getsid(worker) != worker and time.monotonic() < deadline:  # its setsid done
        time.sleep(0.01)
    return parent, worker


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_descendants_are_found_by_parentage() -> None:
    parent, worker = _start()
    try:
        assert {parent.pid, worker} <= descendants(os.getpid())
        assert descendants(parent.pid) == {worker}
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        parent.wait()


def test_a_stop_ends_the_worker_that_left_the_process_group() -> None:
    parent, worker = _start()
    stopper = StopAndHold(lambda: True)
    assert stopper() is True
    # ansible-runner's kill: SIGKILL to the playbook's process group, which the worker has left.
    os.killpg(os.getpgid(parent.pid), signal.SIGKILL)
    parent.wait()
    assert not _gone(worker), "the worker should have outlived the group's kill, as Ansible's do"
    assert stopper.end() == []
    assert _gone(worker)


def test_no_stop_holds_nothing() -> None:
    parent, worker = _start()
    stopper = StopAndHold(lambda: False)
    try:
        assert stopper() is False
        assert stopper.held.pidfds == {}
        assert stopper.end() == []
        assert not _gone(worker)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        parent.wait()


def test_held_processes_that_exited_are_not_signalled() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "pass"])
    held = HeldProcesses()
    held.hold_below(os.getpid())
    quick.wait()
    assert quick.pid not in held.alive()
    assert held.end() == []
