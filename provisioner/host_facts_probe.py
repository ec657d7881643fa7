"""The program provisioner/host_facts.py runs on a host (``python3 -c SOURCE REQUEST``).

It reads, in one process, everything a batch of trial checks asks of the host: files (type,
owner, mode, checksum, content, whether they contain given text), users (and their shell), the
process list, the IPv4 addresses of interfaces, and the output of given commands (run a few at a
time). REQUEST is JSON, compressed with zlib and base64-encoded; the answer is one JSON object on
stdout. It changes nothing itself: the commands it is given are read-only probes.

It runs on the host's own Python 3 (3.7 or later: any Debian since 10), so it uses the standard
library only.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pwd
import shlex
import stat
import subprocess
import sys
import threading
import zlib
from typing import Any

OUTPUT_TAIL = 16 * 1024  # a command's output is cut to its last 16 KiB


def owner(uid: int, names: dict[int, str]) -> str:
    """The user name of ``uid`` (as ``stat -c %U``), or the number when no user has it."""
    if uid not in names:
        try:
            names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            names[uid] = str(uid)
    return names[uid]


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "other"


def file_facts(path: str, want: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    """Like testinfra's File (``test -e``, ``stat -L``): existence, type, owner and mode are of what
    a link leads to; a link to nothing has the link's own owner and mode."""
    facts: dict[str, Any] = {"exists": False, "symlink": False, "kind": "missing",
                             "user": "", "mode": 0, "sha256": "", "content": None, "found": []}
    try:
        own = os.lstat(path)
    except OSError:
        return facts
    facts.update(user=owner(own.st_uid, names), mode=stat.S_IMODE(own.st_mode), symlink=stat.S_ISLNK(own.st_mode))
    try:
        target = os.stat(path) if facts["symlink"] else own
    except OSError:
        return facts  # a link to nothing
    facts.update(exists=True, kind=kind_of(target.st_mode), user=owner(target.st_uid, names),
                 mode=stat.S_IMODE(target.st_mode))
    if facts["kind"] == "file" and (want.get("sha256") or want.get("content") or want.get("contains")):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            facts["error"] = str(exc)
            return facts
        if want.get("sha256"):
            import hashlib  # only then: OpenSSL takes a few ms to load, on every read

            facts["sha256"] = hashlib.sha256(data).hexdigest()
        text = data.decode("utf-8", "replace")
        if want.get("content"):
            facts["content"] = text
        facts["found"] = [needle for needle in want.get("contains") or [] if needle in text]
    return facts


def user_facts(name: str) -> dict[str, Any]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return {"exists": False, "shell": ""}
    return {"exists": True, "shell": entry.pw_shell}


def processes(names: dict[int, str]) -> list[list[str]]:
    """(command name, effective user) of every process, as ``ps -e -o comm,user`` lists them."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                comm = handle.read().rstrip("\n")
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as handle:
                uid = next(int(line.split()[2]) for line in handle if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue  # gone meanwhile
        found.append([comm, owner(uid, names)])
    return found


def run(command: str, timeout: float, tail: int | None = OUTPUT_TAIL) -> dict[str, Any]:
    """The command's exit code and the ``tail`` of its output (all of it when None)."""
    try:
        done = subprocess.run(command, shell=True, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"rc": 124, "stdout": "", "stderr": f"timed out after {timeout:.0f} s"}
    except OSError as exc:
        return {"rc": 127, "stdout": "", "stderr": str(exc)}
    keep = slice(-tail, None) if tail else slice(None)
    return {"rc": done.returncode, "stdout": done.stdout[keep].decode("utf-8", "replace"),
            "stderr": done.stderr[keep].decode("utf-8", "replace")}


def addresses(interface: str, timeout: float) -> dict[str, Any]:
    # All of it: a web host with hundreds of site addresses prints far more than a tail.
    out = run(f"ip -j -4 addr show dev {shlex.quote(interface)}", timeout, tail=None)
    if out["rc"] != 0:
        return {"addresses": None, "error": (out["stderr"] or out["stdout"]).strip() or f"ip: rc {out['rc']}"}
    try:
        links = json.loads(out["stdout"] or "[]")
        found = [info["local"] for link in links for info in link.get("addr_info", []) if "local" in info]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return {"addresses": None, "error": f"ip -j: {exc}"}
    return {"addresses": found, "error": ""}


def run_all(commands: list[list[str]], timeout: float, parallel: int) -> dict[str, Any]:
    """Each ``[key, command]`` run, ``parallel`` at a time; their results by key, in order.
    Threads of its own: concurrent.futures loads logging, a tenth of this program's start."""
    results: dict[str, Any] = {}
    waiting = list(reversed(commands))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not waiting:
                    return
                key, command = waiting.pop()
            results[key] = run(command, timeout)

    workers = [threading.Thread(target=work) for _ in range(max(1, min(parallel, len(commands))))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {key: results[key] for key, _ in commands}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    names: dict[int, str] = {}
    timeout = float(request.get("timeout", 60))
    result: dict[str, Any] = {
        "files": {path: file_facts(path, want, names) for path, want in request.get("files", [])},
        "users": {name: user_facts(name) for name in request.get("users", [])},
        "processes": processes(names) if request.get("processes") else None,
        "interfaces": {name: addresses(name, timeout) for name in request.get("interfaces", [])},
        "commands": {},
    }
    commands = request.get("commands", [])
    if commands:
        result["commands"] = run_all(commands, timeout, int(request.get("parallel", 8)))
    return result


def main() -> None:
    request = json.loads(zlib.decompress(base64.b64decode(sys.argv[1])).decode("utf-8"))
    # Whole, through a BufferedWriter: an unbuffered stdout (PYTHONUNBUFFERED) drops the rest of a
    # write that a stop and continue of this process cut short while the pipe was full.
    with io.BufferedWriter(io.FileIO(1, "w", closefd=False)) as out:
        out.write(json.dumps(answer(request)).encode("utf-8"))


if __name__ == "__main__":
    main()
