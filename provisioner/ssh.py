"""How provisioner reaches a remote host by paramiko to read it (provisioner/hosts.py), where the
inventory says ``ansible_connection: paramiko`` (OpenSSH hosts: provisioner/openssh.py): with what
OpenSSH would use for Ansible: the inventory's address, user, port and key, and the OpenSSH client
configuration named by ``-F`` in ``ansible_ssh_args``/``ansible_ssh_common_args`` (IdentityFile,
UserKnownHostsFile, StrictHostKeyChecking, ProxyJump), a bastion named by ``-J`` or
``-o ProxyJump=`` there, and ``ansible_become`` (commands through sudo, as
``ansible_become_user``). Host keys, the bastion's too, are checked against those known hosts
unless the inventory turns checking off.
"""

from __future__ import annotations

import functools
import shlex
import socket
from pathlib import Path
from typing import Any

import paramiko
from testinfra.backend.paramiko import IgnorePolicy, ParamikoBackend

from provisioner.inventory import Host
from provisioner.language import _


@functools.lru_cache(maxsize=16)
def _ssh_config(path: str) -> paramiko.SSHConfig:
    return paramiko.SSHConfig.from_path(path)


def ssh_settings(host: Host) -> dict[str, Any]:
    """Where, as whom and with which key and known hosts to reach ``host`` over SSH."""
    address = str(host.vars.get("ansible_host", host.name))
    found: dict[str, Any] = {}
    args = shlex.split(" ".join(str(host.vars.get(k, "")) for k in ("ansible_ssh_args", "ansible_ssh_common_args")))
    config = next((args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-F"), None)
    if config and Path(config).is_file():
        found = dict(_ssh_config(config).lookup(address))
    checking = host.vars.get("ansible_host_key_checking", host.vars.get("ansible_ssh_host_key_checking", True))
    known = found.get("userknownhostsfile", "~/.ssh/known_hosts").split()[0]
    options = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-o"]
    jump = (next((args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-J"), None)
            or next((o.split("=", 1)[1] for o in options if o.lower().startswith("proxyjump=")), None)
            or found.get("proxyjump"))
    become = str(host.vars.get("ansible_become", False)).lower() in ("true", "yes", "1")
    return {
        "address": address,
        "user": str(host.vars.get("ansible_user") or found.get("user") or "root"),
        "port": int(host.vars.get("ansible_port") or found.get("port") or 22),
        "key": _expand(host.vars.get("ansible_ssh_private_key_file") or (found.get("identityfile") or [None])[0]),
        "known_hosts": str(Path(known).expanduser()),
        "check_host_keys": str(checking).lower() not in ("false", "no", "0")
        and found.get("stricthostkeychecking", "yes") != "no",
        # Through a bastion, as OpenSSH's ProxyJump: [user@]host[:port] (the first of a chain).
        "jump": _jump(jump.split(",")[0]) if jump and jump.lower() != "none" else None,
        # As Ansible's become (sudo, to root unless ansible_become_user says otherwise).
        "become_user": str(host.vars.get("ansible_become_user") or "root") if become else None,
    }


def _jump(spec: str) -> dict[str, Any]:
    user, _, rest = spec.rpartition("@")
    address, _, port = rest.partition(":")
    return {"address": address, "user": user or None, "port": int(port or 22)}


def _expand(path: str | None) -> str | None:
    return str(Path(path).expanduser()) if path else None


class CheckedParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, with the host key checked against the known hosts file."""

    def __init__(self, settings: dict[str, Any], name: str) -> None:
        self.settings = settings
        self.host_name = name
        super().__init__(f"{settings['user']}@{settings['address']}:{settings['port']}",
                         ssh_identity_file=settings["key"], sudo=settings.get("become_user") is not None,
                         sudo_user=settings.get("become_user"))

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        address, port = self.settings["address"], self.settings["port"]
        jump = self.settings.get("jump")
        where = (_("ssh to {host} ({address}:{port}) through {jump}") if jump else
                 _("ssh to {host} ({address}:{port})")).format(host=self.host_name, address=address, port=port,
                                                             jump=jump["address"] if jump else "")
        try:
            sock: Any
            if jump:  # a channel from the bastion to the host carries this connection
                self.bastion = self._connected(paramiko.SSHClient(), jump["address"], jump["port"],
                                               jump["user"] or self.settings["user"],
                                               socket.create_connection((jump["address"], jump["port"]),
                                                                        timeout=self.timeout))
                transport = self.bastion.get_transport()
                assert transport is not None
                sock = transport.open_channel("direct-tcpip", (address, port), ("127.0.0.1", 0))
            else:
                # Checks are many short commands: without TCP_NODELAY each waits on a delayed ACK (~40 ms).
                sock = socket.create_connection((address, port), timeout=self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return self._connected(client, address, port, self.settings["user"], sock)
        except (OSError, paramiko.SSHException) as exc:  # unreachable, a host key that does not match, ...
            raise OSError(f"{where}: {exc or exc.__class__.__name__}") from None

    def _connected(self, client: paramiko.SSHClient, address: str, port: int, user: str,
                   sock: Any) -> paramiko.SSHClient:
        """``client`` logged in to ``address`` over ``sock``, its host key checked as configured."""
        if self.settings["check_host_keys"]:
            if Path(self.settings["known_hosts"]).is_file():
                client.load_host_keys(self.settings["known_hosts"])
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(IgnorePolicy())
        client.connect(address, port=port, username=user, sock=sock, key_filename=self.settings["key"],
                       timeout=self.timeout, allow_agent=False, look_for_keys=self.settings["key"] is None)
        return client
