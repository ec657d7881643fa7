"""The processes a run started, found by parentage and ended by pidfd: never by a name.

A stopped run must leave nothing of Ansible behind. ansible-runner stops a playbook by SIGKILL to
its process group, but Ansible starts each task's worker in a session of its own (``setsid``), as
Mitogen does its connections: those are not in the group, outlive the kill and are orphaned. So
when a stop is asked for, every process below ours is held by a pidfd first (a pidfd names one
process: a pid reused after it exited is never hit). After ansible-runner's kill, what is left of
them is frozen (SIGSTOP) and the children they started meanwhile are held too; then all get
SIGTERM and a few seconds to exit (a package manager may be writing its state), then SIGKILL.

Read from /proc/<pid>/stat (parent pids), since some kernels have no /proc/<pid>/task/*/children.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

GRACE_SECONDS = 5.0


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # exited meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    return children


def _below(children: dict[int, list[int]], pids: set[int]) -> set[int]:
    found: set[int] = set()
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``: its children, theirs, and so on."""
    return _below(_children_by_parent(), {pid})


class HeldProcesses:
    """Processes held by pidfds until they are ended (``end``) or let go (``release``)."""

    def __init__(self) -> None:
        self.pidfds: dict[int, int] = {}

    def hold_below(self, *pids: int) -> int:
        """Hold every process now below ``pids`` not held yet; returns how many were added."""
        found = _below(_children_by_parent(), set(pids)) - self.pidfds.keys()
        opened: dict[int, int] = {}
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                opened[pid] = os.pidfd_open(pid)
        # Read again once every pidfd is open: a process still below is the one that was found.
        still = _below(_children_by_parent(), set(pids))
        for pid, fd in opened.items():
            if pid in still:
                self.pidfds[pid] = fd
            else:
                os.close(fd)
        return len(self.pidfds.keys() & opened.keys())

    def alive(self) -> list[int]:
        """The held processes that have not exited (a pidfd turns readable when its process exits)."""
        if not self.pidfds:
            return []
        poller = select.poll()
        for fd in self.pidfds.values():
            poller.register(fd, select.POLLIN)
        exited = {fd for fd, _ in poller.poll(0)}
        return sorted(pid for pid, fd in self.pidfds.items() if fd not in exited)

    def _signal(self, number: signal.Signals) -> None:
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfds[pid], number)

    def _wait(self, seconds: float) -> list[int]:
        deadline = time.monotonic() + seconds
        left = self.alive()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.alive()
        return left

    def _freeze(self) -> None:
        """SIGSTOP the held processes, then hold what they started, until none is new: a frozen
        process cannot fork, so nothing it started is left out."""
        while alive := self.alive():  # none held (a run that was not stopped): /proc is not read
            self._signal(signal.SIGSTOP)
            if not self.hold_below(*alive):
                return

    def end(self, grace: float = GRACE_SECONDS, wait: float = 10.0) -> list[int]:
        """End the held processes still there and what they started: SIGTERM and ``grace`` seconds
        to exit, then SIGKILL, waiting up to ``wait`` seconds. Returns the pids that did not go (a
        process in uninterruptible sleep); lets go of every pidfd."""
        try:
            self._freeze()
            self._signal(signal.SIGTERM)
            self._signal(signal.SIGCONT)  # the SIGTERM is handled once they run again
            if not self._wait(grace):
                return []
            self._freeze()  # what a handler started meanwhile
            self._signal(signal.SIGKILL)
            return self._wait(wait)
        finally:
            self.release()

    def release(self) -> None:
        for fd in self.pidfds.values():
            os.close(fd)
        self.pidfds.clear()


class StopAndHold:
    """ansible-runner's cancel callback: asks ``stop``; once it says stop, first holds every
    process below this one (the playbook and the workers it started in their own sessions), so
    that ``end`` can finish what ansible-runner's kill of the process group did not reach."""

    def __init__(self, stop: Callable[[], bool]) -> None:
        self.stop = stop
        self.held = HeldProcesses()

    def __call__(self) -> bool:
        if not self.stop():
            return False
        try:
            self.held.hold_below(os.getpid())
        except OSError as exc:  # no pidfds left, say: the stop goes on, ansible-runner's kill still runs
            print(f"provisioner: could not hold the run's processes: {exc}", file=sys.stderr)
        return True

    def end(self) -> list[int]:
        return self.held.end()
