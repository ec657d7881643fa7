"""``verify`` on a schedule: the metrics file (read back with Prometheus's own text parser), the
warning status, and the mail about a newly failing case, caught by a real SMTP server (aiosmtpd)
on loopback. The web host's registry and the trial's checks are given (no lab runs here); the
records, the metrics file and the mail are real."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from provisioner import metrics, trial
from provisioner.check_texts import detail
from provisioner.check_texts import name as check_name
from provisioner.commands import verify
from provisioner.commands.base import Context
from provisioner.report import CaseReport
from provisioner.trial import Check
from tests import smtp_sink
from tests.conftest import EXAMPLES, LOCAL_INVENTORY

STATIC, TLS = "2026-011", "2026-020"  # ppid (no TLS) and simpeg (self-signed)
EXPIRES = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)


def _check(check_id: str, ok: bool, **values: Any) -> Check:
    return Check.of(check_id, check_name(check_id, **values), ok, detail("error", kind="Test", message="x"), 0.01)


def _expiry(days_left: int) -> Check:
    now = EXPIRES - dt.timedelta(days=days_left)
    check = trial.timed("tls.expiry", lambda: trial.certificate_outcome(EXPIRES, now))
    check.measured = {"expires": EXPIRES.timestamp(), "issuer": "CN=simpeg.tarakankota.go.id"}
    return check


class _Installed:
    """The web host's registry: both example cases installed on localhost."""

    def __init__(self, inventory: object) -> None:
        pass

    def registry(self) -> dict[str, object]:
        return {STATIC: {"case": STATIC, "web_host": "localhost", "ip": "198.19.0.11"},
                TLS: {"case": TLS, "web_host": "localhost", "ip": "198.19.0.12",
                      "database": {"engine": "postgresql", "host": "localhost"}}}


