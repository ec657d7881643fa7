"""Scheduled verify on the embedded lab (issue 14): the metrics file of `verify --all --metrics`
read back by Prometheus's text parser, the certificate's expiry in it and in the records, and
the mail about a case that newly fails (a vhost edited by hand), caught by an SMTP server on
loopback (tests/smtp_sink.py) through an inventory that names it as its relay.

The tests of this module run in order and share the self-signed example (simpeg), installed by
`examples_applied`; the last one heals it. That destroy removes a vhost is checked by
test_end_to_end.py's test_destroy_then_apply_again.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests import smtp_sink
from tests.conftest import EXAMPLES, Cli

pytestmark = pytest.mark.integration

CASE_FILE = EXAMPLES / "2026-020-simpeg-proxy.yml"
CASE_ID, NAME = "2026-020", "simpeg"
FQDN = f"{NAME}.tarakankota.go.id"
VHOST = Path("/etc/apache2/sites-available") / f"{FQDN}.conf"


@pytest.fixture(scope="module")
def sink() -> Iterator[smtp_sink.Sink]:
    with smtp_sink.running() as server:
        yield server


@pytest.fixture(scope="module")
def mailing_inventory(lab: Path, sink: smtp_sink.Sink, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local lab's inventory, naming the sink as its relay (same hosts, state and lock)."""
    folder = tmp_path_factory.mktemp("inventory") / "local"
    shutil.copytree(lab, folder)
    settings = folder / "group_vars" / "all.yml"
    data = yaml.safe_load(settings.read_text())
    data["provisioner_records_dir"] = str((lab / data["provisioner_records_dir"]).resolve())
    data |= {"provisioner_smtp_relay": f"127.0.0.1:{sink.port}",
             "provisioner_alert_mail_to": ["aplikasi@tarakankota.go.id"],
             "provisioner_alert_mail_from": "provisioner@tarakankota.go.id"}
    settings.write_text(yaml.safe_dump(data))
    return folder


@pytest.fixture(scope="module")
def applied(examples_applied: Path) -> Path:
    """The self-signed example's case file, the example installed."""
    return CASE_FILE


def test_verify_all_writes_metrics_prometheus_reads(cli: Cli, lab: Path, applied: Path, tmp_path: Path) -> None:
    target = tmp_path / "provisioner.prom"
    # Every case the lab has installed (other tests' too): the metrics say what --json says.
    result = cli("verify", "--all", "-i", str(lab), "--metrics", str(target))
    assert result.rc in (0, 1), result.out
    assert result.out["metrics"] == str(target)
    families = {f.name: {s.labels["case"]: s.value for s in f.samples}
                for f in text_string_to_metric_families(target.read_text())}
    passed = {case["id"]: all(c["ok"] for c in case["checks"]) for case in result.out["cases"]}
    assert families["provisioner_case_up"] == {case: float(ok) for case, ok in passed.items()}
    assert passed[CASE_ID] and families["provisioner_case_failed_checks"][CASE_ID] == 0.0
    # The self-signed certificate is made for 825 days: no warning, expiry far ahead.
    left = families["provisioner_certificate_expiry_seconds"][CASE_ID]
    assert 800 * 86400 < left <= 825 * 86400
    assert families["provisioner_case_warning_checks"][CASE_ID] == 0.0


def test_the_configuration_record_names_the_certificate_s_expiry(records: Path, applied: Path) -> None:
    tls = yaml.safe_load((records / CASE_ID / "konfigurasi.yml").read_text())["tls"]
    assert tls["issuer"] == f"CN={FQDN}"
    assert dt.datetime.fromisoformat(tls["expires"]) > dt.datetime.now(dt.UTC) + dt.timedelta(days=800)


def test_a_case_that_newly_fails_is_mailed_once(cli: Cli, mailing_inventory: Path, applied: Path,
                                                sink: smtp_sink.Sink) -> None:
    VHOST.write_text(VHOST.read_text() + "# edited by hand\n")
    first = cli("verify", str(applied), "-i", str(mailing_inventory))
    assert first.rc == 1, first.out
    assert "warnings" not in first.out, first.out
    (mail,) = sink.mails
    contact = yaml.safe_load(applied.read_text())["contact"]["email"]
    assert mail.rcpt_tos == ["aplikasi@tarakankota.go.id", contact]
    message = email.message_from_bytes(mail.original_content or b"", policy=email.policy.default)
    assert f"(kasus {CASE_ID})" in message["Subject"]
    assert "virtual host sesuai yang diterapkan" in message.get_body().get_content()  # type: ignore[union-attr]

    again = cli("verify", str(applied), "-i", str(mailing_inventory))
    assert again.rc == 1 and len(sink.mails) == 1  # the same incident: no second mail


def test_apply_heals_the_vhost_edited_by_hand(cli: Cli, lab: Path, applied: Path) -> None:
    healed = cli("apply", str(applied), "-i", str(lab))
    assert healed.rc == 0, healed.out
    assert "# edited by hand" not in VHOST.read_text()
