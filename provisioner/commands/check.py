"""``provisioner check``: validate case files; with an inventory, look for conflicts. Changes nothing."""

from __future__ import annotations

from pathlib import Path

from provisioner.commands.base import Context, load_cases, placed, reporting, require_all_approved
from provisioner.language import N_, _
from provisioner.report import CaseReport, Report


def run(ctx: Context, paths: list[Path]) -> Report:
    with reporting("check") as report:
        cases = load_cases(paths)
        report.cases = [CaseReport(c.id, c.fqdn) for c in cases]
        require_all_approved(cases)
        if ctx.inventory_path is not None:
            from provisioner.hosts import Hosts  # paramiko and testinfra: only with an inventory

            inventory = ctx.inventory()
            chosen, live = placed(cases, inventory, Hosts(inventory))
            for item in report.cases:
                where = chosen[item.id]
                item.public_ip, item.server = where.ip, where.web
                # A word of the --json contract: translated where it is displayed.
                item.note = N_("installed") if item.id in live.installed else N_("not installed")
        report.message = (_("{count} case(s) valid and free of conflicts") if ctx.inventory_path
                          else _("{count} case(s) valid")).format(count=len(cases))
    return report
