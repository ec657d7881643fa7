"""``provisioner plan``: what ``apply`` would add or change, per case, changing nothing.

Ansible runs the provisioning playbook in check mode; each role reports (``set_stats``) the
things it would change for each site, and whether they exist yet. That list is the plan, like
Terraform's: ``+`` added, ``~`` changed. Ansible's file diffs are kept for ``--diff``.
"""

from __future__ import annotations

from pathlib import Path

from provisioner import convergence, export, placement, secrets, site
from provisioner.ansible import PlaybookResult, run_playbook
from provisioner.commands.base import Context, approved_cases, placed, reporting
from provisioner.errors import ProvisionerError
from provisioner.hosts import Hosts
from provisioner.language import _
from provisioner.report import CaseReport, PlannedChange, Report


def planned_changes(result: PlaybookResult, case_id: str, installed: bool) -> list[PlannedChange]:
    """What the roles said they would change for the case: added when it does not exist yet."""
    out = []
    for role, changes in sorted(result.changes_for(case_id).items()):
        for thing in changes.changed:
            action = "add" if not installed or thing in changes.created else "change"
            out.append(PlannedChange(action, role, thing))
    return out


def run(ctx: Context, paths: list[Path], diff: bool = False, export_to: Path | None = None) -> Report:
    with reporting("plan") as report:
        inventory, cases = approved_cases(ctx, paths)
        chosen, live = placed(cases, inventory, Hosts(inventory), grants=True)
        sites = []
        for case in cases:
            # No secret is created by a plan (a case without one plans with an empty password),
            # except for an export: the exported run needs its password, made as apply makes it.
            if export_to is not None and case.database:
                secrets.ensure_password(inventory.state_dir, case.id)
            existing = secrets.password_file(inventory.state_dir, case.id)
            sites.append(site.build(case, chosen[case.id], inventory,
                                    password_file=existing if existing.exists() else Path("/dev/null"),
                                    installed=placement.is_installed(case, live)))
        # Cases already as their files say plan nothing, without Ansible (as apply leaves them alone).
        to_check, _unchanged = convergence.split(sites, inventory, live)
        result = PlaybookResult("provision.yml", rc=0, status="successful")
        if to_check:
            result = run_playbook("provision.yml", inventory, inventory.state_dir,
                                  {"provisioner_sites": [s.vars.as_vars() for s in to_check]}, check=True,
                                  on_event=ctx.on_event)
        if not result.ok:
            raise ProvisionerError(_("the plan could not be computed: {failures}").format(
                failures="; ".join(str(f) for f in result.failures)))
        for s in sites:
            changes = planned_changes(result, s.id, s.vars.installed)
            report.cases.append(CaseReport(s.id, s.fqdn, s.ip, len(changes), plan=changes, server=s.web_host))
        if diff:
            report.diffs = result.diffs
        added = sum(1 for c in report.cases for p in c.plan or [] if p.action == "add")
        changed = sum(1 for c in report.cases for p in c.plan or [] if p.action == "change")
        report.message = (_("apply would add {added} and change {changed} item(s)").format(added=added, changed=changed)
                          if added or changed else _("no changes: the servers match the cases"))
        if export_to is not None:
            written = export.write(export_to, sites, inventory)
            report.message += f"; the run is exported to {export_to} ({', '.join(p.name for p in written)})"
    return report
