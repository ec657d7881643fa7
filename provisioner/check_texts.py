"""The trial checks' names and details, in English and Indonesian, keyed by stable ids.

The Indonesian documents are the ones signed and filed: every word a check says in them comes
from this catalogue. A check is known by its id (``dns.a``), which never changes; its name and
detail are phrases with named fields filled by the probe (``{server}``, ``{ip}``). A field's value
is either plain data (an address, a path: the same in both languages) or a ``Said`` of its own
(``missing`` / ``tidak ada``). Only what a server itself said (an error message, configtest's
output) is passed through untranslated, as data.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from provisioner.bilingual import LANGS, Said, Value, in_lang, join

__all__ = ["CHECKS", "DETAILS", "LANGS", "WORDS", "Phrase", "Said", "detail", "join", "name", "recognize", "word"]


@dataclass(frozen=True)
class Phrase:
    """A text with named fields, in both languages. Every field is given (the English text's are
    required); the Indonesian text may use them in another order, or one more the caller gives."""

    en: str
    id: str

    def fields(self, lang: str = "en") -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.en if lang == "en" else self.id) if name}

    def __call__(self, **values: Value) -> Said:
        missing = self.fields() - set(values)
        if missing:
            raise KeyError(f"phrase {self.en!r} needs {', '.join(sorted(missing))}")
        return Said(*(template.format(**{k: in_lang(v, lang) for k, v in values.items()})
                      for lang, template in (("en", self.en), ("id", self.id))))


# The checks, by id: what each checks, as its name.
CHECKS: Mapping[str, Phrase] = {
    "dns.in_step": Phrase("dns zones on {secondary} in step with {primary}",
                          "zona DNS di {secondary} selaras dengan {primary}"),
    "dns.a": Phrase("dns A on {server}", "rekaman DNS A di {server}"),
    "dns.ptr": Phrase("dns PTR on {server}", "rekaman DNS PTR di {server}"),
    "http.redirect": Phrase("http redirects to https", "http dialihkan ke https"),
    "tls.names": Phrase("tls certificate names the site", "sertifikat TLS memuat nama situs"),
    "tls.chain": Phrase("tls certificate chains to the CA's root", "rantai sertifikat TLS sampai ke akar CA"),
    "tls.expiry": Phrase("tls certificate not expired", "sertifikat TLS belum kedaluwarsa"),
    "http.answers": Phrase("{scheme} answers on {ip}", "{scheme} menjawab di {ip}"),
    "http.case_trial": Phrase("trial[{index}] GET {path}", "uji coba kasus no. {number}: GET {path}"),
    "host.address": Phrase("public address bound", "alamat IP publik terpasang"),
    "apache.configtest": Phrase("apache configtest passes", "configtest Apache berhasil"),
    "apache.running": Phrase("apache is running", "Apache berjalan"),
    "vhost.enabled": Phrase("virtual host enabled", "virtual host aktif"),
    "vhost.as_applied": Phrase("virtual host as applied", "virtual host sesuai yang diterapkan"),
    "app.user": Phrase("application user exists", "pengguna sistem aplikasi ada"),
    "app.docroot": Phrase("document root owned by the application", "root dokumen milik pengguna aplikasi"),
    "release.docroot": Phrase("document root is the case's folder of the release",
                              "root dokumen adalah folder rilis yang ditetapkan kasus"),
    "release.code_read_only": Phrase("code read-only to the application",
                                     "kode hanya dapat dibaca oleh aplikasi"),
    "release.writable": Phrase("writable folders writable by the application",
                               "folder yang boleh ditulis dapat ditulis oleh aplikasi"),
    "php.pool": Phrase("php-fpm pool configured, root-only", "pool php-fpm terpasang, hanya dapat dibaca root"),
    "php.workers": Phrase("php-fpm runs as the application user", "php-fpm berjalan sebagai pengguna aplikasi"),
    "php.extensions": Phrase("php extensions loaded", "ekstensi PHP termuat"),
    "db.settings": Phrase("database settings file readable by the application only",
                          "berkas pengaturan basis data hanya dapat dibaca aplikasi"),
    "db.login": Phrase("database user logs in with the application's settings",
                       "pengguna basis data dapat masuk dengan pengaturan aplikasi"),
    "db.isolated": Phrase("database user cannot reach other databases",
                          "pengguna basis data tidak dapat menjangkau basis data lain"),
    "cron.installed": Phrase("cron lines installed", "baris cron terpasang"),
    "logrotate.installed": Phrase("log rotation installed", "rotasi log terpasang"),
    "case.installed": Phrase("case is installed", "kasus terpasang"),
}

# What a check found, by id: its detail.
DETAILS: Mapping[str, Phrase] = {
    "error": Phrase("{kind}: {message}", "kesalahan {kind}: {message}"),
    "server_said": Phrase("{text}", "{text}"),
    "dns.serials": Phrase("SOA serials {serials}", "serial SOA {serials}"),
    "dns.late": Phrase("after {seconds} s: {behind}", "setelah {seconds} detik: {behind}"),
    "dns.behind": Phrase("{zone} {have} (primary {want})", "{zone} {have} (primer {want})"),
    "dns.answer": Phrase("{name} {type} -> {answers} (want {want})", "{name} {type} → {answers} (seharusnya {want})"),
    "http.redirect": Phrase("http://{ip}/ Host {fqdn} -> {status} {location} (want 301 {want})",
                            "http://{ip}/ Host {fqdn} → {status} {location} (seharusnya 301 {want})"),
    "tls.names": Phrase("certificate names: {names}", "nama di sertifikat: {names}"),
    "tls.chain": Phrase("issued by {issuer}, trusted for {fqdn}", "diterbitkan oleh {issuer}, dipercaya untuk {fqdn}"),
    "tls.untrusted": Phrase("not trusted for {fqdn}: {reason}", "tidak dipercaya untuk {fqdn}: {reason}"),
    "tls.expires": Phrase("expires {date}, in {days} days", "berlaku sampai {date}, {days} hari lagi"),
    "tls.expires_soon": Phrase("expires {date}, in {days} days: under {limit} days, renew it",
                               "berakhir {date}, {days} hari lagi: kurang dari {limit} hari, perbarui"),
    "tls.expired": Phrase("expired {date}", "kedaluwarsa sejak {date}"),
    "tls.no_certificate": Phrase("no certificate presented", "tidak ada sertifikat yang ditunjukkan"),
    "http.status": Phrase("{url} Host {fqdn} -> {status}", "{url} Host {fqdn} → {status}"),
    "http.trial": Phrase("GET {path} -> {status}", "GET {path} → {status}"),
    "http.trial_problems": Phrase("GET {path} -> {status}: {problems}", "GET {path} → {status}: {problems}"),
    "http.wrong_status": Phrase("status {status}, want {want}", "status {status}, seharusnya {want}"),
    "http.body_lacks": Phrase("body lacks {text}", "isi halaman tidak memuat {text}"),
    # Only the case's own address and user are named: a record of one case lists no other case's, and
    # it does not change (nor is rendered again) whenever another case comes or goes.
    "host.carries": Phrase("{interface} carries {address}", "{interface} memuat {address}"),
    "host.lacks": Phrase("{interface} does not carry {address}", "{interface} tidak memuat {address}"),
    "apache.processes": Phrase("{count} apache2 processes", "{count} proses apache2"),
    "vhost.link": Phrase("{link} -> {file}", "{link} → {file}"),
    "vhost.link_problem": Phrase("{link} -> {file} missing, not enabled or not on the address",
                                 "{link} → {file} tidak ada, tidak aktif, atau tidak pada alamatnya"),
    "vhost.as_applied": Phrase("as applied", "sesuai yang diterapkan"),
    "vhost.differs": Phrase("{file} differs from what apply wrote (edited by hand?)",
                            "{file} berbeda dari yang ditulis apply (diubah manual?)"),
    "app.user": Phrase("user {user}: shell {shell}", "pengguna {user}: shell {shell}"),
    "app.user_missing": Phrase("user {user}: missing", "pengguna {user}: tidak ada"),
    "file.owner_mode": Phrase("{path} owner {owner} mode {mode}", "{path} pemilik {owner} mode {mode}"),
    "release.docroot": Phrase("{docroot}: the release's {folder}", "{docroot}: folder {folder} dari rilis"),
    "release.docroot_top": Phrase("{docroot}: the release's top folder", "{docroot}: folder teratas rilis"),
    "release.docroot_missing": Phrase("{docroot} is missing from the release", "{docroot} tidak ada di rilis"),
    "release.docroot_not_served": Phrase("{file} does not serve {docroot}", "{file} tidak menyajikan {docroot}"),
    "release.permissions_failed": Phrase("reading permissions as {user} failed (rc {rc}): {error}",
                                         "membaca izin sebagai {user} gagal (kode keluar {rc}): {error}"),
    "release.code_writable": Phrase("{user} can write {path}", "{user} dapat mengubah {path}"),
    "release.code_read_only": Phrase("{user} can write nothing of {top} but its writable folders",
                                     "{user} tidak dapat mengubah apa pun di {top} selain folder yang boleh "
                                     "ditulisnya"),
    "release.cannot_write": Phrase("{user} cannot write: {folders}", "{user} tidak dapat menulis: {folders}"),
    "release.writes": Phrase("{user} writes: {folders}", "{user} dapat menulis: {folders}"),
    "php.pool": Phrase("{pool} mode {mode}, socket {socket}", "{pool} mode {mode}, soket {socket}"),
    "php.workers": Phrase("a php-fpm worker runs as {user}", "proses php-fpm berjalan sebagai {user}"),
    "php.no_workers": Phrase("no php-fpm worker runs as {user}",
                             "tidak ada proses php-fpm yang berjalan sebagai {user}"),
    "php.extensions_loaded": Phrase("loaded: {extensions}", "termuat: {extensions}"),
    "php.extensions_missing": Phrase("missing: {extensions}", "tidak termuat: {extensions}"),
    "php.modules_failed": Phrase("{command}: rc {rc}: {error}", "{command}: kode keluar {rc}: {error}"),
    "db.login_ok": Phrase("{user}@{address}/{database}: login ok", "{user}@{address}/{database}: berhasil masuk"),
    "db.login_failed": Phrase("{user}@{address}/{database}: {error}", "{user}@{address}/{database}: {error}"),
    "db.refused": Phrase("database {target}: refused", "basis data {target}: ditolak"),
    "db.reachable": Phrase("database {target}: reachable, must not be",
                           "basis data {target}: dapat dijangkau, padahal tidak boleh"),
    "cron.file": Phrase("{file} owner {owner} mode {mode}, {count} lines",
                        "{file} pemilik {owner} mode {mode}, {count} baris"),
    "cron.missing": Phrase("{file} missing", "{file} tidak ada"),
    "logrotate.accepted": Phrase("{file} owner {owner} mode {mode}, accepted by logrotate -d",
                                 "{file} pemilik {owner} mode {mode}, diterima logrotate -d"),
    "logrotate.refused": Phrase("logrotate -d {file}: rc {rc}: {error}",
                                "logrotate -d {file}: kode keluar {rc}: {error}"),
    "logrotate.missing": Phrase("{file} missing", "{file} tidak ada"),
    "case.no_record": Phrase("no record of case {case} on the web hosts ({hosts})",
                             "tidak ada catatan kasus {case} di server web ({hosts})"),
}

# Words that fill a detail's fields.
WORDS: Mapping[str, Said] = {
    "none": Said("none", "tidak ada"),
    "nothing": Said("nothing", "tidak ada"),
    "missing": Said("missing", "tidak ada"),
    "present": Said("present", "ada"),
    "failed": Said("failed", "gagal"),
}


def name(check_id: str, **values: Value) -> Said:
    return CHECKS[check_id](**values)


def detail(detail_id: str, **values: Value) -> Said:
    return DETAILS[detail_id](**values)


def word(key: str) -> Said:
    return WORDS[key]


# --- records written before checks spoke both languages ------------------------------------------

_FIELD = re.compile(r"\{([a-z_]+)\}")
_FREE = ("error", "server_said")  # match any text: never taken as a recognized detail


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = _FIELD.split(template)  # literal, field, literal, field, ...
    return re.compile("".join(f"(?P<{part}>.+?)" if index % 2 else re.escape(part)
                              for index, part in enumerate(parts)))


_NESTED = {"problems": "; ", "behind": ", "}  # fields that hold details of their own, joined
_PROSE = {"message", "error", "text", "location", *_NESTED}  # fields whose values may hold ": "
_EXCEPTION = re.compile(r"([A-Z][A-Za-z]*(?:Error|Exception|Timeout|Refused)[A-Za-z]*): (.*)")


def _values(match: re.Match[str]) -> dict[str, Value]:
    words = {said.en: said for said in WORDS.values()}
    values: dict[str, Value] = {}
    for key, value in match.groupdict().items():
        if key in _NESTED:
            parts = [_match(DETAILS, part, skip=_FREE) for part in value.split(_NESTED[key])]
            values[key] = (join([part[1] for part in parts if part], _NESTED[key]) if all(parts) else value)
        else:
            values[key] = words.get(value, value)
    if str(values.get("index", "")).isdigit():
        values["number"] = int(str(values["index"])) + 1
    return values


def _match(phrases: Mapping[str, Phrase], text: str, skip: tuple[str, ...] = ()) -> tuple[str, Said] | None:
    """The phrase that says ``text`` in English with the most words of its own, and ``text`` said by it."""
    found = [(len(_FIELD.sub("", phrase.en)), key, match) for key, phrase in phrases.items()
             if key not in skip and (match := _pattern(phrase.en).fullmatch(text))
             and not any(": " in value for field, value in match.groupdict().items() if field not in _PROSE)]
    for _, key, match in sorted(found, key=lambda item: item[0], reverse=True):
        try:
            return key, phrases[key](**_values(match))
        except KeyError:  # the Indonesian needs a field the English does not carry (a number)
            continue
    return None


# Details the trial no longer says but old English-only records hold, recognized so that they
# still render in Indonesian.
_EARLIER_DETAILS: Mapping[str, Phrase] = {
    "php.workers_listed": Phrase("php-fpm workers run as: {users}", "proses php-fpm berjalan sebagai: {users}"),
}


@functools.lru_cache(maxsize=4096)
def recognize(name: str, detail: str) -> tuple[str | None, Said, Said]:
    """A check recorded in English only (before ids and texts): its id and both languages, as far
    as the catalogue's phrases recognize its name and detail; what they do not is kept as it is."""
    title = _match(CHECKS, name)
    found = _match(DETAILS, detail, skip=_FREE) or _match(_EARLIER_DETAILS, detail)
    failed = _EXCEPTION.fullmatch(detail)
    if found is None and failed:
        found = ("error", DETAILS["error"](kind=failed.group(1), message=failed.group(2)))
    return (title[0] if title else None, title[1] if title else Said.data(name),
            found[1] if found else Said.data(detail))
