"""``provisioner verify``: the trial again, against what is live; changes nothing on the servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner import documents, placement, site
from provisioner import records as rec
from provisioner.case import Case
from provisioner.commands.base import Context, load_cases, render_documents, reporting
from provisioner.errors import FieldError, InvalidInput, ProvisionerError
from provisioner.hosts import Hosts
from provisioner.report import CaseReport, Report
from provisioner.trial import Check, run_trial


def _installed_cases(ctx: Context, paths: list[Path], all_cases: bool, live_registry: dict[str, Any]) -> list[Case]:
    if all_cases:
        found = [ctx.records_dir / case_id / "case.yml" for case_id in sorted(live_registry)]
        missing = [p for p in found if not p.exists()]
        if missing:
            raise InvalidInput("installed cases have no case file in the records",
                               [FieldError("--all", f"{p} is missing") for p in missing])
        paths = found
    if not paths:
        raise InvalidInput("no case given", [FieldError("CASE", "name case files, or --all")])
    return load_cases(paths)


def run(ctx: Context, paths: list[Path], all_cases: bool = False) -> Report:
    with reporting("verify") as report:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        registry = {k: r for k, r in hosts.registry().items() if not r.get("removed")} if all_cases else {}
        cases = _installed_cases(ctx, paths, all_cases, registry)
        placement.validate_all(cases, inventory)
        live = placement.read_live_state(cases, inventory, hosts)
        records = rec.Records(ctx.records_dir)
        documents.preload()
        failed = []
        for case in cases:
            installed = live.installed.get(case.id)
            item = CaseReport(case.id, case.fqdn)
            report.cases.append(item)
            if installed is None:
                item.checks = [Check("case is installed", False,
                                     f"no record of case {case.id} on {inventory.web.name}", 0.0)]
                failed.append(case)
                continue
            placed = site.build(case, str(installed["ip"]), inventory, password_file=None)
            item.public_ip = placed.ip
            item.checks = run_trial(placed, inventory, hosts)
            item.records += [str(p) for p in records.write_trial(placed, inventory, item.checks,
                                                                 rec.now().isoformat())]
            if not item.passed:
                failed.append(case)
                failures = [f"check '{c.name}': {c.detail}" for c in item.checks if not c.ok]
                item.records.append(str(records.write_incident(case.id, case.fqdn, "verify", "verify", failures, [])))
        render_documents(ctx, [item for item in report.cases if item.public_ip])
        if failed:
            raise ProvisionerError(f"verify failed for {', '.join(c.id for c in failed)}")
        report.message = f"{len(cases)} case(s) verified, every check passed"
    return report
