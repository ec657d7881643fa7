"""Inspection of a release archive before it goes near a server.

An archive is unpacked as root into the document root: a member with an absolute path, a ``..``
component, a link pointing outside, or a device file could write anywhere. Such an archive is
refused at validation (exit 2), with the first offending members named.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import zipfile
from pathlib import Path

from provisioner.case_schema import RELEASE_SUFFIXES
from provisioner.checksums import sha256_of

SHOWN = 3


def _escapes(name: str) -> bool:
    normal = posixpath.normpath(name)
    return name.startswith("/") or normal == ".." or normal.startswith("../")


def _link_escapes(member: str, target: str) -> bool:
    if target.startswith("/"):
        return True
    return _escapes(posixpath.join(posixpath.dirname(member), target))


def _tar_problems(path: Path) -> list[str]:
    problems = []
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            name = member.name
            if _escapes(name):
                problems.append(f"member {name!r} would be written outside the document root")
            elif member.issym() and _link_escapes(name, member.linkname):
                problems.append(f"link {name!r} points outside the document root ({member.linkname})")
            elif member.islnk() and _escapes(member.linkname):
                problems.append(f"hard link {name!r} points outside the document root ({member.linkname})")
            elif member.isdev() or member.isfifo():
                problems.append(f"member {name!r} is a device or pipe")
    return problems


def _zip_problems(path: Path) -> list[str]:
    problems = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if _escapes(info.filename):
                problems.append(f"member {info.filename!r} would be written outside the document root")
            elif (info.external_attr >> 16) & 0o170000 == 0o120000:
                target = archive.read(info).decode(errors="replace")
                if _link_escapes(info.filename, target):
                    problems.append(f"link {info.filename!r} points outside the document root ({target})")
    return problems


def archive_problems(path: Path) -> list[str]:
    """Why the archive must not be unpacked; empty when it is safe."""
    try:
        if zipfile.is_zipfile(path):
            problems = _zip_problems(path)
        elif tarfile.is_tarfile(path):
            problems = _tar_problems(path)
        else:
            return ["is not a tar or zip archive"]
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        return [f"cannot be read as an archive: {exc}"]
    if len(problems) > SHOWN:
        problems = [*problems[:SHOWN], f"and {len(problems) - SHOWN} more"]
    return problems


def release_id(path: Path) -> str:
    """The name of the release's folder on the web host: the archive's name and the start of its
    content's SHA-256, so a changed archive under the same name is another release."""
    stem = next((path.name[: -len(s)] for s in RELEASE_SUFFIXES if path.name.endswith(s)), path.name)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:60] or "release"
    return f"{stem}-{sha256_of(path)[:12]}"
