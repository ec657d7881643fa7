"""``python -m provisioner.playbook_process`` (provisioner/playbook_process.py) is ansible-playbook as
provisioner starts it: the same output, exit status and clean-up, less the interpreter's teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner import ansible as ansible_run
from provisioner.playbook_process import exit_status

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
OURS = [sys.executable, "-m", "provisioner.playbook_process"]


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (4, 4), ("a message", 1)])
def test_exit_status_is_what_sys_exit_gives(code: object, status: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(code) == status
    assert capsys.readouterr().err == ("a message\n" if isinstance(code, str) else "")


def _run(program: list[str], playbook: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-temp"),
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, **ansible_run._mitogen_strategy(),
           "ANSIBLE_CONFIG": str(ansible_run.PLAYBOOK_DIR / "ansible.cfg")}
    env.update({k: v.replace(str(Path.home() / ".cache"), str(tmp_path / "cache"))
                for k, v in env.items() if k.endswith("_CACHE_DIR")})
    return subprocess.run([*program, "-i", "localhost,", "-c", "local", str(playbook)], capture_output=True,
                          text=True, env=env, check=False, timeout=120)


@pytest.mark.parametrize("fails", [False, True], ids=["passes", "fails"])
def test_a_run_prints_exits_and_cleans_up_as_ansible_playbook_does(tmp_path: Path, fails: bool) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "say", "ansible.builtin.debug": {"msg": "said " + "x" * 20000}},
        {"name": "run", "ansible.builtin.command": {"argv": ["false" if fails else "true"]}},
    ]}]))
    theirs, ours = _run([str(ANSIBLE_PLAYBOOK)], playbook, tmp_path), _run(OURS, playbook, tmp_path)
    assert ours.returncode == theirs.returncode == (2 if fails else 0), ours.stdout[-2000:] + ours.stderr[-2000:]
    for done in (theirs, ours):
        # The whole output reached the pipe (flushed before the process ended), the recap last.
        assert "said " + "x" * 20000 in done.stdout
        assert f"failed={int(fails)}" in done.stdout.strip().splitlines()[-1]
    # Ansible's own exit handlers ran: its temporary folder on the controller is gone.
    assert not list((tmp_path / "local-temp").glob("ansible-local-*"))


def test_finish_flushes_what_was_buffered_and_exits_with_the_status() -> None:
    # Output to a pipe is buffered (unless PYTHONUNBUFFERED, as on some machines): os._exit without
    # the flush would lose it, an atexit handler's too.
    script = ("import atexit, sys; from provisioner.playbook_process import finish; "
              "atexit.register(lambda: sys.stdout.write('handler ran')); sys.stdout.write('buffered, '); finish(3)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60,
                          env=env)
    assert (done.returncode, done.stdout) == (3, "buffered, handler ran"), done.stderr


def test_ansible_finds_its_other_programs_beside_the_one_it_was_started_as() -> None:
    # `--version` exits by SystemExit(0) from the argument parser, and names the program it runs as.
    done = subprocess.run([*OURS, "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ansible-playbook [core ")
    assert f"executable location = {ANSIBLE_PLAYBOOK}" in done.stdout


def test_a_bad_argument_exits_as_ansible_playbook_does() -> None:
    theirs = subprocess.run([str(ANSIBLE_PLAYBOOK), "--no-such-option"], capture_output=True, text=True, check=False)
    ours = subprocess.run([*OURS, "--no-such-option"], capture_output=True, text=True, check=False)
    assert ours.returncode == theirs.returncode != 0
    assert ours.stderr == theirs.stderr and "usage: ansible-playbook " in ours.stderr


def test_provisioner_starts_runs_through_it_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISIONER_PLAYBOOK_PROCESS", raising=False)
    started = ansible_run._program("provision.yml", ["--check", "--diff"])
    assert started == {"binary": sys.executable,
                       "cmdline": "-m provisioner.playbook_process --check --diff provision.yml"}
    monkeypatch.setenv("PROVISIONER_PLAYBOOK_PROCESS", "0")
    assert ansible_run._program("provision.yml", []) == {"playbook": "provision.yml", "cmdline": None}
