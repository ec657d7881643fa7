"""What every command shares: its context, loading cases, and the one path from error to report."""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner import journal
from provisioner.case import Case, load_case, require_approved
from provisioner.errors import FieldError, InvalidInput, ProvisionerError, Refused
from provisioner.inventory import Inventory, load_inventory
from provisioner.language import _
from provisioner.report import CaseReport, Report
from provisioner.vault import VaultIdentities

if TYPE_CHECKING:  # placement, documents, hosts and ansible are heavy: imported where used
    from provisioner import placement, site
    from provisioner.ansible import EventCallback
    from provisioner.hosts import Hosts

# Where records go for a command that reads no inventory (case, report) unless --records says.
DEFAULT_RECORDS = Path("records")


@dataclass
class Context:
    """What every command shares: the inventory and the vault identities it is read with, where
    records go, the live display."""

    inventory_path: Path | None
    records: Path | None = None  # --records / PROVISIONER_RECORDS; None: the inventory's, else ./records
    vault: VaultIdentities = field(default_factory=VaultIdentities)
    on_event: EventCallback | None = None
    on_progress: Callable[[str], None] = lambda message: None
    by: str = ""  # --by: who runs the command, for the SOP trail (see ``operator``)
    _inventory: Inventory | None = field(default=None, init=False, repr=False)

    def inventory(self, hosts_needed: bool = True) -> Inventory:
        """The inventory (read once); unless ``hosts_needed`` is False, refuse one whose lab hosts are not up."""
        if self.inventory_path is None:
            raise InvalidInput(_("this command needs an inventory"),
                               [FieldError("-i", _("name an inventory directory or file"))])
        if self._inventory is None:
            self._inventory = load_inventory(self.inventory_path, self.vault)
        if hosts_needed and self._inventory.lab_not_up:
            raise ProvisionerError(self._inventory.lab_not_up + "; nothing was changed")
        return self._inventory

    @property
    def records_dir(self) -> Path:
        """``--records`` if given; else the inventory's (``provisioner_records_dir``, or
        ``<state_dir>/records``); without an inventory, ``records/`` here."""
        if self.records is not None:
            return self.records
        if self.inventory_path is not None:
            return self.inventory(hosts_needed=False).records_dir
        return DEFAULT_RECORDS


@contextlib.contextmanager
def reporting(command: str) -> Iterator[Report]:
    """The command's report; a ProvisionerError raised inside becomes its exit code and errors."""
    report = Report(command)
    try:
        yield report
    except ProvisionerError as exc:
        report.fail(exc)


def load_cases(paths: list[Path], release_needed: bool = True) -> list[Case]:
    """Load every file, then report every problem of every file at once (``release_needed``: see
    ``case.load_case``)."""
    cases, errors = [], []
    message = ""
    for path in paths:
        try:
            cases.append(load_case(path, release_needed))
        except InvalidInput as exc:
            prefix = f"{path}: " if len(paths) > 1 else ""
            errors += [FieldError(f"{prefix}{e.path}", e.message) for e in exc.errors]
            message = exc.message
    if errors:
        raise InvalidInput(message if len(paths) == 1
                           else _("{count} problems in the case files").format(count=len(errors)), errors)
    if not cases:
        raise InvalidInput(_("no case given"), [FieldError("CASE", _("name at least one case file"))])
    return cases


def require_all_approved(cases: list[Case]) -> None:
    refused = []
    for case in cases:
        try:
            require_approved(case)
        except Refused as exc:
            refused += [FieldError(f"{case.id}: {e.path}", e.message) for e in exc.errors]
    if refused:
        raise Refused(_("only approved cases may be applied; nothing was changed"), refused)


def approved_cases(ctx: Context, paths: list[Path]) -> tuple[Inventory, list[Case]]:
    """The inventory, and the cases once every one is valid and approved."""
    inventory = ctx.inventory()
    cases = load_cases(paths)
    require_all_approved(cases)
    return inventory, cases


