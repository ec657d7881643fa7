"""Output that reaches its reader whole, even when the writer is stopped and continued meanwhile.

With ``PYTHONUNBUFFERED`` (or ``python -u``) Python writes stdout straight to the file descriptor
and ignores a write cut short: a process stopped and continued (Ctrl-Z and ``fg``, a debugger,
py-spy) while its pipe is full loses the rest of that write. A 500-case ``destroy`` failed this way
with "JSONDecodeError: Invalid control character" reading the web host's ownership records. The
programs run on hosts (the checksums and facts readers) and the command's own ``--json`` must not.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

from provisioner import host_facts, host_facts_probe
from provisioner.hosts import CHECKSUMS_SCRIPT
from tests.conftest import EXAMPLES

F_SETPIPE_SZ = 1031  # Linux: the pipe's capacity, here its smallest (a page), so that the writer blocks


def _stopped_and_continued(argv: list[str], cwd: Path | None = None) -> bytes:
    """stdout of ``argv`` (unbuffered), read slowly through a one-page pipe while the program is
    stopped and continued over and over (only this process, by its pid)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(argv, stdout=write_end, stdin=subprocess.DEVNULL, cwd=cwd,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(write_end)
    done = threading.Event()

    def poke() -> None:
        while not done.is_set():
            try:
                os.kill(process.pid, signal.SIGSTOP)
                os.kill(process.pid, signal.SIGCONT)
            except ProcessLookupError:
                return
            time.sleep(0.0005)

    poker = threading.Thread(target=poke)
    poker.start()
    chunks = []
    try:
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
            time.sleep(0.0002)  # a slow reader keeps the pipe full, as a busy controller does
    finally:
        done.set()
        poker.join()
        os.close(read_end)
        process.wait(timeout=60)
    return b"".join(chunks)


def test_the_ownership_records_read_arrives_whole(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    for number in range(300):
        record = {"case": f"case-{number:03d}", "notes": "x" * 600, "checksums": {}}
        (registry / f"case-{number:03d}.yml").write_text("# an ownership record\n" + json.dumps(record))
    out = _stopped_and_continued([sys.executable, "-c", CHECKSUMS_SCRIPT.read_text(), "--registry", str(registry)])
    found = json.loads(out)
    assert len(found["records"]) == 300


def test_the_facts_reader_answer_arrives_whole() -> None:
    tail = host_facts_probe.OUTPUT_TAIL
    commands = [[f"c{number}", f"head -c {tail} /dev/zero | tr '\\0' x"] for number in range(20)]
    request = base64.b64encode(zlib.compress(json.dumps({"commands": commands}).encode())).decode()
    out = _stopped_and_continued([sys.executable, "-c", host_facts.PROBE.read_text(), request])
    answer = json.loads(out)
    assert [len(answer["commands"][f"c{n}"]["stdout"]) for n in range(20)] == [tail] * 20


def test_the_commands_json_arrives_whole(tmp_path: Path) -> None:
    cases = sorted(str(p) for p in EXAMPLES.glob("*.yml")) * 40  # 120 cases named: about 15 KB of JSON
    out = _stopped_and_continued([sys.executable, "-m", "provisioner", "check", *cases, "--json"],
                                 cwd=Path(__file__).resolve().parents[2])
    report = json.loads(out)
    assert report["status"] == "ok" and len(report["cases"]) == 120
