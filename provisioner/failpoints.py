"""Named places where a test makes the tool fail as a bug would: ``PROVISIONER_FAILPOINT=<name>``.

The idea of etcd's failpoints and FoundationDB's "buggify": an unexpected error must take the same
path as any failure (undo, incident, a message that says what to do), and only an injected one
proves that it does. Unset in normal use; a name no place knows does nothing.
"""

from __future__ import annotations

import os

VARIABLE = "PROVISIONER_FAILPOINT"


class FailpointHit(RuntimeError):
    """Raised at the named place: an error of no kind the tool expects."""


def hit(name: str) -> None:
    if os.environ.get(VARIABLE) == name:
        raise FailpointHit(f"failpoint {name}")
