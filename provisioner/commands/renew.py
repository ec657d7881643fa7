"""``provisioner renew``: new certificates from the ACME CA for the installed cases whose
certificate expires within the given days; nothing else changes.

Each installed ``tls: acme`` case goes through the ACME play alone (playbooks/renew.yml), which
asks the CA only for a certificate that is due; Apache reloads once per web host. A certificate
is replaced only once the CA has issued its successor: a CA that is down or a challenge that
fails leaves the old one in use, and the case gets an incident record (exit 1).
"""

from __future__ import annotations

from provisioner import placement, site
from provisioner import records as rec
from provisioner.ansible import run_playbook
from provisioner.commands.base import Context, installed_cases, installed_on, reporting
from provisioner.errors import ProvisionerError
from provisioner.hosts import Hosts
from provisioner.language import _
from provisioner.lock import inventory_lock
from provisioner.report import CaseReport, Report

DEFAULT_DAYS = 30


def run(ctx: Context, days: int = DEFAULT_DAYS) -> Report:
    with reporting("renew") as report:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        installed = installed_on(hosts)
        cases = [c for c in installed_cases(ctx, [], True, installed) if c.tls == "acme"] if installed else []
        if not cases:
            report.message = _("0 installed cases with an ACME certificate on inventory {inventory}: nothing to "
                               "renew; changed 0").format(inventory=inventory.name)
            return report
        sites = [site.build(case, placement.of_record(installed[case.id], inventory), inventory, password_file=None)
                 for case in cases]
        report.cases = [CaseReport(s.id, s.fqdn, s.ip, server=s.web_host) for s in sites]
        with inventory_lock(inventory.state_dir, "renew"):
            ctx.on_progress(f"renewing the ACME certificates due within {days} day(s) of {len(sites)} case(s)")
            result = run_playbook("renew.yml", inventory, inventory.state_dir,
                                  {"provisioner_sites": [s.vars.as_vars() for s in sites],
                                   "provisioner_acme_renew_days": days}, on_event=ctx.on_event)
        for s in sites:
            report.case(s.id).changed = result.changed_for(s.id)
        changed = sum(report.case(s.id).changed for s in sites)
        if not result.ok:
            records = rec.Records(ctx.records_dir)
            failures = [str(f) for f in result.failures]
            for s in sites:
                report.case(s.id).records.append(str(records.write_incident(
                    s.id, s.fqdn, "renew", "renewal", failures, [])))
            raise ProvisionerError(_("renewal failed, the certificates in use stay: {reason}").format(
                reason="; ".join(failures)))
        report.message = _("{count} ACME certificate(s) checked, {renewed} renewed (due within {days} days); "
                           "changed {changed}").format(count=len(sites), renewed=sum(
                               1 for s in sites if report.case(s.id).changed), days=days, changed=changed)
    return report
