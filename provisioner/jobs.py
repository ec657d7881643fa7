"""The commands' work, without Click: check, plan, apply, verify, destroy.

Each returns a Report (exit code, per-case results, errors) that the CLI prints as text or as
the one JSON object of the contract. Order inside ``apply`` follows the design's principles:
validate everything, refuse on any conflict before changing anything, provision in one
ansible-runner run, undo what this run created if anything fails, then the trial, then records.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import documents, interrupt, journal, secrets, sites, sop, trail
from provisioner import records as rec
from provisioner.ansible import EventCallback, PlaybookResult, run_playbook
from provisioner.case import Case, load_case, require_approved, scaffold
from provisioner.errors import (
    EXIT_FAILED,
    EXIT_OK,
    STATUS_BY_EXIT,
    FieldError,
    InvalidInput,
    ProvisionerError,
    Refused,
)
from provisioner.hosts import Hosts
from provisioner.inventory import Inventory, load_inventory
from provisioner.lock import inventory_lock
from provisioner.trial import Check, run_trial, software_versions

# Tasks whose change for a site means this run created the thing, so an undo may remove it.
CREATES_DATABASE = frozenset({"Create each MariaDB database", "Create each PostgreSQL database, owned by its user"})
CREATES_FILES = frozenset({"Create each site's directories"})


@dataclass
class CaseReport:
    id: str
    fqdn: str | None = None
    public_ip: str | None = None
    changed: int = 0
    checks: list[Check] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fqdn": self.fqdn, "public_ip": self.public_ip, "changed": self.changed,
                "checks": [c.as_dict() for c in self.checks], "records": self.records,
                **({"note": self.note} if self.note else {})}


@dataclass
class Report:
    command: str
    exit_code: int = EXIT_OK
    message: str = ""
    cases: list[CaseReport] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def status(self) -> str:
        return STATUS_BY_EXIT.get(self.exit_code, "failed")

    def fail(self, error: ProvisionerError) -> Report:
        self.exit_code = error.exit_code
        self.message = error.message
        self.errors = list(error.errors) or [FieldError("", error.message)]
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "status": self.status, "exit_code": self.exit_code,
                "message": self.message, "cases": [c.as_dict() for c in self.cases],
                "errors": [e.as_dict() for e in self.errors],
                "duration_s": round(time.monotonic() - self.started, 3)}


@dataclass
class Context:
    """What every command shares: the inventory, where records go, the live display."""

    inventory_path: Path | None
    records_dir: Path = Path("records")
    on_event: EventCallback | None = None
    on_progress: Callable[[str], None] = lambda message: None

    def inventory(self, hosts_needed: bool = True) -> Inventory:
        """The inventory; unless ``hosts_needed`` is False, refuse one whose lab hosts are not up."""
        if self.inventory_path is None:
            raise InvalidInput("this command needs an inventory", [FieldError("-i", "name an inventory directory")])
        inventory = load_inventory(self.inventory_path)
        if hosts_needed and inventory.lab_not_up:
            raise ProvisionerError(inventory.lab_not_up + "; nothing was changed")
        return inventory


def load_cases(paths: list[Path]) -> list[Case]:
    """Load every file, then report every problem of every file at once."""
    cases, errors = [], []
    for path in paths:
        try:
            cases.append(load_case(path))
        except InvalidInput as exc:
            prefix = f"{path}: " if len(paths) > 1 else ""
            errors += [FieldError(f"{prefix}{e.path}", e.message) for e in exc.errors]
            message = exc.message
    if errors:
        raise InvalidInput(message if len(paths) == 1 else f"{len(errors)} problems in the case files", errors)
    if not cases:
        raise InvalidInput("no case given", [FieldError("CASE", "name at least one case file")])
    return cases


def _approved_cases(ctx: Context, paths: list[Path]) -> tuple[Inventory, list[Case]]:
    """The inventory, and the cases once every one is valid and approved."""
    inventory = ctx.inventory()
    cases = load_cases(paths)
    _approved(cases)
    return inventory, cases


def _approved(cases: list[Case]) -> None:
    refused = []
    for case in cases:
        try:
            require_approved(case)
        except Refused as exc:
            refused += [FieldError(f"{case.id}: {e.path}", e.message) for e in exc.errors]
    if refused:
        raise Refused("only approved cases may be applied; nothing was changed", refused)


def _placed(cases: list[Case], inventory: Inventory, hosts: Hosts) -> tuple[dict[str, str], sites.LiveState]:
    sites.validate_all(cases, inventory)
    live = sites.read_live_state(cases, inventory, hosts)
    live.unfinished = journal.unfinished(inventory.state_dir)
    chosen, conflicts = sites.place(cases, inventory, live)
    if conflicts:
        raise Refused("conflict with what is live on the servers; nothing was changed", conflicts)
    return chosen, live


def _site(case: Case, ip: str, inventory: Inventory, password_file: Path | None = None,
          installed: bool = True) -> sites.Site:
    return sites.Site(case, ip, sites.site_vars(case, ip, inventory, password_file=password_file,
                                                installed=installed))


def check(ctx: Context, paths: list[Path]) -> Report:
    report = Report("check")
    try:
        cases = load_cases(paths)
        report.cases = [CaseReport(c.id, c.fqdn) for c in cases]
        _approved(cases)
        if ctx.inventory_path is not None:
            inventory = ctx.inventory()
            chosen, live = _placed(cases, inventory, Hosts(inventory))
            for item in report.cases:
                item.public_ip = chosen[item.id]
                item.note = "installed" if item.id in live.installed else "not installed"
        report.message = f"{len(cases)} case(s) valid" + (" and free of conflicts" if ctx.inventory_path else "")
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


def plan(ctx: Context, paths: list[Path]) -> Report:
    """Ansible check mode with diff: what apply would change, changing nothing."""
    report = Report("plan")
    try:
        inventory, cases = _approved_cases(ctx, paths)
        chosen, live = _placed(cases, inventory, Hosts(inventory))
        site_list = []
        for case in cases:
            # No secret is created by a plan: a case without one plans with an empty password.
            existing = secrets.password_file(inventory.state_dir, case.id)
            site_list.append(_site(case, chosen[case.id], inventory,
                                   existing if existing.exists() else Path("/dev/null"),
                                   installed=sites.is_installed(case, live)))
        result = run_playbook("provision.yml", inventory.path, inventory.state_dir,
                              {"provisioner_sites": [s.vars for s in site_list]}, check=True,
                              on_event=ctx.on_event)
        report.diffs = result.diffs
        report.cases = [CaseReport(s.id, s.fqdn, s.ip, result.changed_for(s.id)) for s in site_list]
        if not result.ok:
            raise ProvisionerError("the plan could not be computed: "
                                   + "; ".join(str(f) for f in result.failures))
        report.message = f"apply would change {result.changed} item(s)"
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


def _undo(ctx: Context, inventory: Inventory, new_sites: list[sites.Site], result: PlaybookResult,
          leftovers: set[str]) -> list[str]:
    """Remove what was created for cases that were not installed before; say what.

    A case's creations are the tasks this run changed for it; for a case whose earlier run died
    (``leftovers``, from the journal), everything of it on the servers is its own and goes too.
    """
    undo_sites, undone = [], []
    for site in new_sites:
        tasks = result.changed_tasks.get(site.id, set())
        if not tasks and site.id not in leftovers:
            continue
        whole = site.id in leftovers
        v = dict(site.vars, state="absent", drop_database=whole or bool(tasks & CREATES_DATABASE),
                 remove_files=whole or bool(tasks & CREATES_FILES))
        undo_sites.append(v)
        what = sorted(tasks) + (["everything left by the earlier run that died"] if whole else [])
        undone.append(f"{site.id}: " + ", ".join(what))
    if not undo_sites:
        return []
    ctx.on_progress(f"undoing what this run created for {len(undo_sites)} case(s)")
    result_undo = run_playbook("destroy.yml", inventory.path, inventory.state_dir,
                               {"provisioner_sites": undo_sites}, on_event=ctx.on_event)
    if not result_undo.ok:
        undone.append("THE UNDO ITSELF FAILED, check by hand: "
                      + "; ".join(str(f) for f in result_undo.failures))
    else:
        for v in undo_sites:
            journal.end(inventory.state_dir, v["id"])
    return undone


def apply(ctx: Context, paths: list[Path]) -> Report:
    report = Report("apply")
    try:
        inventory, cases = _approved_cases(ctx, paths)
        with inventory_lock(inventory.state_dir, "apply"):
            _apply_locked(ctx, inventory, cases, report)
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


def _apply_locked(ctx: Context, inventory: Inventory, cases: list[Case], report: Report) -> None:
    records = rec.Records(ctx.records_dir)
    hosts = Hosts(inventory)
    try:
        chosen, live = _placed(cases, inventory, hosts)
    except sites.ServerDown as exc:
        report.cases = [CaseReport(case.id, case.fqdn) for case in cases]
        for case, item in zip(cases, report.cases, strict=True):
            records.write_case(_site(case, "0.0.0.0", inventory))
            item.records.append(str(records.write_incident(case.id, case.fqdn, "apply", "preflight",
                                                           [exc.message], [])))
        _documents(ctx, report.cases)
        raise
    site_list = []
    for case in cases:
        pw = secrets.ensure_password(inventory.state_dir, case.id) if case.database else None
        site_list.append(_site(case, chosen[case.id], inventory, pw, installed=sites.is_installed(case, live)))
    report.cases = [CaseReport(s.id, s.fqdn, s.ip) for s in site_list]
    by_id = {c.id: c for c in report.cases}
    new_sites = [s for s in site_list if not s.vars["installed"]]
    leftovers = {s.id for s in new_sites if s.id in live.unfinished}
    for site in new_sites:
        site.vars["recover"] = site.id in leftovers
    started = rec.now()
    for site in site_list:
        records.write_case(site)
    for site in new_sites:
        journal.begin(inventory.state_dir, site.id, site.fqdn, site.ip)

    documents.preload()
    with interrupt.watch() as stop:
        ctx.on_progress(f"provisioning {len(site_list)} case(s) on inventory {inventory.name}")
        result = run_playbook("provision.yml", inventory.path, inventory.state_dir,
                              {"provisioner_sites": [s.vars for s in site_list]}, on_event=ctx.on_event,
                              cancel=stop)
        for site in site_list:
            by_id[site.id].changed = result.changed_for(site.id)
        failed: dict[str, list[str]] = {}
        stage = "provisioning"
        if not result.ok:
            failed = {s.id: [str(f) for f in result.failures] for s in site_list}
        else:
            ctx.on_progress("running the trial")
            stage = "trial"
            for site in site_list:
                if stop:
                    break
                item = by_id[site.id]
                item.checks = run_trial(site, inventory, hosts)
                versions = software_versions(site, inventory, hosts)
                item.records += [str(p) for p in records.write_configuration(
                    site, inventory, versions, started.isoformat(), site in new_sites)]
                item.records += [str(p) for p in records.write_trial(site, inventory, item.checks,
                                                                     rec.now().isoformat())]
                if not item.passed:
                    failed[site.id] = [f"check '{c.name}': {c.detail}" for c in item.checks if not c.ok]
        if stop:
            # A task cut short reports nothing: everything of a new case goes, as after a crash.
            stage = "stopped"
            message = f"the run was stopped by {stop.signal_name} before it finished"
            failed = {s.id: [message, *failed.get(s.id, [])] for s in site_list}
            leftovers |= {s.id for s in new_sites}

    if failed:
        undone = _undo(ctx, inventory, [s for s in new_sites if s.id in failed], result, leftovers)
        for site in site_list:
            if site.id not in failed:
                continue
            mine = [u for u in undone if u.startswith(f"{site.id}:") or "UNDO" in u]
            path = records.write_incident(site.id, site.fqdn, "apply", stage, failed[site.id], mine)
            by_id[site.id].records.append(str(path))
        _documents(ctx, report.cases)
        if stage == "trial":
            raise ProvisionerError(f"the trial failed for {', '.join(failed)}")
        raise ProvisionerError(f"{stage} failed: " + "; ".join(next(iter(failed.values()))))

    ended = rec.now()
    for site in site_list:
        journal.end(inventory.state_dir, site.id)
        # The trail keeps the installation: a re-apply of a live case does not rewrite step 9.
        if site in new_sites or sop.INSTALL_STEP not in trail.load(ctx.records_dir, site.case):
            trail.record_install(ctx.records_dir, site.case, started, ended, operator())
    _documents(ctx, report.cases)
    report.message = f"{len(site_list)} case(s) live, every trial check passed; changed {result.changed}"


def operator() -> str:
    """Who ran the command, for the SOP trail: PROVISIONER_OPERATOR, or the login name."""
    return os.environ.get("PROVISIONER_OPERATOR") or getpass.getuser()


def _documents(ctx: Context, items: list[CaseReport]) -> None:
    """Render the cases' documents and the register again from their records."""
    ctx.on_progress("writing the documents")
    by_id = {item.id: item for item in items}
    ready = [case_id for case_id in by_id if (ctx.records_dir / case_id / "case.yml").exists()]
    for path in documents.render_cases(ctx.records_dir, ready):
        by_id[path.parent.parent.parent.name].records.append(str(path))
    documents.render_register(ctx.records_dir)


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


