"""The data of the records the SOP asks for, one folder per case under ``records/``.

``records/`` is meant to be kept in git by the division: nothing written here holds a secret.
The documents for people are rendered from this data by provisioner/documents.py.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from provisioner import backups, yamlfile
from provisioner.bilingual import Said
from provisioner.checksums import sha256_of
from provisioner.inventory import Inventory
from provisioner.site import Site
from provisioner.trial import Check

WITA = dt.timezone(dt.timedelta(hours=8), "WITA")


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write through a temporary file and a rename: a reader never sees half a record."""
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    return path


# How each site's logs are rotated (the apache_vhost role's logrotate.j2), for the records.
LOG_ROTATION = {"schedule": "daily", "kept": 14, "compressed": True}


def now() -> dt.datetime:
    """Times in records are in Kota Tarakan's offset, WITA (UTC+8)."""
    return dt.datetime.now(WITA).replace(microsecond=0)


def configuration(site: Site, inventory: Inventory, versions: dict[str, str], applied_at: str,
                  certificate: dict[str, str] | None = None) -> dict[str, Any]:
    """Data Konfigurasi Aplikasi: what is needed to rebuild the installation, and no secret.
    ``certificate``: the issuer and expiry of the certificate the trial read (trial.certificate_of)."""
    case, v = site.case, site.vars
    data: dict[str, Any] = {
        "case": case.id,
        "fqdn": site.fqdn,
        "public_ip": site.ip,
        "shared_address": site.vars.shared,
        "inventory": inventory.name,
        "applied_at": applied_at,
        "application": {
            "name": case.app_name, "title": case.app_title, "category": case.category,
            "source": case.source_kind, "vendor": case.vendor, "runtime": case.runtime,
            "upstream": case.upstream,
            "release": ({"file": case.release.name, "sha256": sha256_of(case.release)} if case.release else None),
            # What the application needs beside its code (issue 13); env by name only.
            "php_extensions": list(case.php.extensions), "php_settings": dict(case.php.settings),
            "env": [name for name, _ in case.env], "commands": list(case.commands),
        },
        "hosts": {
            "web": v.web_host,
            "database": v.db.host if v.db else None,
            "dns_primary": inventory.dns_primary.name,
            "dns_secondary": [h.name for h in inventory.group("dns_secondary")],
        },
        "web": {
            "system_user": v.user, "root": v.root, "document_root": v.docroot, "logs": v.logdir,
            "vhost": v.vhost_file, "php_fpm_pool": v.pool_file or None,
            "php_fpm_socket": v.pool_socket or None, "settings_file": v.env_file or None,
            "writable": [f"{v.application.shared_dir}/{folder}" for folder in v.application.writable],
            "cron_file": v.application.cron_file if v.application.cron else None,
            # As playbooks/roles/apache_vhost/templates/logrotate.j2 writes it (a test keeps them equal).
            "log_rotation": {"file": v.logrotate_file, **LOG_ROTATION},
        },
        "tls": {"mode": case.tls, "certificate": v.tls_cert or None, "key": v.tls_key or None,
                **({"issuer": certificate["issuer"], "expires": certificate["expires"]} if certificate else {})},
        "dns": {"zone": case.zone, "a": f"{site.fqdn}. A {site.ip}",
                "ptr": None if v.shared else f"{v.ptr_name} PTR {site.fqdn}.", "reverse_zone": v.reverse_zone},
        "database": None,
        # Where `provisioner backup` keeps this case's backups, and when the division runs it.
        "backup": {"location": f"{backups.root(inventory) / case.id}/",
                   "schedule": str(inventory.settings.get("provisioner_backup_schedule") or "") or None,
                   "kept": int(inventory.settings.get("provisioner_backup_keep", backups.DEFAULT_KEEP))},
        "software": versions,
    }
    if v.db is not None:
        db = v.db
        data["database"] = {
            "engine": db.engine, "name": db.name, "user": db.user, "host": db.host,
            "address": db.address, "port": db.port, "allowed_from": db.client_address,
            "password": "generated; kept owner-only on the controller, never in records",
        }
    return data


