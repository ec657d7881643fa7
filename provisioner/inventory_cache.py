"""What Ansible read from a static inventory, kept so that the next command need not import Ansible.

Reading an inventory through Ansible costs about half a second here, nearly all of it importing
Ansible: half of a re-apply that changes nothing. The cache keeps the groups, hosts and variables
that read returned, under a key made of everything that can change them: the content of every file
Ansible may read for the source (the directory's files, or the file and the ``group_vars`` and
``host_vars`` beside it), ``playbooks/ansible.cfg``, every ``ANSIBLE_*`` variable of the
environment, the installed Ansible's version and the code that reads. Any change gives another key,
so the old entry is simply not used. It is neither read nor written:

- for an inventory holding vault-encrypted data, a file or an inline value (no secret that was
  decrypted is ever stored; such an inventory is read by Ansible each time);
- for inventory scripts and plugins (``plugin:`` files), whose answer can change when no file does,
  nor when other vars plugins are enabled;
- for more than ``MAX_FILES`` files or ``MAX_BYTES`` bytes (``-i`` naming a large folder);
- when ``PROVISIONER_INVENTORY_CACHE=0``.

Entries live in ``$XDG_CACHE_HOME/provisioner/inventories/`` (``~/.cache``), owner-only; they hold
what the inventory holds in clear text. Deleting them is always safe.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from provisioner import user_cache
from provisioner.ansible_inventory import ANSIBLE_CONFIG, VAULT_HEADER, InventoryData

FORMAT = 1
MAX_FILES = 500
MAX_BYTES = 8 * 1024 * 1024
SWITCH = "PROVISIONER_INVENTORY_CACHE"
# An inventory plugin's configuration file names its plugin; a group or variable named so only
# means the inventory is read by Ansible each time.
_PLUGIN = re.compile(rb"""^\s*["']?plugin["']?\s*[:=]""", re.M)
_READER_CODE = (Path(__file__).resolve().parent / "ansible_inventory.py", Path(__file__).resolve())


def cache_dir() -> Path:
    return user_cache.folder("inventories")


def _entry(source: Path) -> Path:
    return cache_dir() / (hashlib.sha256(str(source).encode()).hexdigest()[:32] + ".json")


def ansible_release() -> Path | None:
    """The installed Ansible's ``release.py`` (its version), found without importing Ansible."""
    spec = importlib.util.find_spec("ansible")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "release.py"


def inventory_files(source: Path) -> list[tuple[Path, bool]] | None:
    """Each file Ansible may read for ``source``, and whether it is one of the inventory's own files
    (not group_vars/host_vars); None if there are too many."""
    directory = source if source.is_dir() else source.parent
    roots = [source] if source.is_dir() else [source, directory / "group_vars", directory / "host_vars"]
    found: list[tuple[Path, bool]] = []
    seen: set[str] = set()
    for root in roots:
        if root.is_file():
            found.append((root, True))
            continue
        for folder, dirs, names in os.walk(root, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a link back up the tree
                dirs[:] = []
                continue
            seen.add(real)
            dirs.sort()
            relative = Path(folder).relative_to(directory).parts
            own = not relative or relative[0] not in ("group_vars", "host_vars")
            found += [(Path(folder) / name, own) for name in sorted(names)]
            if len(found) > MAX_FILES:
                return None
    return found


def key(source: Path) -> str | None:
    """The cache key of ``source``; None if it must be read by Ansible each time."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    if any(os.environ.get(name) for name in ("ANSIBLE_VARS_ENABLED", "ANSIBLE_VARS_PLUGINS")):
        return None
    files = inventory_files(source)
    if files is None:
        return None
    digest = hashlib.sha256(f"{FORMAT}\0{source}\0".encode())
    total = 0
    for path, own in files:
        try:
            data = path.read_bytes()
            executable = os.access(path, os.X_OK)
        except OSError:
            return None
        total += len(data)
        if total > MAX_BYTES or VAULT_HEADER in data or b"!vault" in data:
            return None
        if own and (executable or _PLUGIN.search(data)):
            return None
        digest.update(f"{path}\0{executable}\0{len(data)}\0".encode() + data)
    try:
        config = ANSIBLE_CONFIG.read_bytes()
    except OSError:
        config = b""
    if b"vars_plugins" in config:
        return None
    digest.update(config)
    for name, value in sorted(os.environ.items()):
        if name.startswith("ANSIBLE_"):
            digest.update(f"\0{name}={value}".encode())
    release = ansible_release()
    if release is None:
        return None
    for code in (release, *_READER_CODE):
        try:
            digest.update(f"\0{code}\0".encode() + code.read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def load(source: Path, cache_key: str) -> InventoryData | None:
    """What the cache holds for ``source`` under ``cache_key``, if anything."""
    try:
        entry = json.loads(_entry(source).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != cache_key:
        return None
    try:
        data = entry["data"]
        return InventoryData(groups=data["groups"], hosts=data["hosts"], settings=data["settings"])
    except (KeyError, TypeError):
        return None


def store(source: Path, cache_key: str, data: InventoryData) -> None:
    """Keep ``data`` unless it held vaulted data or does not survive JSON unchanged; best effort."""
    if data.vaulted:
        return
    body: dict[str, Any] = {"groups": data.groups, "hosts": data.hosts, "settings": data.settings}
    try:
        text = json.dumps({"key": cache_key, "data": body})
        if json.loads(text)["data"] != body:  # dates, sets, keys that are not strings
            return
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = _entry(source)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except (OSError, TypeError, ValueError):
        return
