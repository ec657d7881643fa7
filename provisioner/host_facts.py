"""What a host says of many files, users, processes and probes, read in one command.

The trial of 500 sites asks a web host thousands of small questions (is this a link, who owns that
folder, which shell has this user, ...). Asked one by one, each is a round trip: a process here, an
SSH exec over the network. Here they are gathered into one ``FactsRequest`` and answered by one
small program on the host (provisioner/host_facts_probe.py, run as ``python3 -c``: Python 3 is on
every host Ansible manages), whose JSON answer becomes ``HostFacts``. A request too large for one
command line (a single argument may not exceed 128 KiB) is split into several commands; the
process list and interfaces are read by the first only.
"""

from __future__ import annotations

import base64
import functools
import json
import shlex
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("host_facts_probe.py")
# The whole command line, program included: a single argument of execve may be 128 KiB at most
# (sh -c gets the command as one argument, locally and over SSH).
COMMAND_LIMIT = 100_000
# Commands of one request run this many at a time on the host.
PARALLEL = 8
# The programs run on hosts use the standard library only: the host's site packages (and the
# `site` import that finds them) are left out, a few ms of each read.
HOST_PYTHON_FLAGS = "-S"


# A shell word for PostgreSQL's client. Debian's /usr/bin/psql is a Perl wrapper (pg_wrapper)
# choosing a cluster's version: 35 of the 45 ms each call took here, 500 sites' trial calling it
# 1,000 times. The client itself is called where Debian's layout has it (any version answers the
# queries provisioner asks), psql from PATH elsewhere.
def psql_word(root: str = "/usr/lib/postgresql") -> str:
    """The shell word: the last version's client in ``root`` by the shell's order (any answers), else psql."""
    folders = shlex.quote(root.rstrip("/") + "/")
    return f'"$(for p in {folders}*/bin/psql; do :; done; [ -x "$p" ] && echo "$p" || echo psql)"'


PSQL = psql_word()


@dataclass(frozen=True)
class FileFacts:
    """One path as testinfra's File sees it: existence, type, ``user`` and ``mode`` are of what a
    link leads to (``test -e``, ``stat -L``); a link to nothing keeps the link's own."""

    path: str
    exists: bool
    is_symlink: bool
    kind: str  # file, directory, socket, other, missing (of what the path leads to)
    user: str
    mode: int
    sha256: str = ""  # regular files whose checksum was asked for
    content: str | None = None  # regular files whose content was asked for
    found: frozenset[str] = frozenset()  # of the texts asked for, those the file contains
    error: str = ""

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_directory(self) -> bool:
        return self.kind == "directory"

    @property
    def is_socket(self) -> bool:
        return self.kind == "socket"


@dataclass(frozen=True)
class UserFacts:
    name: str
    exists: bool
    shell: str


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class InterfaceFacts:
    name: str
    addresses: tuple[str, ...] | None  # None: the interface could not be read (see error)
    error: str = ""


@dataclass
class _FileWant:
    sha256: bool = False
    content: bool = False
    contains: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "content": self.content, "contains": sorted(self.contains)}


@dataclass
class FactsRequest:
    """What to read on one host; asking twice for the same thing reads it once."""

    files: dict[str, _FileWant] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    processes: bool = False
    interfaces: set[str] = field(default_factory=set)
    commands: dict[str, str] = field(default_factory=dict)  # key -> shell command

    def file(self, path: str, *, sha256: bool = False, content: bool = False, contains: tuple[str, ...] = ()) -> None:
        want = self.files.setdefault(path, _FileWant())
        want.sha256 |= sha256
        want.content |= content
        want.contains.update(contains)

    def user(self, name: str) -> None:
        self.users.add(name)

    def process_list(self) -> None:
        self.processes = True

    def interface(self, name: str) -> None:
        self.interfaces.add(name)

    def command(self, key: str, command: str) -> None:
        """A read-only probe whose exit code and output the checks judge; run a few at a time."""
        self.commands[key] = command