def verify(ctx: Context, paths: list[Path], all_cases: bool = False) -> Report:
    """The trial again, against what is live; changes nothing on the servers."""
    report = Report("verify")
    try:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        registry = {k: r for k, r in hosts.registry().items() if not r.get("removed")} if all_cases else {}
        cases = _installed_cases(ctx, paths, all_cases, registry)
        sites.validate_all(cases, inventory)
        live = sites.read_live_state(cases, inventory, hosts)
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
            site = _site(case, str(installed["ip"]), inventory)
            item.public_ip = site.ip
            item.checks = run_trial(site, inventory, hosts)
            item.records += [str(p) for p in records.write_trial(site, inventory, item.checks, rec.now().isoformat())]
            if not item.passed:
                failed.append(case)
                failures = [f"check '{c.name}': {c.detail}" for c in item.checks if not c.ok]
                item.records.append(str(records.write_incident(case.id, case.fqdn, "verify", "verify", failures, [])))
        _documents(ctx, [item for item in report.cases if item.public_ip])
        if failed:
            raise ProvisionerError(f"verify failed for {', '.join(c.id for c in failed)}")
        report.message = f"{len(cases)} case(s) verified, every check passed"
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


def case_of(ctx: Context, ref: str) -> Case:
    """A case named by its file, or by its id in the records."""
    path = Path(ref)
    if not path.is_file():
        path = ctx.records_dir / ref / "case.yml"
        if not path.exists():
            raise InvalidInput(f"no case {ref}",
                               [FieldError("CASE", f"neither a case file nor a case id in {ctx.records_dir}")])
    return load_cases([path])[0]


