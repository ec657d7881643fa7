"""``provisioner rollback``: apply again the case file each case was applied from before its current one.

The records keep every case file applied (``riwayat-kasus/``) and the web host keeps the last
releases, so going back is an ``apply`` of the earlier file: its release folder is still there
(only the ``current`` link moves), its files are written as they were, the trial runs, and the
records say what is live. Its release archive must still exist where the earlier file names it.
"""

from __future__ import annotations

from provisioner.commands.base import Context, case_of, load_cases, reporting, require_all_approved
from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _
from provisioner.records import APPLIED_DIR, Records
from provisioner.report import Report
from provisioner.run import Run


def run(ctx: Context, refs: list[str]) -> Report:
    with reporting("rollback") as report:
        inventory = ctx.inventory()
        records = Records(ctx.records_dir)
        earlier, missing = [], []
        for ref in refs:
            case_id = case_of(ctx, ref).id
            path = records.previous_applied(case_id)
            if path is None:
                earlier_file = _("the records hold no earlier applied case file ({path})")
                folder = ctx.records_dir / case_id / APPLIED_DIR
                missing.append(FieldError(f"{case_id}", earlier_file.format(path=folder)))
            else:
                earlier.append(path)
        if missing:
            raise InvalidInput(_("nothing to roll back to; nothing was changed"), missing)
        if not earlier:
            raise InvalidInput(_("no case given"), [FieldError("CASE", _("name at least one case file or case id"))])
        cases = load_cases(earlier)
        require_all_approved(cases)
        with Run(ctx, inventory, cases, report) as transaction:
            transaction.execute()
    return report
