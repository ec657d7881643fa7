"""``provisioner report``: render the documents again from the records; with --all, the register
and the SLA summary too."""

from __future__ import annotations

from provisioner import documents
from provisioner.commands.base import Context, case_of, reporting
from provisioner.errors import FieldError, InvalidInput
from provisioner.language import _
from provisioner.report import CaseReport, Report


def run(ctx: Context, refs: list[str], all_cases: bool, langs: tuple[str, ...]) -> Report:
    with reporting("report") as report:
        ids = documents.case_ids(ctx.records_dir) if all_cases else [case_of(ctx, ref).id for ref in refs]
        if not ids:
            raise InvalidInput(_("no case to report on"),
                               [FieldError("CASE", _("no case in {records}").format(records=ctx.records_dir))])
        report.cases = [CaseReport(case_id) for case_id in ids]
        # One batch, so that many cases' PDFs spread over several processes; every language's
        # PDFs, also those that apply leaves to be made on demand (setting pdf_languages).
        for path in documents.render_cases(ctx.records_dir, ids, langs=langs, pdf_langs=langs):
            report.case(path.parent.parent.parent.name).records.append(str(path))
        register = documents.render_register(ctx.records_dir, with_sla=all_cases)
        report.message = _("documents of {count} case(s) written; register: {register}").format(
            count=len(ids), register=register[0])
    return report
