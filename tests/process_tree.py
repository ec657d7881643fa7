"""The processes a test started, found by parentage and signalled by pid: never by a name, which
could match someone else's process on this machine (another run, another test session).

Found below a pid by provisioner.processes.descendants (which the product uses to end a stopped
run). Signals go through pidfds, so a pid reused after the process exited is never hit.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.processes import descendants


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
