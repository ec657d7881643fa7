"""SIGTERM and SIGINT during a run: stop Ansible, then undo what the run created.

The handler only records the request; the run checks it between stages and ansible-runner polls
it (``cancel_callback``) and stops the playbook. The undo that follows is not interrupted.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


class StopRequest:
    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __bool__(self) -> bool:
        return self.signal_name is not None

    def __call__(self) -> bool:
        return bool(self)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(number).name


@contextlib.contextmanager
def watch() -> Iterator[StopRequest]:
    request = StopRequest()
    previous = {sig: signal.signal(sig, request._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
