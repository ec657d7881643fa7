"""The processes a test started, found by parentage and signalled by pid: never by a name, which
could match someone else's process on this machine (another run, another test session).

Read from /proc/<pid>/stat (parent pids), since this kernel has no /proc/<pid>/task/*/children.
Signals go through pidfds, so a pid reused after the process exited is never hit.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``: its children, theirs, and so on."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:  # exited meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    """The process's arguments joined by spaces, as `pgrep -f` matches them; empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class StoppedProcesses:
    """Processes held with SIGSTOP, each by a pidfd, until they are killed."""

    pidfds: dict[int, int] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        return sorted(self.pidfds)

    def kill(self) -> None:
        """SIGKILL exactly these processes (a stopped process dies of it too)."""
        for fd in self.pidfds.values():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            os.close(fd)
        self.pidfds.clear()


def stop_descendants(pid: int, pattern: str) -> StoppedProcesses:
    """SIGSTOP every process below ``pid`` whose command line matches ``pattern`` (a regex).

    Stopped, they cannot fork new ones; the search repeats until it finds none it has not stopped,
    so a fork that happened while it looked is caught too.
    """
    stopped = StoppedProcesses()
    while True:
        found = [p for p in descendants(pid) - stopped.pidfds.keys() if re.search(pattern, command_line(p))]
        if not found:
            return stopped
        opened: dict[int, int] = {}
        for p in found:
            with contextlib.suppress(ProcessLookupError):
                opened[p] = os.pidfd_open(p)
        # Each pidfd names one process: checked again now, it is the one that was found.
        below = descendants(pid)
        for p, fd in opened.items():
            if p in below and re.search(pattern, command_line(p)):
                stopped.pidfds[p] = fd
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(fd, signal.SIGSTOP)
            else:
                os.close(fd)
