"""The SHA-256 of files on this host, for the ownership records and the fast path of `apply`.

Run by the site_registry role (`python3 -c`, paths as a JSON list on stdin) and by provisioner's
own read of the web host (`python3 -c ... --registry DIR [CASES]`: every ownership record in DIR,
and the current checksum of each file the records list; with CASES, a JSON list of case ids, only
of those cases' files). Prints JSON; reads nothing but what it is given.
A path that is missing (or a link to nothing) has checksum null; a link to a file is followed, a
link to a folder (a site's current release) has the checksum of where it points.
"""
import glob
import hashlib
import io
import json
import os
import sys


def checksum(path):
    if os.path.isdir(path):
        where = os.readlink(path) if os.path.islink(path) else ""
        return hashlib.sha256(("folder " + where).encode()).hexdigest() if where else None
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def registry(folder, wanted=None):
    records, current = {}, {}
    for path in sorted(glob.glob(os.path.join(folder, "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        records[path] = text
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        try:
            data = json.loads(body)
        except ValueError:
            continue  # a record written before records carried checksums
        if not isinstance(data, dict) or (wanted is not None and data.get("case") not in wanted):
            continue
        for listed in data.get("checksums") or {}:
            current[listed] = checksum(listed)
    running = set()
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm, encoding="utf-8") as handle:
                running.add(handle.read().strip())
        except OSError:
            pass
    return {"records": records, "checksums": current, "processes": sorted(running)}


def emit(text):
    """Print ``text`` whole: an unbuffered stdout (PYTHONUNBUFFERED) drops the rest of a write that a
    stop and continue cut short while the pipe was full; a BufferedWriter writes on until all is out."""
    with io.BufferedWriter(io.FileIO(1, "w", closefd=False)) as out:
        out.write((text + "\n").encode("utf-8"))


if len(sys.argv) > 2 and sys.argv[1] == "--registry":
    emit(json.dumps(registry(sys.argv[2], set(json.loads(sys.argv[3])) if len(sys.argv) > 3 else None)))
else:
    emit(json.dumps({path: checksum(path) for path in json.load(sys.stdin)}))
