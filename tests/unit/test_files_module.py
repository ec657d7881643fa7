"""The batched file module (playbooks/library/provisioner_files.py) on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.playbook_code import load

M = load("library/provisioner_files.py")


@pytest.fixture
def me() -> dict[str, str]:
    import grp
    import pwd

    return {"owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}


def test_a_file_is_written_once_then_left_alone(tmp_path: Path, me: dict[str, str]) -> None:
    item = {"path": str(tmp_path / "vhost.conf"), "content": "<VirtualHost>\n", "mode": "0640", **me}
    assert M._file(item, check_mode=True, want_diff=True)[0] is True
    assert not (tmp_path / "vhost.conf").exists()
    changed, diff = M._file(item, check_mode=False, want_diff=True)
    assert changed and diff["after"] == "<VirtualHost>\n" and diff["before"] == ""
    assert (tmp_path / "vhost.conf").read_text() == "<VirtualHost>\n"
    assert oct((tmp_path / "vhost.conf").stat().st_mode & 0o777) == "0o640"
    inode = (tmp_path / "vhost.conf").stat().st_ino
    assert M._file(item, check_mode=False, want_diff=True) == (False, None)
    assert (tmp_path / "vhost.conf").stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["vhost.conf"]  # no temporary file left


def test_a_hand_edit_or_a_wrong_mode_is_put_back(tmp_path: Path, me: dict[str, str]) -> None:
    path = tmp_path / "pool.conf"
    item = {"path": str(path), "content": "[app]\n", "mode": "0600", **me}
    M._file(item, check_mode=False, want_diff=False)
    path.write_text("[app]\n# edited by hand\n")
    assert M._file(item, check_mode=False, want_diff=False)[0] is True
    assert path.read_text() == "[app]\n"
    path.chmod(0o644)
    assert M._file(item, check_mode=False, want_diff=False)[0] is True
    assert path.stat().st_mode & 0o777 == 0o600


def test_directories_and_links(tmp_path: Path, me: dict[str, str]) -> None:
    folder = {"path": str(tmp_path / "srv" / "public"), "mode": "0755", **me}
    assert M._directory(folder, check_mode=False)[0] is True
    assert M._directory(folder, check_mode=False)[0] is False
    link = {"path": str(tmp_path / "enabled.conf"), "src": "../sites-available/a.conf"}
    assert M._link(link, check_mode=False)[0] is True
    assert os.readlink(tmp_path / "enabled.conf") == "../sites-available/a.conf"
    assert M._link(link, check_mode=False)[0] is False
    assert M._link({**link, "src": "../sites-available/b.conf"}, check_mode=False)[0] is True


def test_what_is_in_the_way_is_refused_not_replaced(tmp_path: Path, me: dict[str, str]) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(M.Problem, match="is not a regular file"):
        M._file({"path": str(tmp_path / "taken"), "content": "x", **me}, check_mode=False, want_diff=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(M.Problem, match="is not a directory"):
        M._directory({"path": str(tmp_path / "file"), **me}, check_mode=False)


def test_a_missing_account_fails_for_real_and_is_a_change_in_check_mode(tmp_path: Path) -> None:
    item = {"path": str(tmp_path / "app.env"), "content": "DB_NAME=x\n", "owner": "no-such-user-here",
            "group": "root", "mode": "0400"}
    assert M._file(item, check_mode=True, want_diff=False)[0] is True
    with pytest.raises(M.Problem, match="no such account no-such-user-here"):
        M._file(item, check_mode=False, want_diff=False)


def test_absent_removes_a_file_a_link_or_a_whole_tree_once(tmp_path: Path) -> None:
    (tmp_path / "root" / "public").mkdir(parents=True)
    (tmp_path / "root" / "public" / "index.php").write_text("<?php\n")
    (tmp_path / "app.env").write_text("DB_NAME=x\n")
    (tmp_path / "enabled.conf").symlink_to(tmp_path / "missing.conf")  # a dangling link counts too
    for name in ("root", "app.env", "enabled.conf"):
        item = {"path": str(tmp_path / name), "state": "absent"}
        assert M._absent(item, check_mode=True) == (True, None)
        assert os.path.lexists(tmp_path / name)
        assert M._absent(item, check_mode=False) == (True, None)
        assert not os.path.lexists(tmp_path / name)
        assert M._absent(item, check_mode=False) == (False, None)
