"""``provisioner backup`` and ``provisioner restore``: an installed case's database and data
folders, copied to the controller with a manifest, and put back from there (provisioner/backups.py).

A backup that does not complete leaves no folder; a restore refuses a backup whose manifest does
not match its files (exit 2) before anything changes, and ends with the case's trial.
"""

from __future__ import annotations

from pathlib import Path

from provisioner import backups, placement, site
from provisioner import records as rec
from provisioner.ansible import run_playbook
from provisioner.commands.base import Context, installed_cases, installed_on, reporting
from provisioner.errors import FieldError, InvalidInput, ProvisionerError
from provisioner.hosts import Hosts
from provisioner.inventory import Inventory
from provisioner.language import _
from provisioner.lock import inventory_lock
from provisioner.report import CaseReport, Report
from provisioner.trial import run_trials


def _installed_sites(ctx: Context, inventory: Inventory, hosts: Hosts, refs: list[Path],
                     all_cases: bool) -> list[site.Site]:
    installed = installed_on(hosts)
    cases = installed_cases(ctx, refs, all_cases, installed)
    missing = [c.id for c in cases if c.id not in installed]
    if missing:
        raise InvalidInput(_("not installed on inventory {inventory}: {cases}").format(
            inventory=inventory.name, cases=", ".join(missing)),
            [FieldError("CASE", _("{case} has no ownership record on the web hosts").format(case=c)) for c in missing])
    return [site.build(c, placement.of_record(installed[c.id], inventory), inventory, password_file=None)
            for c in cases]


def _keep(inventory: Inventory, keep: int | None) -> int:
    return keep if keep is not None else int(inventory.settings.get("provisioner_backup_keep", backups.DEFAULT_KEEP))


def backup(ctx: Context, refs: list[Path], all_cases: bool, keep: int | None, keep_days: int | None) -> Report:
    with reporting("backup") as report:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        if all_cases and not installed_on(hosts):
            report.message = _("0 cases installed on inventory {inventory}: nothing to back up").format(
                inventory=inventory.name)
            return report
        sites = _installed_sites(ctx, inventory, hosts, refs, all_cases)
        report.cases = [CaseReport(s.id, s.fqdn, s.ip, server=s.web_host) for s in sites]
        taken = rec.now()
        with inventory_lock(inventory.state_dir, "backup"):
            plans = [backups.Plan(s, backups.new_folder(inventory, s.id, taken), backups.data_folders(s),
                                  s.vars.db is not None) for s in sites]
            ctx.on_progress(f"backing up {len(plans)} case(s) into {backups.root(inventory)}")
            result = run_playbook("backup.yml", inventory, inventory.state_dir,
                                  {"provisioner_sites": [s.vars.as_vars() for s in sites],
                                   "provisioner_backups": {p.site.id: p.as_var() for p in plans}},
                                  on_event=ctx.on_event)
            if not result.ok:
                for plan in plans:
                    backups.discard(plan.folder)
                raise ProvisionerError(_("the backup failed, no backup was kept: {reason}").format(
                    reason="; ".join(str(f) for f in result.failures)))
            removed = 0
            for plan in plans:
                backups.write_manifest(plan, inventory, taken)
                report.case(plan.site.id).records.append(str(plan.folder / backups.MANIFEST))
                removed += len(backups.prune(plan.folder.parent, _keep(inventory, keep), keep_days, taken))
        report.message = _("{count} case(s) backed up into {folder}; {removed} older backup(s) removed").format(
            count=len(plans), folder=backups.root(inventory), removed=removed)
    return report


def restore(ctx: Context, ref: Path, source: Path) -> Report:
    with reporting("restore") as report:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        (placed,) = _installed_sites(ctx, inventory, hosts, [ref], False)
        folder, manifest = backups.read_checked(source, placed.id)
        files = manifest.get("files") or {}
        plan = backups.Plan(placed, folder, list(manifest.get("folders") or []) if backups.FILES_FILE in files else [],
                            backups.DATABASE_FILE in files)
        if plan.database and placed.vars.db is None:
            raise InvalidInput(_("the backup holds a database and case {case} has none now").format(case=placed.id),
                               [FieldError("--from", _("restore it into a case with a database"))])
        item = CaseReport(placed.id, placed.fqdn, placed.ip, server=placed.web_host)
        report.cases = [item]
        with inventory_lock(inventory.state_dir, "restore"):
            ctx.on_progress(f"restoring {placed.id} from {folder}")
            result = run_playbook("restore.yml", inventory, inventory.state_dir,
                                  {"provisioner_sites": [placed.vars.as_vars()],
                                   "provisioner_backups": {placed.id: plan.as_var()}}, on_event=ctx.on_event)
        item.changed = 1 if result.ok else 0
        records = rec.Records(ctx.records_dir)
        if not result.ok:
            failures = [str(f) for f in result.failures]
            item.records.append(str(records.write_incident(placed.id, placed.fqdn, "restore", "restore", failures, [])))
            raise ProvisionerError(_("the restore failed: {reason}").format(reason="; ".join(failures)))
        item.checks = run_trials([placed], inventory, hosts)[placed.id]
        item.records.append(str(records.write_trial_history(placed, inventory, item.checks, "restore",
                                                            rec.now().isoformat())))
        if not item.passed:
            raise ProvisionerError(_("case {case} was restored from {folder}, but its trial fails").format(
                case=placed.id, folder=folder))
        report.message = _("case {case} restored from the backup of {taken}; its trial passes").format(
            case=placed.id, taken=manifest.get("taken", "?"))
    return report
