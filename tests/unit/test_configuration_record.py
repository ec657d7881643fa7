"""What the configuration record (Data Konfigurasi Aplikasi) says of issue 14's additions: the
site's log rotation, and the issuer and expiry of the certificate the trial read."""

from __future__ import annotations

import pytest

from provisioner import dates, records, site
from provisioner.case import load_case
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY
from tests.unit.test_vendor_apps import _document

INV = load_inventory(LOCAL_INVENTORY)
APPLIED = "2026-11-29T10:00:00+08:00"
CERTIFICATE = {"issuer": "CN=simpeg.tarakankota.go.id", "expires": "2029-03-02T10:00:00+00:00"}


def _site(example: str) -> site.Site:
    return site.build(load_case(next(EXAMPLES.glob(f"*{example}*.yml"))), site.Placement("198.19.0.30", "localhost",
                                                                                         "localhost"),
                      INV, password_file=None)


@pytest.mark.parametrize(("lang", "row"), [
    ("id", "| Rotasi log | /etc/logrotate.d/provisioner-ppid: log di /srv/www/ppid.tarakankota.go.id/logs harian, "
           "disimpan 14 kali, dikompresi; Apache membuka ulang log setelahnya |"),
    ("en", "| Log rotation | /etc/logrotate.d/provisioner-ppid: the logs in /srv/www/ppid.tarakankota.go.id/logs "
           "daily, 14 kept, compressed; Apache reopens its logs afterwards |")])
def test_the_configuration_names_the_log_rotation(lang: str, row: str) -> None:
    built = _site("ppid")
    config = records.configuration(built, INV, {}, APPLIED)
    assert config["web"]["log_rotation"] == {"file": "/etc/logrotate.d/provisioner-ppid", "schedule": "daily",
                                             "kept": 14, "compressed": True}
    assert row in _document("konfigurasi", lang, config, built.case)


@pytest.mark.parametrize(("lang", "said"), [("id", "; penerbit CN=simpeg.tarakankota.go.id, berlaku sampai "),
                                            ("en", "; issuer CN=simpeg.tarakankota.go.id, valid until ")])
def test_the_configuration_names_the_certificate_s_issuer_and_expiry(lang: str, said: str) -> None:
    built = _site("simpeg")
    config = records.configuration(built, INV, {}, APPLIED, CERTIFICATE)
    assert config["tls"]["issuer"] == CERTIFICATE["issuer"] and config["tls"]["expires"] == CERTIFICATE["expires"]
    text = _document("konfigurasi", lang, config, built.case)
    assert said + dates.datetime_text(CERTIFICATE["expires"], lang) + " |" in text


def test_without_a_certificate_read_the_record_says_none() -> None:
    config = records.configuration(_site("simpeg"), INV, {}, APPLIED)
    assert "issuer" not in config["tls"] and "expires" not in config["tls"]
