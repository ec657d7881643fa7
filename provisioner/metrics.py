"""``verify --metrics FILE``: the verified cases as Prometheus metrics, in the text format that
node_exporter's textfile collector reads.

The file is written whole or not at all: to a temporary file in the same folder (named so the
collector, which reads ``*.prom`` only, never picks it up), then renamed over the old one, so a
scrape never sees half a file. Timestamps are Unix seconds, as Prometheus counts them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from provisioner.report import CaseReport


@dataclass(frozen=True)
class Family:
    name: str
    help: str


UP = Family("provisioner_case_up", "1 when every trial check of the case passed at the last verify, else 0.")
FAILED = Family("provisioner_case_failed_checks", "Trial checks of the case that failed at the last verify.")
WARNINGS = Family("provisioner_case_warning_checks",
                  "Trial checks of the case that passed with a warning at the last verify (a certificate "
                  "expiring soon).")
EXPIRY = Family("provisioner_certificate_expiry_seconds",
                "Seconds from the last verify until the certificate the site presented expires (negative: "
                "expired).")
NOT_AFTER = Family("provisioner_certificate_expiry_timestamp_seconds",
                   "When the certificate the site presented expires, as a Unix time.")
VERIFIED = Family("provisioner_case_last_verify_timestamp_seconds", "When the case was last verified, as a Unix time.")
FAMILIES = (UP, FAILED, WARNINGS, EXPIRY, NOT_AFTER, VERIFIED)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _samples(case: CaseReport, verified_at: float) -> dict[Family, float]:
    expiry = next((float(c.measured["expires"]) for c in case.checks
                   if c.id == "tls.expiry" and "expires" in c.measured), None)
    samples = {UP: 1.0 if case.passed else 0.0, FAILED: float(sum(not c.ok for c in case.checks)),
               WARNINGS: float(sum(c.warning for c in case.checks)), VERIFIED: verified_at}
    if expiry is not None:  # TLS cases whose certificate was read
        samples |= {EXPIRY: expiry - verified_at, NOT_AFTER: expiry}
    return samples


def render(cases: Iterable[CaseReport], verified_at: float) -> str:
    """Every family with its HELP and TYPE lines, then one sample per case (labels case, fqdn)."""
    per_case = [(case, _samples(case, verified_at)) for case in cases]
    lines = []
    for family in FAMILIES:
        lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} gauge"]
        for case, samples in per_case:
            if family in samples:
                labels = f'case="{_label(case.id)}",fqdn="{_label(case.fqdn or "")}"'
                lines.append(f"{family.name}{{{labels}}} {_number(samples[family])}")
    return "\n".join(lines) + "\n"


def writable_target(path: Path) -> str | None:
    """Why the metrics could not be written to ``path`` (asked before the trial runs), or None."""
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, then a rename. Mode 0644,
    so a collector running as another user can read it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