def _case_copy(site: Site) -> str:
    """The case as applied, its file paths made absolute so the copy loads from the records."""
    assert site.case.source is not None
    data = yamlfile.load(site.case.source.read_text(encoding="utf-8"))
    absolute = {("application", "release"): site.case.release, ("hosting", "tls_cert"): site.case.tls_cert,
                ("hosting", "tls_key"): site.case.tls_key}
    for (section, key), path in absolute.items():
        if path is not None:
            data[section][key] = str(path)
    return (f"# Case {site.id} as applied, copied from {site.case.source}; file paths made absolute.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


APPLIED_DIR = "riwayat-kasus"
APPLIED_KEPT = 10


def _same_case(one: str, other: str) -> bool:
    """Two copies of a case file say the same (their comment headers aside)."""
    return bool(yamlfile.load(one) == yamlfile.load(other))


TRIAL_REPORT = "uji-coba.json"
TRIAL_HISTORY = "uji-coba-riwayat.jsonl"


def _trial_payload(site: Site, inventory: Inventory, checks: list[Check], tested_at: str) -> dict[str, Any]:
    return {"case": site.id, "fqdn": site.fqdn, "public_ip": site.ip, "inventory": inventory.name,
            "tested_at": tested_at, "passed": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}


def newly_failed(previous: dict[str, Any] | None, passed: bool) -> bool:
    """Whether a trial that did not pass is a new failure, worth an incident record: the case's
    previous trial (``Records.last_trial``, read before this one is recorded) passed, or there
    is none. A case failing again is the same incident."""
    return not passed and (previous is None or bool(previous.get("passed")))


def append_line(path: Path, line: str) -> Path:
    """Append ``line`` to ``path`` in one ``write`` on an O_APPEND descriptor, under a lock: lines
    of writers at the same time do not mix, and a line is whole or (after a crash) torn at the
    end, where ``last_json_line`` passes over it."""
    data = line.rstrip("\n").encode("utf-8") + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # the last writer died mid-line: start a line of our own
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def last_json_line(path: Path, block: int = 8192) -> dict[str, Any] | None:
    """The last line of a JSON-lines file that is a whole JSON object, read from the end: the
    file grows by a line per trial and is never read whole."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        position = handle.seek(0, os.SEEK_END)
        head = b""  # the start of a line whose beginning is not read yet
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + head).split(b"\n")
            head = lines.pop(0) if position > 0 else b""
            for raw in reversed(lines):
                try:
                    found = json.loads(raw) if raw.strip() else None
                except ValueError:
                    continue  # a line torn by a crash
                if isinstance(found, dict):
                    return found
            block *= 2
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _when(value: Any) -> dt.datetime:
    """A record's time; an unreadable one sorts first."""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=WITA)


INCIDENT_TEXT = {
    "preflight": ("Tidak ada perubahan: sebuah server tidak dapat dibaca sebelum instalasi dimulai.",
                  "Nothing changed: a server could not be read before the installation started."),
    "provisioning": ("Aplikasi belum dapat diakses; perubahan yang dibuat proses ini dibatalkan.",
                     "The application is not available; what this run changed was undone."),
    "trial": ("Aplikasi terpasang tetapi gagal uji coba; perubahan yang dibuat proses ini dibatalkan.",
              "The application was installed but failed its trial; what this run changed was undone."),
    "verify": ("Aplikasi berjalan tetapi sebagian pemeriksaan gagal (penyimpangan dari konfigurasi).",
               "The application runs but some checks failed (drift from its configuration)."),
    "stopped": ("Proses dihentikan (sinyal) sebelum selesai; perubahan yang dibuat proses ini dibatalkan.",
                "The run was stopped by a signal before it finished; what it changed was undone."),
    "renewal": ("Sertifikat belum dapat diperbarui; sertifikat lama tetap dipakai sampai masa berlakunya habis.",
                "The certificate could not be renewed; the old one stays in use until it expires."),
    "restore": ("Pemulihan dari cadangan belum selesai; data aplikasi mungkin sebagian dari cadangan, sebagian dari "
                "sebelumnya: jalankan pemulihan lagi.",
                "The restore from the backup did not finish; the application's data may be partly the backup's, "
                "partly as before: run the restore again."),
    "removal": ("Penghapusan belum selesai; sebagian komponen mungkin masih ada.",
                "The removal did not finish; some parts may remain."),
    "unexpected": ("Proses gagal karena kesalahan tak terduga pada provisioner; perubahan yang dibuat proses ini "
                   "dibatalkan.",
                   "The run failed on an unexpected error in provisioner; what this run changed was undone."),
    # A failed change to a case that was live before the run (whatever the stage).
    "restored": ("Perubahan pada aplikasi yang sudah berjalan gagal; aplikasi dikembalikan seperti sebelum "
                 "proses ini dan diuji coba ulang (lihat di bawah).",
                 "The change to the live application failed; it was put back as it was before this run "
                 "and trialled again (see below)."),
    "not_restored": ("Perubahan pada aplikasi yang sudah berjalan gagal dan aplikasi TIDAK dapat dikembalikan "
                     "seperti sebelumnya; periksa secara manual.",
                     "The change to the live application failed and it could NOT be put back as it was; "
                     "check it by hand."),
}
# The impact when the stage's own text says that changes were undone, but the run had made none to
# undo (it failed before creating anything, or nothing of the case was new).
NOTHING_UNDONE = {
    "provisioning": ("Aplikasi belum dapat diakses; proses ini belum membuat perubahan, jadi tidak ada yang "
                     "dibatalkan.",
                     "The application is not available; this run had changed nothing, so nothing was undone."),
    "trial": ("Aplikasi gagal uji coba; proses ini tidak membuat perubahan baru, jadi tidak ada yang dibatalkan.",
              "The application failed its trial; this run made no new change, so nothing was undone."),
    "stopped": ("Proses dihentikan (sinyal) sebelum selesai; belum ada perubahan, jadi tidak ada yang dibatalkan.",
                "The run was stopped by a signal before it finished; it had changed nothing, so nothing was undone."),
    "unexpected": ("Proses gagal karena kesalahan tak terduga pada provisioner; belum ada perubahan, jadi tidak ada "
                   "yang dibatalkan.",
                   "The run failed on an unexpected error in provisioner; it had changed nothing, so nothing was "
                   "undone."),
}
FOLLOW_UP = ("Perbaiki penyebab di atas, lalu jalankan perintah yang sama lagi; proses ulang aman dijalankan.",
             "Fix the cause above, then run the same command again; running it again is safe.")


class Records:
    """The data of each case's records; the documents are rendered from these (documents.py)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def case_dir(self, case_id: str) -> Path:
        path = self.root / case_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_case(self, site: Site) -> Path | None:
        """The case file as applied, so documents and ``verify --all`` can load it from the records."""
        target = self.case_dir(site.id) / "case.yml"
        if site.case.source is None or site.case.source.resolve() == target.resolve():
            return None
        return write_atomic(target, _case_copy(site))

    def case_copy(self, case_id: str) -> str | None:
        """The text of the case file as last applied (``case.yml``), None if the records have none."""
        path = self.root / case_id / "case.yml"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def put_back_case(self, case_id: str, text: str) -> Path:
        """``case.yml`` as it was before a run whose change to an installed case was undone."""
        return write_atomic(self.case_dir(case_id) / "case.yml", text)

    def remember_applied(self, case_id: str) -> Path | None:
        """Keep the case as just applied in its history (``riwayat-kasus/``), for ``rollback``;
        nothing when it is the same as the last one kept. The last APPLIED_KEPT are kept."""
        text = self.case_copy(case_id)
        if text is None:
            return None
        history = self.applied_history(case_id)
        if history and _same_case(history[-1].read_text(encoding="utf-8"), text):
            return None
        folder = self.case_dir(case_id) / APPLIED_DIR
        folder.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = write_atomic(folder / f"{stamp}.yml", text)
        for old in self.applied_history(case_id)[:-APPLIED_KEPT]:
            old.unlink()
        return path

    def applied_history(self, case_id: str) -> list[Path]:
        """The case files applied, oldest first."""
        return sorted((self.root / case_id / APPLIED_DIR).glob("*.yml"))

    def previous_applied(self, case_id: str) -> Path | None:
        """The latest applied case file that differs from the one applied now (``rollback``)."""
        now = self.case_copy(case_id)
        for path in reversed(self.applied_history(case_id)):
            if now is None or not _same_case(path.read_text(encoding="utf-8"), now):
                return path
        return None

    def write_configuration(self, site: Site, inventory: Inventory, versions: dict[str, str],
                            applied_at: str, first: bool = True,
                            certificate: dict[str, str] | None = None) -> list[Path]:
        """``applied_at`` is when the case was installed: a re-apply (``first`` false) keeps it."""
        path = self.case_dir(site.id) / "konfigurasi.yml"
        if not first and path.exists():
            applied_at = str((yamlfile.load(path.read_text()) or {}).get("applied_at") or applied_at)
        data = configuration(site, inventory, versions, applied_at, certificate)
        return [write_atomic(path,
                            "# Data Konfigurasi Aplikasi (written by provisioner; no secrets)\n"
                            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))]

    def write_trial(self, site: Site, inventory: Inventory, checks: list[Check], tested_at: str) -> list[Path]:
        """The installation's trial report (``uji-coba.json``), written by apply; verify keeps it."""
        payload = _trial_payload(site, inventory, checks, tested_at)
        return [write_atomic(self.case_dir(site.id) / TRIAL_REPORT,
                            json.dumps(payload, indent=2, ensure_ascii=False) + "\n")]

    def write_trial_history(self, site: Site, inventory: Inventory, checks: list[Check], command: str,
                            tested_at: str) -> Path:
        """One line per trial (``uji-coba-riwayat.jsonl``): the same data as the trial report, and
        the command that ran it. Appended, never rewritten: a fleet verified every hour writes a
        line per case, not a file and its documents."""
        payload = {**_trial_payload(site, inventory, checks, tested_at), "command": command}
        return append_line(self.case_dir(site.id) / TRIAL_HISTORY,
                           json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    def last_trial(self, case_id: str) -> dict[str, Any] | None:
        """The case's latest trial: the last line of its history or its trial report, whichever was
        tested later (an apply after a failing verify writes the report, not the history)."""
        folder = self.root / case_id
        found = [t for t in (last_json_line(folder / TRIAL_HISTORY), _read_json(folder / TRIAL_REPORT))
                 if t is not None]
        return max(found, key=lambda t: _when(t.get("tested_at")), default=None)

    def write_incident(self, case_id: str, fqdn: str, command: str, stage: str,
                       failures: Iterable[str | Said], undone: Iterable[str | Said],
                       impact_of: str | None = None) -> Path:
        """One incident as data (``insiden/<time>.yml``); the running log is rendered from all of them.
        The impact said is the stage's, or ``impact_of``'s (a key of INCIDENT_TEXT) when given; a
        stage that would say its changes were undone says so only when something was.
        ``failures`` and ``undone`` are kept in English (``failures``, ``undone``) and Indonesian
        (``failures_id``, ``undone_id``); a plain string is the same in both (a server's words)."""
        when = now()
        folder = self.case_dir(case_id) / "insiden"
        folder.mkdir(exist_ok=True)
        failed = [f if isinstance(f, Said) else Said.data(f) for f in failures]
        was_undone = [u if isinstance(u, Said) else Said.data(u) for u in undone]
        key = impact_of or stage
        impact = INCIDENT_TEXT.get(key, INCIDENT_TEXT["provisioning"])
        if not was_undone and impact_of is None:
            impact = NOTHING_UNDONE.get(stage, impact)
        data = {"case": case_id, "fqdn": fqdn, "when": when.isoformat(), "command": command, "stage": stage,
                "failures": [f.en for f in failed], "undone": [u.en for u in was_undone],
                "failures_id": [f.id for f in failed], "undone_id": [u.id for u in was_undone],
                "impact_id": impact[0], "impact_en": impact[1],
                "follow_up_id": FOLLOW_UP[0], "follow_up_en": FOLLOW_UP[1]}
        name = when.strftime("%Y%m%dT%H%M%S")
        path = folder / f"{name}.yml"
        counter = 1
        while path.exists():
            counter += 1
            path = folder / f"{name}-{counter}.yml"
        return write_atomic(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
