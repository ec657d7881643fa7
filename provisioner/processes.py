"""The processes a run started, found by parentage and ended by pidfd: never by a name.

A stopped run must leave nothing of Ansible behind. ansible-runner stops a playbook by SIGKILL to
its process group, but Ansible starts each task's worker in a session of its own (``setsid``):
those workers, and what they started, are not in the group, outlive the kill and are orphaned.
So when a stop is asked for, every process below ours is held by a pidfd first (a pidfd names one
process: a pid reused after it exited is never hit), and whatever of them is still there after
ansible-runner's kill gets SIGKILL too.

Read from /proc/<pid>/stat (parent pids), since some kernels have no /proc/<pid>/task/*/children.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from pathlib import Path


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``: its children, theirs, and so on."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # exited meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class HeldProcesses:
    """Processes held by pidfds until they are ended (``end``) or let go (``release``)."""

    def __init__(self) -> None:
        self.pidfds: dict[int, int] = {}

    def hold_below(self, pid: int) -> None:
        """Hold every process now below ``pid`` (again: forks since the last call are added)."""
        for child in descendants(pid) - self.pidfds.keys():
            with contextlib.suppress(ProcessLookupError):
                fd = os.pidfd_open(child)
                # Checked again through the pidfd: still below pid, so it is the process found.
                if child in descendants(pid):
                    self.pidfds[child] = fd
                else:
                    os.close(fd)

    def alive(self) -> list[int]:
        """The held processes that have not exited (a pidfd turns readable when its process exits)."""
        if not self.pidfds:
            return []
        readable, _, _ = select.select(list(self.pidfds.values()), [], [], 0)
        return sorted(pid for pid, fd in self.pidfds.items() if fd not in readable)

    def end(self, wait: float = 10.0) -> list[int]:
        """SIGKILL the held processes still there and wait up to ``wait`` seconds for them to go;
        returns those that did not (a process in uninterruptible sleep), then lets go of all."""
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfds[pid], signal.SIGKILL)
        deadline = time.monotonic() + wait
        left = self.alive()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.alive()
        self.release()
        return left

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
        self.held.hold_below(os.getpid())
        return True

    def end(self) -> list[int]:
        return self.held.end()