@dataclass
class HostFacts:
    files: dict[str, FileFacts] = field(default_factory=dict)
    users: dict[str, UserFacts] = field(default_factory=dict)
    processes: list[tuple[str, str]] | None = None  # (command name, user)
    interfaces: dict[str, InterfaceFacts] = field(default_factory=dict)
    commands: dict[str, CommandResult] = field(default_factory=dict)

    def file(self, path: str) -> FileFacts:
        return self.files[path]

    def user(self, name: str) -> UserFacts:
        return self.users[name]

    def users_running(self, comm: str) -> list[str]:
        """The user of each process named ``comm`` (as ``ps -C comm -o user``)."""
        if self.processes is None:
            raise RuntimeError("the process list was not read")
        return [user for name, user in self.processes if name == comm]

    def interface(self, name: str) -> InterfaceFacts:
        return self.interfaces[name]

    def command(self, key: str) -> CommandResult:
        return self.commands[key]


# --- the command lines ---------------------------------------------------------------------

_Item = tuple[str, Any]  # ("file", (path, want)), ("user", name), ("command", (key, command))


def _payload(items: list[_Item], first: bool, request: FactsRequest) -> dict[str, Any]:
    files = [value for kind, value in items if kind == "file"]
    return {
        "files": [[path, want.as_json()] for path, want in files],
        "users": [name for kind, name in items if kind == "user"],
        "processes": first and request.processes,
        "interfaces": sorted(request.interfaces) if first else [],
        "commands": [list(value) for kind, value in items if kind == "command"],
        "parallel": PARALLEL,
    }


def _command_line(payload: dict[str, Any], python: str) -> str:
    encoded = base64.b64encode(zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 9)).decode()
    return f"{shlex.quote(python)} {HOST_PYTHON_FLAGS} -c {_probe_source()} {encoded}"


@functools.cache
def _probe_source() -> str:
    return shlex.quote(PROBE.read_text(encoding="utf-8"))


def command_lines(request: FactsRequest, limit: int = COMMAND_LIMIT, python: str = "python3") -> list[str]:
    """The request as command lines of at most ``limit`` characters (one unless it is too large).

    The request goes compressed (paths under one site's folder repeat a lot: 500 sites fit in one
    command); too large, it is halved until each half fits.
    """
    items: list[_Item] = [("file", (p, w)) for p, w in sorted(request.files.items())]
    items += [("user", name) for name in sorted(request.users)]
    items += [("command", (key, cmd)) for key, cmd in request.commands.items()]

    def split(part: list[_Item], first: bool) -> list[str]:
        line = _command_line(_payload(part, first, request), python)
        if len(line) <= limit or len(part) <= 1:
            return [line]
        middle = len(part) // 2
        return split(part[:middle], first) + split(part[middle:], False)

    return split(items, True)


# --- reading ---------------------------------------------------------------------------------

def _merge(facts: HostFacts, answer: dict[str, Any]) -> None:
    for path, f in answer["files"].items():
        facts.files[path] = FileFacts(path=path, exists=f["exists"], is_symlink=f["symlink"], kind=f["kind"],
                                      user=f["user"], mode=f["mode"], sha256=f["sha256"], content=f["content"],
                                      found=frozenset(f["found"]), error=f.get("error", ""))
    for name, u in answer["users"].items():
        facts.users[name] = UserFacts(name, u["exists"], u["shell"])
    if answer["processes"] is not None:
        facts.processes = [(comm, user) for comm, user in answer["processes"]]
    for name, i in answer["interfaces"].items():
        found = tuple(i["addresses"]) if i["addresses"] is not None else None
        facts.interfaces[name] = InterfaceFacts(name, found, i["error"])
    for key, c in answer["commands"].items():
        facts.commands[key] = CommandResult(c["rc"], c["stdout"], c["stderr"])


def read(connection: Any, request: FactsRequest, *, name: str = "host", limit: int = COMMAND_LIMIT,
         python: str = "python3") -> HostFacts:
    """Answer ``request`` on the host behind ``connection`` (a testinfra host: ``run(cmd)``), with
    the host's ``python`` (the inventory's ``ansible_python_interpreter``, or python3 from PATH).

    Raises RuntimeError naming the host when the program cannot run or its answer is not JSON.
    """
    facts = HostFacts()
    for line in command_lines(request, limit, python):
        out = connection.run(line)
        if out.rc != 0:
            raise RuntimeError(f"{name}: reading the host failed (rc {out.rc}): "
                               f"{(out.stderr or out.stdout).strip()[-300:]}")
        try:
            _merge(facts, json.loads(out.stdout))
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"{name}: the host's answer is not understood: {exc}") from None
    return facts
