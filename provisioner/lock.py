"""One run at a time per inventory.

The lock is an ``flock`` on a file in the inventory's state directory: the kernel releases it when
its holder dies, so a lock left by a dead process never blocks the next run. The file names the
holder (pid, command, since) for the refusal message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from provisioner.errors import Refused
from provisioner.language import _


@contextlib.contextmanager
def inventory_lock(state_dir: Path, command: str) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            try:
                info = json.loads(holder)
                who = _("pid {pid} on {host} ({command}) since {since}").format(
                    pid=info["pid"], host=info["host"], command=info["command"], since=info["since"])
            except (ValueError, KeyError):
                who = _("another run")
            raise Refused(_("another run holds the lock of this inventory: {who}; nothing was changed").format(
                who=who)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }).encode(), 0)
        yield
    finally:
        os.close(fd)
