"""How provisioner reads a remote host whose inventory connection is OpenSSH (Ansible's ``ssh``,
the default): the ``ssh`` client, called as Ansible's ssh connection calls it, so that whatever
reaches the host for Ansible reaches it here too: ``ansible_ssh_args`` (or, when the inventory sets
none, Ansible's default of a shared master connection), the inventory's ``ansible_port``,
``ansible_ssh_private_key_file`` and ``ansible_user``, then ``ansible_ssh_common_args`` and
``ansible_ssh_extra_args`` (an ``-F`` configuration, ``ProxyJump``, known hosts, ...). Host keys are
checked as OpenSSH checks them, unless the inventory turns checking off; nothing ever prompts
(``BatchMode``). ``ansible_become`` runs the reads through sudo.

Why not paramiko (provisioner/ssh.py, kept for ``ansible_connection: paramiko``): importing it
alone costs a fifth of a second and each connection's handshake as much again in Python, while a
command through an open master connection (the multi-host lab's, or the one a run before left for
60 s) costs ~30 ms. Many threads may read one host at once: each command is an ``ssh`` of its own.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from testinfra.backend.base import BaseBackend, CommandResult

from provisioner.inventory import Host
from provisioner.language import _

CONNECT_TIMEOUT = 10  # seconds, as testinfra's paramiko backend waits
KEEPALIVE = 5  # seconds between keepalives when the host says nothing; two unanswered end the connection
# Ansible's default ssh_args share a master connection for 60 s; its ControlPath is ours.
CONTROL_DIR = Path("~/.cache/provisioner/ssh").expanduser()
SOCKET_PATH_MAX = 100  # a Unix socket's path is at most 107 bytes; ssh adds a suffix while it binds


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "yes", "1", "on")


def _args(host: Host, name: str) -> list[str]:
    return shlex.split(str(host.vars.get(name) or ""))


def ssh_command(host: Host) -> list[str]:
    """The ``ssh`` command line, without the remote command, that reaches ``host`` as Ansible would."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
    if "ansible_ssh_args" in host.vars:
        argv += _args(host, "ansible_ssh_args")
    elif len(str(CONTROL_DIR / ("x" * 40))) <= SOCKET_PATH_MAX:
        CONTROL_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        argv += ["-o", "ControlMaster=auto", "-o", "ControlPersist=60s", "-o", f"ControlPath={CONTROL_DIR}/%C"]
    checking = host.vars.get("ansible_host_key_checking", host.vars.get("ansible_ssh_host_key_checking", True))
    if not _truthy(checking):
        argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    # Before the common and extra arguments, as Ansible puts them: OpenSSH takes the first value it is given.
    if host.vars.get("ansible_port"):
        argv += ["-o", f"Port={int(host.vars['ansible_port'])}"]
    if host.vars.get("ansible_ssh_private_key_file"):
        argv += ["-o", f"IdentityFile={Path(str(host.vars['ansible_ssh_private_key_file'])).expanduser()}"]
    if host.vars.get("ansible_user"):
        argv += ["-o", f"User={host.vars['ansible_user']}"]
    argv += _args(host, "ansible_ssh_common_args") + _args(host, "ansible_ssh_extra_args")
    # Last, so the inventory's own options win: a connection (a master one too) whose host went away is
    # given up within about 10 s, not when TCP gives up. A master made with other settings keeps them.
    argv += ["-o", f"ServerAliveInterval={KEEPALIVE}", "-o", "ServerAliveCountMax=2"]
    return [*argv, "--", str(host.vars.get("ansible_host", host.name))]


def _reason(stderr: str) -> str:
    """What ssh said of a connection it could not make, in a line; a changed host key said plainly."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("@")]
    if "Host key verification failed" in stderr:
        mismatch = "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or "does not match" in stderr
        return (_("its host key does not match the known hosts; Host key verification failed")
                if mismatch else _("its host key is not in the known hosts; Host key verification failed"))
    return lines[-1] if lines else _("ssh exited with 255")


class OpenSSHBackend(BaseBackend):
    """testinfra's backend for reads, each command one ``ssh`` (through the shared master connection
    where the configuration has one); a failed connection is an OSError naming the host."""

    NAME = "openssh"

    def __init__(self, host: Host) -> None:
        self.argv = ssh_command(host)
        self.host_name = host.name
        self.address = self.argv[-1]
        become = _truthy(host.vars.get("ansible_become", False))
        super().__init__(host.name, sudo=become, sudo_user=str(host.vars.get("ansible_become_user") or "root")
                         if become else None)

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        remote = self.get_command(command, *args)
        done = subprocess.run([*self.argv, remote], stdin=subprocess.DEVNULL, capture_output=True)
        if done.returncode == 255:  # ssh's own failure: the remote command's status otherwise
            raise OSError(_("ssh to {host} ({address}): {error}").format(
                host=self.host_name, address=self.address, error=_reason(done.stderr.decode(errors="replace"))))
        return self.result(done.returncode, self.encode(remote), done.stdout, done.stderr)
