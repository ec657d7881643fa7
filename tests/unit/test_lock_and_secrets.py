"""One run at a time per inventory; generated secrets stay owner-only."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from provisioner import secrets
from provisioner.errors import Refused
from provisioner.lock import inventory_lock


def _hold(state_dir: Path, ready, release) -> None:  # type: ignore[no-untyped-def]
    with inventory_lock(state_dir, "apply"):
        ready.set()
        release.wait(10)


def _holder(state_dir: Path) -> tuple[multiprocessing.Process, Any]:
    """Another process holding the lock until its release event is set."""
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(state_dir, ready, release))
    holder.start()
    assert ready.wait(10)
    return holder, release


def test_a_second_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder, release = _holder(tmp_path)
    try:
        with pytest.raises(Refused) as info, inventory_lock(tmp_path, "apply"):
            pass
        assert f"pid {holder.pid}" in info.value.message
        assert info.value.exit_code == 3
    finally:
        release.set()
        holder.join(10)


def test_a_lock_left_by_a_killed_process_is_released(tmp_path: Path) -> None:
    holder, _ = _holder(tmp_path)
    holder.kill()
    holder.join(10)
    with inventory_lock(tmp_path, "apply"):
        assert str(os.getpid()) in (tmp_path / "lock").read_text()


def test_password_is_created_once_owner_only(tmp_path: Path) -> None:
    path = secrets.ensure_password(tmp_path, "2026-014")
    first = path.read_text()
    assert secrets.ensure_password(tmp_path, "2026-014").read_text() == first
    password = secrets.read_password(tmp_path, "2026-014")
    assert password is not None and len(password) == 32 and password.isalnum()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secrets.forget(tmp_path, "2026-014")
    assert not path.exists()
