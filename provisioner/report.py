"""What a command tells its caller: one Report, printed as text or as the one JSON object of the
``--json`` contract (CASE-FORMAT.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provisioner.errors import EXIT_OK, STATUS_BY_EXIT, FieldError, ProvisionerError

if TYPE_CHECKING:
    from provisioner.trial import Check


@dataclass(frozen=True)
class PlannedChange:
    """One thing ``apply`` would do for a case: add it, change it or remove it."""

    action: str  # add | change | remove
    role: str
    thing: str

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "role": self.role, "thing": self.thing}


@dataclass
class CaseReport:
    id: str
    fqdn: str | None = None
    public_ip: str | None = None
    changed: int = 0
    checks: list[Check] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    note: str = ""
    plan: list[PlannedChange] | None = None
    server: str | None = None  # the web host serving the case (an inventory name), once known
    trail: dict[str, Any] | None = None  # `case show|list --json`: the case's SOP trail

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fqdn": self.fqdn, "public_ip": self.public_ip, "changed": self.changed,
                "checks": [c.as_dict() for c in self.checks], "records": self.records,
                **({"note": self.note} if self.note else {}),
                **({"server": self.server} if self.server else {}),
                **({"trail": self.trail} if self.trail is not None else {}),
                **({"plan": [p.as_dict() for p in self.plan]} if self.plan is not None else {})}


@dataclass
class Report:
    command: str
    exit_code: int = EXIT_OK
    message: str = ""
    cases: list[CaseReport] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    diffs: list[str] | None = None
    # What went wrong beside the result and does not change it (an alert mail not sent).
    warnings: list[str] = field(default_factory=list)
    metrics: str | None = None  # verify --metrics: the file written
    started: float = field(default_factory=time.monotonic)

    @property
    def status(self) -> str:
        return STATUS_BY_EXIT.get(self.exit_code, "failed")

    def case(self, case_id: str) -> CaseReport:
        return next(c for c in self.cases if c.id == case_id)

    def fail(self, error: ProvisionerError) -> Report:
        self.exit_code = error.exit_code
        self.message = error.message
        self.errors = list(error.errors) or [FieldError("", error.message)]
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "status": self.status, "exit_code": self.exit_code,
                "message": self.message, "cases": [c.as_dict() for c in self.cases],
                "errors": [e.as_dict() for e in self.errors],
                **({"warnings": self.warnings} if self.warnings else {}),
                **({"metrics": self.metrics} if self.metrics else {}),
                **({"diffs": self.diffs} if self.diffs is not None else {}),
                "duration_s": round(time.monotonic() - self.started, 3)}
