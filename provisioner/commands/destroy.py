"""``provisioner destroy``: remove what apply made for the cases, in one run.

Databases and files stay unless asked (``--drop-database`` dumps first, ``--remove-files``); what
an earlier destroy kept is removed by a later one that asks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner import failpoints, placement, secrets, site
from provisioner import records as rec
from provisioner.ansible import run_playbook
from provisioner.commands.base import Context, case_file, load_cases, reporting
from provisioner.errors import ProvisionerError
from provisioner.hosts import Hosts
from provisioner.language import N_, _
from provisioner.lock import inventory_lock
from provisioner.report import CaseReport, Report


def _kept(record: dict[str, Any] | None, drop_database: bool, remove_files: bool) -> dict[str, Any] | None:
    """The record of a case removed earlier whose kept database or files this destroy is asked to
    remove (the database is dumped first, as for any drop); None when there is nothing to do."""
    kept = set((record or {}).get("kept") or []) if (record or {}).get("removed") else set()
    if ("database" in kept and drop_database) or ("files" in kept and remove_files):
        return record
    return None


def run(ctx: Context, paths: list[Path], drop_database: bool = False, remove_files: bool = False) -> Report:
    with reporting("destroy") as report:
        inventory = ctx.inventory()
        # Case files or ids in the records; a release that has moved since does not matter here.
        cases = load_cases([case_file(ctx, p) for p in paths], release_needed=False)
        with inventory_lock(inventory.state_dir, "destroy"):
            live = placement.read_live_state(cases, inventory, Hosts(inventory))
            gone: list[dict[str, Any]] = []
            never = []
            for case in cases:
                installed = live.installed.get(case.id) or _kept(live.registry.get(case.id), drop_database,
                                                                  remove_files)
                item = CaseReport(case.id, case.fqdn)
                report.cases.append(item)
                if installed is None:
                    item.note = N_("not installed on this inventory (never applied, or removed): nothing to do")
                    never.append(case.id)
                    continue
                where = placement.of_record(installed, inventory)
                item.public_ip, item.server = where.ip, where.web
                placed = site.build(case, where, inventory, password_file=None)
                gone.append(placed.vars.removal(drop_database=drop_database, remove_files=remove_files,
                                                holds_address=case.id in live.installed))
            if not gone:
                report.message = _("case {cases} is not installed on inventory {inventory} (never applied, or "
                                   "removed): nothing to do").format(cases=", ".join(never), inventory=inventory.name)
                return report
            try:
                result = run_playbook("destroy.yml", inventory, inventory.state_dir,
                                      {"provisioner_sites": gone}, on_event=ctx.on_event)
                failpoints.hit("destroy-after-removal")
                failures = [str(f) for f in result.failures] if not result.ok else []
            except Exception as exc:  # a bug: the same incident and message as a failed removal
                failures = [f"unexpected error {type(exc).__name__}: {exc}; this is a fault of provisioner: "
                            "report it with the output of the same command run with --debug"]
                result = None
            for item in report.cases:
                item.changed = result.changed_for(item.id) if result else 0
            if failures:
                records = rec.Records(ctx.records_dir)
                for v in gone:
                    path = records.write_incident(v["id"], v["fqdn"], "destroy", "removal", failures, [])
                    report.case(v["id"]).records.append(str(path))
                raise ProvisionerError(_("destroy failed: {failures}").format(failures="; ".join(failures)))
            if drop_database:
                for v in gone:
                    secrets.forget(inventory.state_dir, v["id"])
            kept = [k for k, asked in ((_("databases"), drop_database), (_("files"), remove_files)) if not asked]
            report.message = (_("{count} case(s) removed; kept: {kept}") if kept else _("{count} case(s) removed")
                              ).format(count=len(gone), kept=", ".join(kept))
    return report
