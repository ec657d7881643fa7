"""One ``apply`` as a transaction: it owns the lock, the journal, the signals and the undo.

Order follows the design's principles: refuse on any conflict before changing anything,
provision every case in one ansible-runner run, trial each case from outside, and, if anything
fails or a signal stops the run, undo what this run created (as the roles reported it), write an
incident record per failed case and exit 1. A case that was installed before the run is never
removed by an undo: it is put back as it was applied before (its case file as the records kept
it; its previous release is still on the web host), trialled again, and the incident says how
that went.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from provisioner import convergence, documents, failpoints, interrupt, journal, placement, secrets, site, sop, trail
from provisioner import records as rec
from provisioner.ansible import PlaybookResult, run_playbook
from provisioner.bilingual import Said, join
from provisioner.case import Case
from provisioner.commands.base import Context, operator, placed, render_documents
from provisioner.errors import ProvisionerError
from provisioner.hosts import Hosts
from provisioner.inventory import Inventory
from provisioner.language import N_, _
from provisioner.lock import inventory_lock
from provisioner.report import CaseReport, Report
from provisioner.trial import certificate_of, run_trials, software_versions

RESTORED_EN = "restored to the case as applied before this run"


@dataclass
class Failure:
    """Why a run failed, per case: the stage it failed in and what went wrong."""

    stage: str
    reasons: dict[str, list[str | Said]] = field(default_factory=dict)

    def first(self) -> str:
        """The first case's reasons, in English, for the run's message."""
        return "; ".join(r.en if isinstance(r, Said) else r for r in next(iter(self.reasons.values())))


class Run:
    """``with Run(...) as run: run.execute()``: the lock is held for the whole block."""

    def __init__(self, ctx: Context, inventory: Inventory, cases: list[Case], report: Report,
                 full: bool = False) -> None:
        self.ctx = ctx
        self.full = full
        self.inventory = inventory
        self.cases = cases
        self.report = report
        self.records = rec.Records(ctx.records_dir)
        self.hosts = Hosts(inventory)
        self.sites: list[site.Site] = []
        self.unchanged: list[site.Site] = []  # converged: no Ansible, no trial (provisioner/convergence.py)
        self.new_sites: list[site.Site] = []
        self.leftovers: set[str] = set()
        self.previous: dict[str, str] = {}  # case id -> its case file as applied before, if installed
        self._lock = contextlib.ExitStack()

    def __enter__(self) -> Run:
        self._lock.enter_context(inventory_lock(self.inventory.state_dir, "apply"))
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._lock.close()

    @property
    def state_dir(self) -> Path:
        return self.inventory.state_dir

    # --- stages ------------------------------------------------------------------------------

    def execute(self) -> None:
        self._place()
        if not self.sites:
            self.report.message = _("{count} case(s) already as their case files say: changed 0, no Ansible run "
                                    "(`verify` trials them, `apply --full` runs everything)").format(
                count=len(self.unchanged))
            return
        started = rec.now()
        documents.preload()
        result = PlaybookResult("provision.yml", -1, "not started")
        with interrupt.watch() as stop:
            try:
                self.ctx.on_progress(_("provisioning {count} case(s) on inventory {inventory}").format(
                    count=len(self.sites), inventory=self.inventory.name))
                result = run_playbook("provision.yml", self.inventory, self.state_dir,
                                      {"provisioner_sites": [s.vars.as_vars() for s in self.sites]},
                                      on_event=self.ctx.on_event, cancel=stop)
                failpoints.hit("apply-after-provisioning")
                for s in self.sites:
                    self.report.case(s.id).changed = result.changed_for(s.id)
                    if s in self.new_sites:
                        journal.note(self.state_dir, s.id, sorted(result.created_for(s.id)))
                failure = (Failure("provisioning", {s.id: [str(f) for f in result.failures] for s in self.sites})
                           if not result.ok else self._trial(started, stop))
            except Exception as exc:  # a bug: the same undo, incident and message as any failure
                message = (f"unexpected error {type(exc).__name__}: {exc}; this is a fault of provisioner: "
                           "report it with the output of the same command run with --debug")
                failure = Failure("unexpected", {s.id: [message] for s in self.sites})
                # What the roles reported is not known: everything of a new case goes, as after a crash.
                self.leftovers |= {s.id for s in self.new_sites}
            if stop:
                # A task cut short reports nothing: everything of a new case goes, as after a crash.
                message = f"the run was stopped by {stop.signal_name} before it finished"
                failure = Failure("stopped", {s.id: [message, *failure.reasons.get(s.id, [])] for s in self.sites})
                self.leftovers |= {s.id for s in self.new_sites}
        if failure.reasons:
            self._fail(failure, result)
        self._finish(started, result)

    def _place(self) -> None:
        """Addresses and conflicts; then the sites, the case copies and the journal."""
        try:
            chosen, live = placed(self.cases, self.inventory, self.hosts, grants=not self.full)
        except placement.ServerDown as exc:
            self.report.cases = [CaseReport(case.id, case.fqdn) for case in self.cases]
            for case in self.cases:
                nowhere = site.Placement("0.0.0.0", case.server or self.inventory.first("web").name)
                self.records.write_case(site.build(case, nowhere, self.inventory, password_file=None))
                self.report.case(case.id).records.append(str(self.records.write_incident(
                    case.id, case.fqdn, "apply", "preflight", [exc.message], [])))
            render_documents(self.ctx, self.report.cases)
            raise
        sites = []
        secrets.seal(self.state_dir)  # an earlier version's plaintext passwords, of any case
        for case in self.cases:
            pw = secrets.ensure_password(self.state_dir, case.id) if case.database else None
            sites.append(site.build(case, chosen[case.id], self.inventory, password_file=pw,
                                    installed=placement.is_installed(case, live)))
        self.report.cases = [CaseReport(s.id, s.fqdn, s.ip, server=s.web_host) for s in sites]
        self.sites, self.unchanged = convergence.split(sites, self.inventory, live, self.full)
        for s in self.unchanged:
            self.report.case(s.id).note = N_("unchanged")
        self.new_sites = [s for s in self.sites if not s.vars.installed]
        self.leftovers = {s.id for s in self.new_sites if s.id in live.unfinished}
        for s in self.new_sites:
            s.vars.recover = s.id in self.leftovers
        for s in self.sites:
            text = self.records.case_copy(s.id) if s.vars.installed else None
            if text is not None:
                self.previous[s.id] = text
            self.records.write_case(s)
        for s in self.new_sites:
            journal.begin(self.state_dir, s.id, s.fqdn, s.placement, shared=s.vars.shared)

    def _trial(self, started: dt.datetime, stop: interrupt.StopRequest) -> Failure:
        self.ctx.on_progress(_("running the trial"))
        failure = Failure("trial")
        if stop:
            return failure
        checks = run_trials(self.sites, self.inventory, self.hosts)
        for s in self.sites:
            item = self.report.case(s.id)
            item.checks = checks[s.id]
            versions = software_versions(s, self.inventory, self.hosts)
            item.records += [str(p) for p in self.records.write_configuration(
                s, self.inventory, versions, started.isoformat(), s in self.new_sites,
                certificate_of(item.checks))]
            item.records += [str(p) for p in self.records.write_trial(s, self.inventory, item.checks,
                                                                       rec.now().isoformat())]
            if not item.passed:
                failure.reasons[s.id] = [c.failure() for c in item.checks if not c.ok]
        return failure

    def _undo(self, failed: set[str], result: PlaybookResult) -> list[Said]:
        """Remove what this run created for new cases that failed; say what, per case.

        What a case got is what the roles reported for it; for a case whose earlier run died
        (``leftovers``, from the journal), everything of it on the servers is its own and goes too.
        """
        removals, undone = [], []
        for s in self.new_sites:
            if s.id not in failed:
                continue
            changes = result.changes_for(s.id)
            whole = s.id in self.leftovers
            if not changes and not whole:
                # Nothing of it was made (a preflight refusal): no leftover for the next run to clean.
                journal.end(self.state_dir, s.id)
                continue
            created = result.created_for(s.id)
            removals.append(s.vars.removal(drop_database=whole or "database" in created,
                                           remove_files=whole or "directories" in created))
            what = [Said.data(f"{role}: {', '.join(c.changed)}") for role, c in sorted(changes.items()) if c.changed]
            what += [Said("everything left by the earlier run that died",
                          "semua yang ditinggalkan proses sebelumnya yang terhenti")] if whole else []
            undone.append(Said.data(f"{s.id}: ") + join(what, "; "))
        if not removals:
            return []
        self.ctx.on_progress(_("undoing what this run created for {count} case(s)").format(count=len(removals)))
        result_undo = run_playbook("destroy.yml", self.inventory, self.state_dir,
                                   {"provisioner_sites": removals}, on_event=self.ctx.on_event)
        if not result_undo.ok:
            undone.append(Said("THE UNDO ITSELF FAILED, check by hand: ",
                               "PEMBATALAN ITU SENDIRI GAGAL, periksa secara manual: ")
                          + "; ".join(str(f) for f in result_undo.failures))
        else:
            for removal in removals:
                journal.end(self.state_dir, removal["id"])
        return undone

    def _restore(self, failed: set[str]) -> dict[str, list[Said]]:
        """Put each installed case that failed back as it was applied before this run; say how, per case.

        Its earlier case file goes back into the records and through the same playbook: its
        release folder is still on the web host (only the link moves back), its files are written
        as they were, and php-fpm reloads. Then it is trialled and its records rewritten.
        """
        from provisioner.case import load_case

        said: dict[str, list[Said]] = {}
        back: list[site.Site] = []
        for s in self.sites:
            if s.id not in failed or not s.vars.installed:
                continue
            text = self.previous.get(s.id)
            if text is None:
                said[s.id] = [Said(f"{s.id}: NOT RESTORED, the records ({self.records.root}) hold no earlier "
                                   "case file of it",
                                   f"{s.id}: TIDAK DIKEMBALIKAN, catatan ({self.records.root}) tidak menyimpan "
                                   "berkas kasus sebelumnya")]
                continue
            path = self.records.put_back_case(s.id, text)
            try:
                case = load_case(path)
            except ProvisionerError as exc:
                said[s.id] = [Said(f"{s.id}: NOT RESTORED, its earlier case file no longer loads: {exc.message}",
                                   f"{s.id}: TIDAK DIKEMBALIKAN, berkas kasus sebelumnya tidak dapat dibaca lagi: "
                                   f"{exc.message}")]
                continue
            pw = secrets.ensure_password(self.state_dir, case.id) if case.database else None
            back.append(site.build(case, s.placement, self.inventory, password_file=pw, installed=True))
        if not back:
            return said
        self.ctx.on_progress(_("restoring {count} installed case(s) as they were before this run").format(
            count=len(back)))
        result = run_playbook("provision.yml", self.inventory, self.state_dir,
                              {"provisioner_sites": [b.vars.as_vars() for b in back]}, on_event=self.ctx.on_event)
        checks = run_trials(back, self.inventory, self.hosts) if result.ok else {}
        now = rec.now().isoformat()
        for b in back:
            release = f" (release {b.vars.release_id})" if b.vars.release_id else ""
            if not result.ok:
                said[b.id] = [Said(f"{b.id}: RESTORE FAILED, check by hand: ",
                                   f"{b.id}: PENGEMBALIAN GAGAL, periksa secara manual: ")
                              + "; ".join(str(f) for f in result.failures)]
                continue
            versions = software_versions(b, self.inventory, self.hosts)
            self.records.write_configuration(b, self.inventory, versions, now, first=False,
                                             certificate=certificate_of(checks[b.id]))
            self.records.write_trial(b, self.inventory, checks[b.id], now)
            failed_checks = [c.failure() for c in checks[b.id] if not c.ok]
            said[b.id] = [Said(f"{b.id}: {RESTORED_EN}{release}; ",
                               f"{b.id}: dikembalikan ke kasus seperti diterapkan sebelum proses ini{release}; ")
                          + (Said("its trial passes again", "uji cobanya lulus lagi") if not failed_checks
                             else Said("ITS TRIAL STILL FAILS: ", "UJI COBANYA MASIH GAGAL: ")
                             + join(failed_checks, "; "))]
        return said

    def _fail(self, failure: Failure, result: PlaybookResult) -> None:
        undone = self._undo(set(failure.reasons), result)
        restored = self._restore(set(failure.reasons))
        for s in self.sites:
            if s.id not in failure.reasons:
                continue
            mine = [u for u in undone if u.en.startswith(f"{s.id}:") or "UNDO" in u.en] + restored.get(s.id, [])
            impact = None
            if s.id in restored:
                impact = "restored" if RESTORED_EN in restored[s.id][0].en else "not_restored"
            path = self.records.write_incident(s.id, s.fqdn, "apply", failure.stage, failure.reasons[s.id], mine,
                                               impact_of=impact)
            self.report.case(s.id).records.append(str(path))
        render_documents(self.ctx, self._applied_reports())
        back = [case_id for case_id, lines in restored.items() if RESTORED_EN in lines[0].en]
        put_back = _(" ({cases} put back as before)").format(cases=", ".join(back)) if back else ""
        if failure.stage == "trial":
            raise ProvisionerError(_("the trial failed for {cases}{put_back}").format(
                cases=", ".join(failure.reasons), put_back=put_back))
        first = failure.first()
        if failure.stage == "unexpected":
            raise ProvisionerError(_("the run was undone{put_back}: {reason}").format(put_back=put_back, reason=first))
        raise ProvisionerError(_("{stage} failed{put_back}: {reason}").format(stage=failure.stage, put_back=put_back,
                                                                            reason=first))

    def _finish(self, started: dt.datetime, result: PlaybookResult) -> None:
        ended = rec.now()
        for s in self.sites:
            journal.end(self.state_dir, s.id)
            self.records.remember_applied(s.id)
            # The trail keeps the installation: a re-apply of a live case does not rewrite step 9.
            if s in self.new_sites or sop.INSTALL_STEP not in trail.load(self.ctx.records_dir, s.case):
                trail.record_install(self.ctx.records_dir, s.case, started, ended,
                                     operator(self.ctx.records_dir, self.ctx.by))
        render_documents(self.ctx, self._applied_reports())
        self.report.message = (_("{count} case(s) live, every trial check passed; changed {changed}; {unchanged} "
                                 "unchanged, left alone") if self.unchanged
                               else _("{count} case(s) live, every trial check passed; changed {changed}")).format(
            count=len(self.sites), changed=result.changed, unchanged=len(self.unchanged))

    def _applied_reports(self) -> list[CaseReport]:
        return [self.report.case(s.id) for s in self.sites]
