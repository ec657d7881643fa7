"""A stopped run leaves no process of its own: what left the playbook's process group is held and ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from provisioner.processes import HeldProcesses, StopAndHold, descendants

# A parent in its own process group (as ansible-runner starts ansible-playbook) whose child leaves
# that group for a session of its own (as Ansible's task workers do) and, after LATER seconds,
# starts a child of its own (as a worker runs a module); the pids are printed as they come.
_PLAYBOOK_LIKE = """
import os, sys, time
later = float(sys.argv[1])
worker = os.fork()
if worker == 0:
    os.setsid()
    time.sleep(later)
    module = os.fork()
    if module == 0:
        time.sleep(120)
        os._exit(0)
    print(module, flush=True)
    time.sleep(120)
    os._exit(0)
print(worker, flush=True)
time.sleep(120)
"""


class _Run:
    def __init__(self, later: float) -> None:
        self.parent = subprocess.Popen([sys.executable, "-c", _PLAYBOOK_LIKE, str(later)], stdout=subprocess.PIPE,
                                       text=True, start_new_session=True)
        assert self.parent.stdout is not None
        self.worker = int(self.parent.stdout.readline())
        deadline = time.monotonic() + 10
        while os.getsid(self.worker) != self.worker and time.monotonic() < deadline:  # its setsid done
            time.sleep(0.01)
        self.module: int | None = None

    def wait_for_module(self) -> int:
        assert self.parent.stdout is not None
        self.module = int(self.parent.stdout.readline())
        return self.module

    def kill_group(self) -> None:
        """ansible-runner's kill: SIGKILL to the playbook's process group, which the worker left."""
        os.killpg(self.parent.pid, signal.SIGKILL)
        self.parent.wait()


@pytest.fixture
def runs() -> Iterator[list[_Run]]:
    started: list[_Run] = []
    yield started
    for run in started:  # whatever a failed test left, by pid
        for pid in (run.worker, run.module):
            if pid is not None and not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        if run.parent.poll() is None:
            run.kill_group()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_descendants_are_found_by_parentage(runs: list[_Run]) -> None:
    run = _Run(later=60)
    runs.append(run)
    assert {run.parent.pid, run.worker} <= descendants(os.getpid())
    assert descendants(run.parent.pid) == {run.worker}


def test_a_stop_ends_the_worker_that_left_the_process_group(runs: list[_Run]) -> None:
    run = _Run(later=60)
    runs.append(run)
    stopper = StopAndHold(lambda: True)
    assert stopper() is True
    assert {run.parent.pid, run.worker} <= stopper.held.pidfds.keys()
    run.kill_group()
    assert not _gone(run.worker), "the worker should have outlived the group's kill, as Ansible's do"
    assert stopper.end() == []
    assert _gone(run.worker)


def test_a_process_started_after_the_stop_by_a_held_one_is_ended_too(runs: list[_Run]) -> None:
    run = _Run(later=0.3)
    runs.append(run)
    stopper = StopAndHold(lambda: True)
    stopper()
    assert run.worker in stopper.held.pidfds
    run.kill_group()
    module = run.wait_for_module()  # started after the hold, by the held worker
    assert module not in stopper.held.pidfds and not _gone(module)
    assert stopper.end() == []
    assert _gone(run.worker) and _gone(module)


def test_no_stop_holds_nothing(runs: list[_Run]) -> None:
    run = _Run(later=60)
    runs.append(run)
    stopper = StopAndHold(lambda: False)
    assert stopper() is False
    assert stopper.held.pidfds == {}
    assert stopper.end() == []
    assert not _gone(run.worker)


def test_held_processes_that_exited_are_not_signalled() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '0.5']); "
                               "import time; time.sleep(120)"])
    try:
        held = HeldProcesses()
        deadline = time.monotonic() + 10
        while not held.pidfds and time.monotonic() < deadline:  # until its child has started
            held.hold_below(parent.pid)
        (child,) = held.pidfds
        assert held.alive() == [child]
        while held.alive() and time.monotonic() < deadline:  # sleep 0.5 ends by itself
            time.sleep(0.05)
        assert held.alive() == []
        assert held.end(grace=0.1) == []
        assert parent.poll() is None, "a process never held was signalled"
    finally:
        parent.kill()
        parent.wait()


def test_a_run_that_was_not_stopped_ends_without_reading_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    stopper = StopAndHold(lambda: False)
    stopper()

    def unexpected() -> dict[int, list[int]]:
        raise AssertionError("/proc was read for a run that was not stopped")

    monkeypatch.setattr("provisioner.processes._children_by_parent", unexpected)
    assert stopper.end() == []
