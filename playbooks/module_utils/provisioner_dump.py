"""Dumps, restores and drops of databases, for the database batch modules (playbooks/library).

A dump is written gzip-compressed: the dump program's output is compressed as it comes, into a
temporary file beside the target (owner-only) that takes the target's name only once the
program has succeeded: a failed or killed dump never leaves a file that looks like a backup.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import os
import shutil
import subprocess
import tempfile

from ansible.module_utils.provisioner_batch import side_by_side

PARALLEL_DUMPS = 4


def dump_to_gzip(argv: list[str], target: str) -> None:
    """Run ``argv`` and keep its output in ``target`` (.gz, mode 0600); OSError when it fails."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".dump.")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            shutil.copyfileobj(process.stdout, out)
            error = process.stderr.read().decode(errors="replace").strip()
            if process.wait() != 0:
                raise OSError(f"{os.path.basename(argv[0])} failed ({process.returncode}): {error}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def existing_databases(cursor, query) -> set:
    """The names of the server's databases (``query`` lists them for the engine)."""
    cursor.execute(query)
    return {row[0] for row in cursor.fetchall()}


def dump_each(module, batch, argv_of, existing=None) -> None:
    """Dump every item's database (``argv_of(item)`` runs the engine's dump program) into its
    target, ``PARALLEL_DUMPS`` at a time (each is a client process waiting on the server: 167
    databases of a fleet took 26 s one by one); each reported in order, a failed one as failed.
    With ``existing`` (the server's databases), one not among them has nothing to dump and is
    reported unchanged: the dump before a drop, when a removal run again finds it dropped already.
    Check mode dumps nothing."""
    items = module.params["items"]
    gone = set() if existing is None else {id(item) for item in items if item.get("name")
                                           and item.get("target") and item["name"] not in existing}
    wanted = [item for item in items if item.get("name") and item.get("target") and id(item) not in gone]
    errors = {}
    if wanted and not module.check_mode:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(PARALLEL_DUMPS, len(wanted))) as pool:
            running = {id(item): pool.submit(dump_to_gzip, argv_of(item), item["target"]) for item in wanted}
            for key, future in running.items():
                try:
                    future.result()
                except OSError as exc:
                    errors[key] = exc
    for item in items:
        if not item.get("name") or not item.get("target"):
            batch.failed(item, f"dump of {item.get('name')}: needs a name and a target")
        elif id(item) in errors:
            batch.failed(item, f"dump of {item['name']}: {errors[id(item)]}", db=item["name"])
        elif id(item) in gone:
            batch.done(item, False, db=item["name"])
        else:
            batch.done(item, True, db=item["name"], target=item["target"])


def postgresql_program(name, root="/usr/lib/postgresql"):
    """PostgreSQL's client program ``name`` of the newest version installed in Debian's layout
    (a newer pg_dump reads an older server; the reverse is refused), or ``name`` from PATH.
    Debian's /usr/bin/pg_dump and psql are a Perl wrapper choosing a version: 45 ms of each call."""
    found = []
    try:
        versions = os.listdir(root)
    except OSError:
        return name
    for version in versions:
        program = os.path.join(root, version, "bin", name)
        key = tuple(int(part) if part.isdigit() else -1 for part in version.split("."))
        if os.access(program, os.X_OK):
            found.append((key, program))
    return max(found)[1] if found else name


def restore_from_gzip(argv: list[str], source: str, preamble: bytes = b"") -> None:
    """Feed ``preamble`` and then the decompressed ``source`` to ``argv``'s input; OSError when it fails."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        process.stdin.write(preamble)
        with gzip.open(source, "rb") as dump:
            shutil.copyfileobj(dump, process.stdin)
        process.stdin.close()
    except (BrokenPipeError, OSError, EOFError) as exc:  # the program stopped reading, or the file is bad
        process.kill()
        process.wait()
        raise OSError(f"{os.path.basename(argv[0])} did not take {source}: {exc}") from None
    error = process.stderr.read().decode(errors="replace").strip()
    if process.wait() != 0:
        raise OSError(f"{os.path.basename(argv[0])} failed ({process.returncode}): {error}")


def restore_each(module, batch, argv_of, preamble_of=lambda item: b"") -> None:
    """Load every item's ``source`` dump into its database (``argv_of(item)`` runs the engine's
    client, reading the dump); each reported, a failed one as failed. Check mode loads nothing."""
    for item in module.params["items"]:
        if not item.get("name") or not item.get("source"):
            batch.failed(item, f"restore of {item.get('name')}: needs a name and a source")
            continue
        if not module.check_mode:
            try:
                restore_from_gzip(argv_of(item), item["source"], preamble_of(item))
            except OSError as exc:
                batch.failed(item, f"restore of {item['name']}: {exc}", db=item["name"])
                continue
        batch.done(item, True, db=item["name"], source=item["source"])


def drop_each(module, batch, cursor, existing_query, quote, connect=None) -> None:
    """Drop every item's database that exists (``existing_query`` lists the server's databases,
    ``quote`` quotes a name for the engine); each reported. With ``connect``, the drops run on
    connections of their own, a few at a time (provisioner_batch.side_by_side). Check mode drops
    nothing."""
    existing = existing_databases(cursor, existing_query)
    items = module.params["items"]
    drops = {index: [(f"DROP DATABASE {quote(item['name'])}", ())] for index, item in enumerate(items)
             if item.get("name") and item["name"] in existing}
    errors = {}
    if not module.check_mode:
        if connect is None:
            for statements in drops.values():
                cursor.execute(statements[0][0])
        else:
            errors = side_by_side(connect, drops)
    for index, item in enumerate(items):
        if not item.get("name"):
            batch.failed(item, "a database to drop needs a name")
        elif index in errors:
            batch.failed(item, f"drop of {item['name']}: {errors[index]}", db=item["name"])
        else:
            batch.done(item, index in drops, db=item["name"])
