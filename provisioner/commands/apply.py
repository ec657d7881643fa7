"""``provisioner apply``: provision the cases, run the trial, write the records (one transaction)."""

from __future__ import annotations

from pathlib import Path

from provisioner.commands.base import Context, approved_cases, reporting
from provisioner.report import Report
from provisioner.run import Run


def run(ctx: Context, paths: list[Path], full: bool = False) -> Report:
    """``full``: no fast path, every case goes through Ansible and the trial."""
    with reporting("apply") as report:
        inventory, cases = approved_cases(ctx, paths)
        with Run(ctx, inventory, cases, report, full=full) as transaction:
            transaction.execute()
    return report