@pytest.fixture
def records(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    for case_id, example in ((STATIC, "ppid"), (TLS, "simpeg")):
        (folder / case_id).mkdir(parents=True)
        source = next(EXAMPLES.glob(f"*{example}*.yml"))
        case = yaml.safe_load(source.read_text())
        for key in ("release",):  # as apply records a case: its paths absolute
            if key in case["application"]:
                case["application"][key] = str((source.parent / case["application"][key]).resolve())
        (folder / case_id / "case.yml").write_text(yaml.safe_dump(case))
    return folder


def _trials(static_ok: bool, days_left: int) -> Any:
    def run_trials(sites: list[Any], inventory: object, hosts: object) -> dict[str, list[Check]]:
        assert sorted(s.id for s in sites) == [STATIC, TLS]
        return {STATIC: [_check("apache.running", static_ok), _check("vhost.enabled", True)],
                TLS: [_check("tls.names", True), _expiry(days_left), _check("apache.running", True)]}
    return run_trials


def _verify(monkeypatch: pytest.MonkeyPatch, records: Path, inventory: Path = LOCAL_INVENTORY, *,
            static_ok: bool = True, days_left: int = 60, metrics_file: Path | None = None) -> Any:
    monkeypatch.setattr(verify, "Hosts", _Installed)
    monkeypatch.setattr(trial, "run_trials", _trials(static_ok, days_left))
    monkeypatch.setattr(verify, "render_documents", lambda ctx, items: None)  # PDFs: tested elsewhere
    return verify.run(Context(inventory_path=inventory, records=records), [], all_cases=True,
                      metrics_file=metrics_file)


def _families(path: Path) -> dict[str, dict[tuple[str, str], float]]:
    """Each family's samples by (case, fqdn), as Prometheus's parser reads the file."""
    parsed = text_string_to_metric_families(path.read_text())
    return {family.name: {(s.labels["case"], s.labels["fqdn"]): s.value for s in family.samples}
            for family in parsed}


# --- metrics ---------------------------------------------------------------------------------

def test_the_metrics_file_is_read_by_prometheus_s_parser(monkeypatch: pytest.MonkeyPatch, records: Path,
                                                         tmp_path: Path) -> None:
    target = tmp_path / "provisioner.prom"
    report = _verify(monkeypatch, records, static_ok=False, days_left=60, metrics_file=target)
    assert report.exit_code == 1 and report.metrics == str(target)
    families = _families(target)
    static, tls = (STATIC, "ppid.tarakankota.go.id"), (TLS, "simpeg.tarakankota.go.id")
    assert families["provisioner_case_up"] == {static: 0.0, tls: 1.0}
    assert families["provisioner_case_failed_checks"] == {static: 1.0, tls: 0.0}
    assert families["provisioner_case_warning_checks"] == {static: 0.0, tls: 0.0}
    verified = families["provisioner_case_last_verify_timestamp_seconds"]
    assert verified[static] == verified[tls]
    assert abs(verified[static] - dt.datetime.now(dt.UTC).timestamp()) < 60
    # Only the TLS case has a certificate.
    assert families["provisioner_certificate_expiry_timestamp_seconds"] == {tls: EXPIRES.timestamp()}
    assert families["provisioner_certificate_expiry_seconds"] == {tls: EXPIRES.timestamp() - verified[tls]}


def test_every_family_says_what_it_is() -> None:
    text = metrics.render([], 0.0)
    for family in metrics.FAMILIES:
        assert f"# HELP {family.name} " in text and f"# TYPE {family.name} gauge\n" in text
    assert {f.name for f in text_string_to_metric_families(text)} == {f.name for f in metrics.FAMILIES}


def test_label_values_are_escaped() -> None:
    item = CaseReport('a"b\\c', "x\ny", checks=[_check("apache.running", True)])
    (up,) = [f for f in text_string_to_metric_families(metrics.render([item], 5.0)) if f.name == "provisioner_case_up"]
    assert up.samples[0].labels == {"case": 'a"b\\c', "fqdn": "x\ny"}


def test_the_file_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "provisioner.prom"
    target.write_text("old\n")
    before = target.stat().st_ino
    metrics.write(target, "# new\n")
    assert target.read_text() == "# new\n" and target.stat().st_ino != before  # a rename, not a rewrite
    assert [p.name for p in tmp_path.iterdir()] == ["provisioner.prom"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "provisioner.prom"
    target.write_text("old\n")

    def no_rename(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(metrics.os, "replace", no_rename)
    with pytest.raises(OSError, match="disk full"):
        metrics.write(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["provisioner.prom"]


def test_a_metrics_file_in_a_missing_folder_is_refused_before_the_trial(monkeypatch: pytest.MonkeyPatch,
                                                                        records: Path, tmp_path: Path) -> None:
    report = _verify(monkeypatch, records, metrics_file=tmp_path / "none" / "provisioner.prom")
    assert report.exit_code == 2 and report.errors[0].path == "--metrics"
    assert report.cases == []


def test_verify_with_nothing_installed_writes_an_empty_metrics_file(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    class Nothing(_Installed):
        def registry(self) -> dict[str, object]:
            return {}

    monkeypatch.setattr(verify, "Hosts", Nothing)
    target = tmp_path / "provisioner.prom"
    report = verify.run(Context(inventory_path=LOCAL_INVENTORY, records=tmp_path), [], all_cases=True,
                        metrics_file=target)
    assert report.exit_code == 0
    assert all(not family.samples for family in text_string_to_metric_families(target.read_text()))


# --- the warning status ----------------------------------------------------------------------

def test_a_certificate_expiring_soon_warns_and_verify_still_passes(monkeypatch: pytest.MonkeyPatch, records: Path,
                                                                   tmp_path: Path) -> None:
    target = tmp_path / "provisioner.prom"
    report = _verify(monkeypatch, records, days_left=5, metrics_file=target)
    assert report.exit_code == 0 and report.status == "ok"
    assert report.message == f"2 case(s) verified, every check passed; warnings for {TLS}"
    (expiry,) = [c for c in report.as_dict()["cases"][1]["checks"] if c["id"] == "tls.expiry"]
    assert expiry["ok"] is True and expiry["warning"] is True
    assert _families(target)["provisioner_case_warning_checks"][TLS, "simpeg.tarakankota.go.id"] == 1.0
    assert not list(records.glob("*/insiden/*.yml"))  # a warning is no incident


def test_an_expired_certificate_fails_verify(monkeypatch: pytest.MonkeyPatch, records: Path) -> None:
    report = _verify(monkeypatch, records, days_left=-1)
    assert report.exit_code == 1 and report.message == f"verify failed for {TLS}"
    assert len(list((records / TLS / "insiden").glob("*.yml"))) == 1


# --- alert mail ------------------------------------------------------------------------------

@pytest.fixture
def sink() -> Iterator[smtp_sink.Sink]:
    with smtp_sink.running() as server:
        yield server


def _inventory_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Path:
    """The local inventory, with these settings added."""
    monkeypatch.setenv("PROVISIONER_INVENTORY_CACHE", "0")
    folder = tmp_path / "inventory"
    shutil.copytree(LOCAL_INVENTORY, folder)
    with (folder / "group_vars" / "all.yml").open("a") as out:
        out.write(yaml.safe_dump(settings))
    return folder


def test_a_newly_failing_case_is_mailed_to_the_division_and_its_contact(
        monkeypatch: pytest.MonkeyPatch, records: Path, tmp_path: Path, sink: smtp_sink.Sink) -> None:
    port, received = sink.port, sink
    inventory = _inventory_with(tmp_path, monkeypatch, provisioner_smtp_relay=f"127.0.0.1:{port}",
                                provisioner_alert_mail_to=["aplikasi@tarakankota.go.id"],
                                provisioner_alert_mail_from="provisioner@tarakankota.go.id")
    report = _verify(monkeypatch, records, inventory, static_ok=False)
    assert report.exit_code == 1 and report.warnings == []
    (mail,) = received.mails
    contact = yaml.safe_load((records / STATIC / "case.yml").read_text())["contact"]["email"]
    assert mail.mail_from == "provisioner@tarakankota.go.id"
    assert mail.rcpt_tos == ["aplikasi@tarakankota.go.id", contact]
    message = email.message_from_bytes(mail.original_content or b"", policy=email.policy.default)
    assert message["Subject"].startswith("[provisioner] Uji coba gagal: ppid.tarakankota.go.id (kasus 2026-011)")
    body = message.get_body().get_content()  # type: ignore[union-attr]
    indonesian, english = body.split("-- English --")
    assert "pemeriksaan 'Apache berjalan'" in indonesian and "/insiden/" in indonesian
    assert "check 'apache is running'" in english


def test_a_case_failing_again_is_not_mailed_again(monkeypatch: pytest.MonkeyPatch, records: Path, tmp_path: Path,
                                                  sink: smtp_sink.Sink) -> None:
    port, received = sink.port, sink
    inventory = _inventory_with(tmp_path, monkeypatch, provisioner_smtp_relay=f"127.0.0.1:{port}")
    _verify(monkeypatch, records, inventory, static_ok=False)
    _verify(monkeypatch, records, inventory, static_ok=False)
    assert len(received.mails) == 1
    assert received.mails[0].rcpt_tos == [yaml.safe_load((records / STATIC / "case.yml").read_text())[
        "contact"]["email"]]  # no division address set: the contact alone


def test_a_refused_recipient_is_a_warning_and_the_rest_is_delivered(
        monkeypatch: pytest.MonkeyPatch, records: Path, tmp_path: Path, sink: smtp_sink.Sink) -> None:
    port, received = sink.port, sink
    received.refuse.add("aplikasi@tarakankota.go.id")
    inventory = _inventory_with(tmp_path, monkeypatch, provisioner_smtp_relay=f"127.0.0.1:{port}",
                                provisioner_alert_mail_to="aplikasi@tarakankota.go.id")
    report = _verify(monkeypatch, records, inventory, static_ok=False)
    assert report.exit_code == 1 and len(received.mails) == 1
    assert report.warnings == [f"mail about case {STATIC} not delivered to aplikasi@tarakankota.go.id"]
    assert report.as_dict()["warnings"] == report.warnings


def test_a_relay_that_is_down_is_a_warning_and_does_not_change_the_result(
        monkeypatch: pytest.MonkeyPatch, records: Path, tmp_path: Path) -> None:
    down = _inventory_with(tmp_path, monkeypatch, provisioner_smtp_relay="127.0.0.1:1")
    report = _verify(monkeypatch, records, down, static_ok=False)
    assert report.exit_code == 1 and report.message == f"verify failed for {STATIC}"
    assert len(report.warnings) == 1 and report.warnings[0].startswith("mail relay 127.0.0.1:1 not reached")


def test_a_passing_verify_sends_no_mail(monkeypatch: pytest.MonkeyPatch, records: Path, tmp_path: Path,
                                        sink: smtp_sink.Sink) -> None:
    port, received = sink.port, sink
    inventory = _inventory_with(tmp_path, monkeypatch, provisioner_smtp_relay=f"127.0.0.1:{port}")
    assert _verify(monkeypatch, records, inventory, days_left=3).exit_code == 0
    assert received.mails == []


@pytest.mark.parametrize("relay", ["127.0.0.1:port", "127.0.0.1:0", ":25", "127.0.0.1:70000"])
def test_a_bad_relay_setting_is_invalid(monkeypatch: pytest.MonkeyPatch, records: Path, tmp_path: Path,
                                        relay: str) -> None:
    report = _verify(monkeypatch, records, _inventory_with(tmp_path, monkeypatch, provisioner_smtp_relay=relay))
    assert report.exit_code == 2 and report.errors[0].path == "provisioner_smtp_relay"


# --- the command line ------------------------------------------------------------------------

def test_the_command_line_writes_the_metrics_and_reports_the_file(monkeypatch: pytest.MonkeyPatch, records: Path,
                                                                  tmp_path: Path) -> None:
    from click.testing import CliRunner

    from provisioner.cli import cli

    monkeypatch.setattr(verify, "Hosts", _Installed)
    monkeypatch.setattr(trial, "run_trials", _trials(True, 60))
    target = tmp_path / "provisioner.prom"
    result = CliRunner().invoke(cli, ["--records", str(records), "verify", "--all", "-i", str(LOCAL_INVENTORY),
                                      "--metrics", str(target), "--json"])
    out = json.loads(result.stdout)
    assert (result.exit_code, out["status"], out["metrics"]) == (0, "ok", str(target))
    assert _families(target)["provisioner_case_up"] == {(STATIC, "ppid.tarakankota.go.id"): 1.0,
                                                        (TLS, "simpeg.tarakankota.go.id"): 1.0}
