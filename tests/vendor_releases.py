"""Release archives of real vendor applications, built from Debian's packages (no internet).

The tests of issue 13 install applications as their vendors ship them: WordPress (Debian's
``wordpress`` and its default theme) and MediaWiki (``mediawiki``) made into release archives,
and SILAPOR, a Laravel-style front controller kept in ``examples/releases/src/silapor``.

Debian's packages spread an application over ``/usr/share``, ``/var/lib`` and ``/etc`` with
absolute links; a release is one self-contained folder, so every link is replaced by what it
points at. The packages are read where they are installed, or else unpacked with ``dpkg-deb -x``
into a cache folder from their ``.deb`` (in that folder, in apt's own cache, or fetched with
``apt-get download`` from the machine's Debian mirror): nothing is installed on this machine
(Debian's ``wordpress`` would pull in mod_php and switch Apache's MPM).

``python -m tests.vendor_releases DIR`` (``scripts/vendor-releases``) writes the three archives
into DIR; the vendor examples (``examples/cases/vendor/``) name them in ``examples/releases/``.
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
SILAPOR_SOURCE = ROOT / "examples" / "releases" / "src" / "silapor"
CACHE = Path(os.environ.get("PROVISIONER_DEB_CACHE", "/var/tmp/provisioner-debs"))
WORDPRESS_PACKAGES = ("wordpress", "wordpress-theme-twentytwentythree", "libjs-cropper", "libjs-underscore",
                      "php-getid3", "libjs-scriptaculous", "libjs-prototype")
MEDIAWIKI_PACKAGES = ("mediawiki", "mediawiki-classes")
NAMES = {"wordpress": "wordpress-6.1.tar.gz", "mediawiki": "mediawiki-1.39.tar.gz", "silapor": "silapor-1.0.0.tar.gz"}
MTIME = 1790000000  # fixed, so the same input gives the same archive (and the same release id)
MAX_LINKS = 40
# WordPress and MediaWiki are packed at gzip level 1: they are built for each test session, and
# level 9 (gzip's default, kept for SILAPOR, whose archive is committed) took more than half of
# the 50 s it took to build them, for files a fifth smaller.
FAST = 1
APT_ARCHIVES = Path("/var/cache/apt/archives")


# --- reading Debian's packages -------------------------------------------------------------------

def _installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return out.returncode == 0 and out.stdout.endswith(" installed")


def package_root(packages: tuple[str, ...], cache: Path = CACHE) -> Path:
    """A root holding the packages' files: ``/`` when all are installed, else an unpacked copy."""
    if all(_installed(p) for p in packages):
        return Path("/")
    root = cache / f"root-{packages[0]}"
    stamp = root / ".provisioner-unpacked"
    if stamp.exists() and stamp.read_text() == " ".join(packages):
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    # apt writes as _apt when it can: a folder it may enter, as apt-get download wants.
    os.chmod(cache, 0o755)
    os.chmod(debs, 0o777)
    found = {package: _deb(package, debs) for package in packages}
    missing = [package for package, deb in found.items() if deb is None]
    if missing:  # from the machine's configured Debian mirror, as apt-get install would
        subprocess.run(["apt-get", "download", "-q", *missing], cwd=debs, check=True, capture_output=True)
    root.mkdir(parents=True, exist_ok=True)
    for package in packages:
        deb = found[package] or _deb(package, debs)
        if deb is None:
            raise FileNotFoundError(f"apt-get download left no {package}_*.deb in {debs}")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    stamp.write_text(" ".join(packages))
    return root


def _deb(package: str, debs: Path) -> Path | None:
    """The package's .deb in the cache, or in apt's own (left there by an earlier apt-get install)."""
    for folder in (debs, APT_ARCHIVES):
        found = sorted(folder.glob(f"{package}_*.deb"))
        if found:
            return found[-1]
    return None


def resolve(root: Path, path: PurePosixPath) -> Path | None:
    """``path`` (absolute, as the package sees it) with every link followed inside ``root``, as
    ``realpath`` would in a chroot; None when it leads nowhere."""
    parts = list(path.parts[1:])
    real = PurePosixPath("/")
    hops = 0
    while parts:
        name = parts.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            real = real.parent
            continue
        here = root / str(real / name).lstrip("/")
        if here.is_symlink():
            hops += 1
            if hops > MAX_LINKS:
                return None
            target = PurePosixPath(os.readlink(here))
            if target.is_absolute():
                real = PurePosixPath("/")
            parts = list(target.parts[1:] if target.is_absolute() else target.parts) + parts
            continue
        if not here.exists():
            return None
        real = real / name
    return root / str(real).lstrip("/")


def _entries(root: Path, folder: PurePosixPath, arcname: str, skip: frozenset[str]) -> Iterator[tuple[str, Path]]:
    """(name in the archive, real file or folder) for ``folder`` and everything in it, links
    replaced by what they point at; links that lead nowhere are left out."""
    real = resolve(root, folder)
    if real is None:
        return
    yield arcname, real
    if not real.is_dir():
        return
    for child in sorted(os.listdir(real)):
        name = f"{arcname}/{child}"
        if name in skip:
            continue
        yield from _entries(root, folder / child, name, skip)