def report_documents(ctx: Context, refs: list[str], all_cases: bool, langs: tuple[str, ...]) -> Report:
    """Render the documents again from the records; with --all, the register and the SLA summary."""
    report = Report("report")
    try:
        ids = documents.case_ids(ctx.records_dir) if all_cases else [case_of(ctx, ref).id for ref in refs]
        if not ids:
            raise InvalidInput("no case to report on", [FieldError("CASE", f"no case in {ctx.records_dir}")])
        for case_id in ids:
            item = CaseReport(case_id)
            item.records = [str(p) for p in documents.render_case(ctx.records_dir, case_id, langs)]
            report.cases.append(item)
        register = documents.render_register(ctx.records_dir, with_sla=all_cases)
        report.message = f"documents of {len(ids)} case(s) written; register: {register[0]}"
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


def new_case(ctx: Context, output: Path, fields: dict[str, str]) -> Report:
    report = Report("case new")
    try:
        if output.exists():
            raise InvalidInput(f"{output} exists already", [FieldError("--output", "choose a new file name")])
        output.write_text(scaffold(fields), encoding="utf-8")
        report.cases = [CaseReport(fields["id"], records=[str(output)])]
        report.message = f"case file written: {output} (approval pending)"
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


def record_step(ctx: Context, ref: str, number: int, done: str | None, by: str, note: str) -> Report:
    report = Report("case step")
    try:
        case = case_of(ctx, ref)
        when = None
        if done:
            try:
                when = dt.datetime.fromisoformat(done)
            except ValueError:
                raise InvalidInput(f"--done {done} is not a time",
                                   [FieldError("--done", "write 2026-10-02T09:00:00+08:00")]) from None
        if not (ctx.records_dir / case.id / "case.yml").exists() and case.source is not None:
            rec.Records(ctx.records_dir).case_dir(case.id)
            (ctx.records_dir / case.id / "case.yml").write_text(case.source.read_text(), encoding="utf-8")
        entry = trail.record(ctx.records_dir, case, number, when, by or operator(), note)
        report.cases = [CaseReport(case.id, case.fqdn,
                                   records=[str(ctx.records_dir / case.id / trail.TRAIL_FILE)])]
        report.message = f"step {number} of case {case.id} recorded as done at {entry.done.isoformat()}"
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