def placed(cases: list[Case], inventory: Inventory, hosts: Hosts,
           grants: bool = False) -> tuple[dict[str, site.Placement], placement.LiveState]:
    """Where each case goes (address, web and database host), from what is live; any conflict
    refuses the whole batch (exit 3)."""
    from provisioner import placement

    placement.validate_all(cases, inventory)
    live = placement.read_live_state(cases, inventory, hosts, grants=grants)
    live.unfinished = journal.unfinished(inventory.state_dir)
    chosen, conflicts = placement.place(cases, inventory, live)
    if conflicts:
        raise Refused(_("conflict with what is live on the servers; nothing was changed"), conflicts)
    return chosen, live


def case_file(ctx: Context, ref: str | Path) -> Path:
    """The file of a case named by its file, or by its id in the records (its ``case.yml``)."""
    path = Path(ref)
    if not path.is_file():
        path = ctx.records_dir / str(ref) / "case.yml"
        if not path.exists():
            raise InvalidInput(_("no case {case}").format(case=ref),
                               [FieldError("CASE", _("{case} is neither a case file nor a case id in {records}").format(
                                   case=ref, records=ctx.records_dir))])
    return path


def case_of(ctx: Context, ref: str) -> Case:
    """A case named by its file, or by its id in the records."""
    return load_cases([case_file(ctx, ref)])[0]


def operator(records: Path | None = None, by: str = "") -> str:
    """Who ran the command, for the SOP trail: a person, not the Unix account the tool runs as.

    ``--by``; else PROVISIONER_OPERATOR; else the person behind ``sudo`` (SUDO_USER); else the
    ``pelaksana`` of the records' documents.yml, when it names someone; else the login name.
    """
    for name in (by, os.environ.get("PROVISIONER_OPERATOR", ""), os.environ.get("SUDO_USER", "")):
        if name.strip() and name.strip() != "root":
            return name.strip()
    if records is not None:
        from provisioner import documents

        pelaksana = documents.settings(records)["pelaksana"]
        if pelaksana != documents.DEFAULT_SETTINGS["pelaksana"]:
            return pelaksana
    return getpass.getuser()


def render_documents(ctx: Context, items: list[CaseReport]) -> None:
    """Render the cases' documents and the register again from their records."""
    from provisioner import documents

    ctx.on_progress(_("writing the documents"))
    by_id = {item.id: item for item in items}
    ready = [case_id for case_id in by_id if (ctx.records_dir / case_id / "case.yml").exists()]
    for path in documents.render_cases(ctx.records_dir, ready):
        by_id[path.parent.parent.parent.name].records.append(str(path))
    documents.render_register(ctx.records_dir)


def installed_on(hosts: Hosts) -> dict[str, dict[str, Any]]:
    """The cases the web hosts record as installed (removed ones keep a record of what they kept)."""
    from provisioner import placement

    try:
        registry = hosts.registry()
    except (OSError, RuntimeError) as exc:
        raise placement.ServerDown(f"a server cannot be read: {exc}") from None
    return {case_id: record for case_id, record in registry.items() if not record.get("removed")}


def installed_cases(ctx: Context, paths: list[Path], all_cases: bool, installed: dict[str, Any]) -> list[Case]:
    """The cases named (files, or ids in the records), or with ``all_cases`` every installed one."""
    if all_cases:
        found = [ctx.records_dir / case_id / "case.yml" for case_id in sorted(installed)]
        missing = [p for p in found if not p.exists()]
        if missing:
            raise InvalidInput(_("installed cases have no case file in the records"),
                               [FieldError("--all", _("{path} is missing").format(path=p)) for p in missing])
        paths = found
    if not paths:
        raise InvalidInput(_("no case given"), [FieldError("CASE", _("name case files, or --all"))])
    return load_cases([case_file(ctx, p) for p in paths], release_needed=False)
