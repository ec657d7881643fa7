"""``provisioner verify``: the trial again, against what is live; changes nothing on the servers.

Its records stay light, so a fleet can be verified often: each case gets one line in its trial
history (``uji-coba-riwayat.jsonl``); the trial report ``uji-coba.json`` is the installation's,
written by apply, and stays as it is. A case that newly fails gets an incident record and its
documents rendered again; a case failing again is the same incident, and, when the inventory
names a mail relay, one mail to the division and the case's contact (provisioner/alerts.py). The
register is refreshed. ``--metrics FILE`` also writes every case's result as Prometheus metrics
(provisioner/metrics.py). Neither a mail nor the metrics changes the result: what could not be done
is reported as a warning.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from provisioner import alerts, check_texts, metrics, site
from provisioner.commands.base import Context, installed_cases, installed_on, render_documents, reporting
from provisioner.errors import FieldError, InvalidInput, ProvisionerError
from provisioner.hosts import Hosts
from provisioner.language import _
from provisioner.report import CaseReport, Report


def _write_metrics(report: Report, path: Path, verified_at: float) -> None:
    try:
        report.metrics = str(metrics.write(path, metrics.render(report.cases, verified_at)))
    except OSError as exc:
        report.warnings.append(_("metrics not written to {path}: {error}").format(path=path, error=exc))


def run(ctx: Context, paths: list[Path], all_cases: bool = False, *, metrics_file: Path | None = None) -> Report:
    with reporting("verify") as report:
        if metrics_file is not None and (why := metrics.writable_target(metrics_file)):
            raise InvalidInput(_("the metrics file cannot be written"), [FieldError("--metrics", why)])
        inventory = ctx.inventory()
        relay = alerts.relay_of(inventory)
        hosts = Hosts(inventory)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as background:
            reading = background.submit(installed_on, hosts)
            # The web hosts answer from a process of their own: meanwhile the trial's modules load
            # (dnspython), which a one-case verify would otherwise wait for after the answer.
            from provisioner import placement, trial
            from provisioner import records as rec
            installed = reading.result()
        if all_cases and not installed:  # nothing installed is not an error
            if metrics_file is not None:
                _write_metrics(report, metrics_file, rec.now().timestamp())
            report.message = _("0 cases installed on inventory {inventory}: nothing to verify").format(
                inventory=inventory.name)
            return report
        cases = installed_cases(ctx, paths, all_cases, installed)
        placement.validate_all(cases, inventory)
        records = rec.Records(ctx.records_dir)
        sites = []
        items: dict[str, CaseReport] = {}
        for case in cases:
            item = items[case.id] = CaseReport(case.id, case.fqdn)
            report.cases.append(item)
            record = installed.get(case.id)
            if record is None:
                item.checks = [trial.Check.of("case.installed", check_texts.name("case.installed"), False,
                                              check_texts.detail("case.no_record", case=case.id, hosts=", ".join(
                                                  h.name for h in inventory.web_hosts)), 0.0)]
                continue
            placed = site.build(case, placement.of_record(record, inventory), inventory, password_file=None)
            item.public_ip, item.server = placed.ip, placed.web_host
            sites.append(placed)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as background:
            trying = background.submit(trial.run_trials, sites, inventory, hosts)
            # While the hosts answer (their probes are processes: this thread is free), the progress
            # line and the register's renderer load: a one-case verify is mostly waiting and loading.
            ctx.on_progress(_("running the trial of {count} case(s)").format(count=len(sites)))
            from provisioner import documents
            trials = trying.result()
        moment = rec.now()
        tested_at = moment.isoformat()
        new_incidents = []
        alerts_due = []
        for placed in sites:
            item = items[placed.id]
            item.checks = trials[placed.id]
            previous = records.last_trial(placed.id)  # before this trial is recorded
            item.records.append(str(records.write_trial_history(placed, inventory, item.checks, "verify",
                                                                tested_at)))
            if rec.newly_failed(previous, item.passed):
                failures = [c.failure() for c in item.checks if not c.ok]
                incident = records.write_incident(placed.id, placed.fqdn, "verify", "verify", failures, [])
                item.records.append(str(incident))
                new_incidents.append(item)
                alerts_due.append(alerts.Failure(placed.case, tuple(failures), str(incident), tested_at))
        if new_incidents:
            render_documents(ctx, new_incidents)  # their incident log, and the register
        else:
            documents.render_register(ctx.records_dir)
        if metrics_file is not None:
            _write_metrics(report, metrics_file, moment.timestamp())
        if relay is not None and alerts_due:
            ctx.on_progress(f"mailing {len(alerts_due)} new incident(s) through {relay.host}:{relay.port}")
            report.warnings += alerts.send(relay, alerts_due)
        failed = [item.id for item in report.cases if not item.passed]
        if failed:
            raise ProvisionerError(_("verify failed for {cases}").format(cases=", ".join(failed)))
        warned = [item.id for item in report.cases if any(c.warning for c in item.checks)]
        report.message = (_("{count} case(s) verified, every check passed; warnings for {cases}").format(
            count=len(cases), cases=", ".join(warned)) if warned
            else _("{count} case(s) verified, every check passed").format(count=len(cases)))
    return report