@dataclass
class Trail:
    case: Case
    rows: list[trail.Row]
    current_step: int | None
    next_step: int | None
    missing: list[int]


def trail_of(ctx: Context, ref: str) -> Trail:
    case = case_of(ctx, ref)
    records = ctx.records_dir
    return Trail(case, trail.rows(records, case), trail.current_step(records, case),
                 trail.next_step(records, case), trail.missing_steps(records, case))


def all_trails(ctx: Context) -> list[Trail]:
    return [trail_of(ctx, case_id) for case_id in documents.case_ids(ctx.records_dir)]


def destroy(ctx: Context, paths: list[Path], drop_database: bool = False, remove_files: bool = False) -> Report:
    """Remove what apply made for the cases, in one run; databases and files stay unless asked."""
    report = Report("destroy")
    try:
        inventory = ctx.inventory()
        cases = load_cases(paths)
        with inventory_lock(inventory.state_dir, "destroy"):
            hosts = Hosts(inventory)
            live = sites.read_live_state(cases, inventory, hosts)
            gone, never = [], []
            for case in cases:
                installed = live.installed.get(case.id)
                item = CaseReport(case.id, case.fqdn)
                report.cases.append(item)
                if installed is None:
                    item.note = "not installed on this inventory (never applied, or removed): nothing to do"
                    never.append(case.id)
                    continue
                item.public_ip = str(installed["ip"])
                v = sites.site_vars(case, item.public_ip, inventory, password_file=None)
                gone.append(dict(v, state="absent", drop_database=drop_database, remove_files=remove_files))
            if not gone:
                report.message = (f"case {', '.join(never)} is not installed on inventory {inventory.name} "
                                  "(never applied, or removed): nothing to do")
                return report
            result = run_playbook("destroy.yml", inventory.path, inventory.state_dir,
                                  {"provisioner_sites": gone}, on_event=ctx.on_event)
            for item in report.cases:
                item.changed = result.changed_for(item.id) if item.id not in never else 0
            if not result.ok:
                failures = [str(f) for f in result.failures]
                records = rec.Records(ctx.records_dir)
                for v in gone:
                    path = records.write_incident(v["id"], v["fqdn"], "destroy", "removal", failures, [])
                    next(i for i in report.cases if i.id == v["id"]).records.append(str(path))
                raise ProvisionerError("destroy failed: " + "; ".join(failures))
            if drop_database:
                for v in gone:
                    secrets.forget(inventory.state_dir, v["id"])
            kept = [k for k, asked in (("databases", drop_database), ("files", remove_files)) if not asked]
            report.message = f"{len(gone)} case(s) removed" + (f"; kept: {', '.join(kept)}" if kept else "")
    except ProvisionerError as exc:
        return report.fail(exc)
    return report


__all__ = ["EXIT_FAILED", "Context", "Report", "apply", "check", "destroy", "plan", "verify"]