# One member of a release: its name, and the real file or folder it copies or the content of a
# new file (neither: a new empty folder).
Entry = tuple[str, Path | None, bytes | None]


def _add(archive: tarfile.TarFile, name: str, path: Path | None, data: bytes | None) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
    if data is None and (path is None or path.is_dir()):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(info)
        return
    mode = 0o644
    if path is not None:
        data = path.read_bytes()
        mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
    info.size, info.mode = len(data or b""), mode
    archive.addfile(info, io.BytesIO(data or b""))


def _write(dest: Path, entries: list[Entry], level: int = 9) -> Path:
    """A gzip'ed tar of ``entries``; a name given twice is written once, the first time."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    with partial.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb",
                                                  mtime=MTIME, compresslevel=level) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as archive:
        seen: set[str] = set()
        for name, path, data in entries:
            if name in seen:
                continue
            seen.add(name)
            _add(archive, name, path, data)
    partial.replace(dest)
    return dest


def _tree(root: Path, folder: str, skip: frozenset[str] = frozenset()) -> list[Entry]:
    return [(name, path, None) for name, path in _entries(root, PurePosixPath(folder), ".", skip)]


def _folder(name: str) -> Entry:
    """An empty folder of the release (one the case makes writable)."""
    return name, None, None


# --- the applications -----------------------------------------------------------------------

WORDPRESS_CONFIG = """<?php
// Written by tests/vendor_releases.py in place of Debian's /etc/wordpress loader: WordPress reads
// the settings the provisioner gives its php-fpm pool (and app.env, for the commands).
define('DB_NAME', getenv('DB_NAME'));
define('DB_USER', getenv('DB_USER'));
define('DB_PASSWORD', getenv('DB_PASSWORD'));
define('DB_HOST', getenv('DB_HOST') . ':' . getenv('DB_PORT'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', rtrim(getenv('WP_HOME'), '/'));
define('WP_SITEURL', rtrim(getenv('WP_HOME'), '/'));
// The code is read-only to the application: no installing or updating from the dashboard.
define('DISALLOW_FILE_MODS', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
{keys}
$table_prefix = 'wp_';
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"""
# As WordPress writes it for pretty permalinks (it cannot write it here: the code is read-only).
WORDPRESS_HTACCESS = """# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
"""
WORDPRESS_KEYS = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT",
                  "LOGGED_IN_SALT", "NONCE_SALT")


def wordpress(dest: Path, cache: Path = CACHE) -> Path:
    """WordPress as Debian ships it (with its default theme), wp-config.php reading the settings
    from the environment, the permalink .htaccess, and an empty wp-content/uploads."""
    root = package_root(WORDPRESS_PACKAGES, cache)
    keys = "\n".join(f"define('{key}', '{secrets.token_hex(32)}');" for key in WORDPRESS_KEYS)
    replaced = frozenset({"./wp-config.php", "./.htaccess", "./wp-content/uploads"})
    entries = _tree(root, "/usr/share/wordpress", skip=replaced)
    entries += [("./wp-config.php", None, WORDPRESS_CONFIG.format(keys=keys).encode()),
                ("./.htaccess", None, WORDPRESS_HTACCESS.encode()), _folder("./wp-content/uploads")]
    return _write(dest, entries, FAST)


# Debian's includes/PlatformSettings.php points the cache and logs at /var/cache/mediawiki and
# /var/log/mediawiki, shared by every wiki of the machine and outside the site: the release's own
# keeps its cache in its writable cache/ and leaves logging to PHP's error log.
MEDIAWIKI_PLATFORM = """<?php
// Written by tests/vendor_releases.py in place of Debian's platform settings.
$wgCacheDirectory = dirname(__DIR__) . '/cache';
"""


def mediawiki(dest: Path, cache: Path = CACHE) -> Path:
    """MediaWiki as Debian ships it, without its link to a LocalSettings.php (the case names the
    file with MW_CONFIG_FILE: the installer writes it into settings/), its cache in the release's
    cache/, and empty images/, settings/ and cache/ folders."""
    root = package_root(MEDIAWIKI_PACKAGES, cache)
    replaced = frozenset({"./LocalSettings.php", "./images", "./config", "./includes/PlatformSettings.php"})
    entries = _tree(root, "/usr/share/mediawiki", skip=replaced)
    entries += [("./includes/PlatformSettings.php", None, MEDIAWIKI_PLATFORM.encode()), _folder("./images"),
                _folder("./settings"), _folder("./cache")]
    return _write(dest, entries, FAST)


def silapor(dest: Path) -> Path:
    """The Laravel-style example, from its sources."""
    return _write(dest, _tree(Path("/"), str(SILAPOR_SOURCE)))


def build(folder: Path, cache: Path = CACHE, missing_only: bool = False) -> dict[str, Path]:
    """Each release in ``folder`` (those not there yet, with ``missing_only``)."""
    makers = {"wordpress": lambda dest: wordpress(dest, cache), "mediawiki": lambda dest: mediawiki(dest, cache),
              "silapor": silapor}
    built = {}
    for name, make in makers.items():
        dest = folder / NAMES[name]
        built[name] = dest if missing_only and dest.is_file() else make(dest)
    return built


if __name__ == "__main__":
    for name, path in build(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "examples" / "releases")).items():
        print(f"{name}: {path}")
