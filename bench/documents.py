"""Benchmark of the documents: seconds to render generated cases cold, then again unchanged (warm).

Generates --cases records folders in a temporary directory, as ``apply`` leaves them (the example
cases in turn, each with its configuration, trial and trail; every seventh with a failed trial and
an incident), then times ``render_cases`` and ``render_register`` on them, cold and warm.
No lab and no root needed; nothing outside the temporary directory is written.

Usage:
  .venv/bin/python bench/documents.py [--cases 50] [--register-cases 500] [--keep]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from provisioner import documents, trail
from provisioner.case import load_case
from provisioner.inventory import load_inventory
from provisioner.records import Records
from provisioner.site import build
from provisioner.trial import Check

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cases"
WITA = dt.timezone(dt.timedelta(hours=8))


def generate(work: Path, count: int) -> Path:
    """``count`` cases in ``work/records``, made from the example cases in turn."""
    records, cases = work / "records", work / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    inventory = load_inventory(ROOT / "inventories" / "local")
    store = Records(records)
    examples = [yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yml"))]
    for index in range(count):
        data: dict[str, Any] = copy.deepcopy(examples[index % len(examples)])
        data["id"] = f"2027-{index:04d}"
        data["application"]["name"] = data["hosting"]["subdomain"] = f"bench{index}"
        if data["application"].get("release"):
            data["application"]["release"] = str((EXAMPLES / data["application"]["release"]).resolve())
        path = cases / f"{data['id']}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        case = load_case(path)
        ip = f"198.19.0.{10 + index % 240}"
        site = build(case, ip, inventory, password_file=Path("/nonexistent"))
        store.write_case(site)
        store.write_configuration(site, inventory, {"apache": "Apache/2.4.71"}, "2026-11-27T10:00:00+08:00")
        passed = index % 7 != 3
        checks = [Check("dns A on ns1", True, f"-> {ip}", 0.001), Check("trial[0] GET /", passed, "200", 0.02)]
        store.write_trial(site, inventory, checks, "2026-11-27T10:05:00+08:00")
        if passed:
            trail.record_install(records, case, dt.datetime(2026, 11, 27, 10, 0, tzinfo=WITA),
                                 dt.datetime(2026, 11, 27, 10, 5, tzinfo=WITA), "penguji")
        else:
            store.write_incident(case.id, case.fqdn, "apply", "trial", ["check 'trial[0] GET /': 500"],
                                 [f"{case.id}: database: database, user, grant"])
    return records


def timed(what: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = what()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=50, help="cases whose documents are rendered")
    parser.add_argument("--register-cases", type=int, default=0,
                        help="also time the register over this many cases (e.g. 500)")
    parser.add_argument("--keep", action="store_true", help="leave the generated records folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="provisioner-bench-documents-"))
    try:
        records = generate(work / "render", args.cases)
        ids = documents.case_ids(records)
        cold, paths = timed(lambda: documents.render_cases(records, ids))
        pdfs = sum(1 for p in paths if p.suffix == ".pdf")
        warm, _ = timed(lambda: documents.render_cases(records, ids))
        print(f"render {len(ids)} cases ({pdfs} PDFs): cold {cold:.2f} s ({cold / max(pdfs, 1):.3f} s per PDF), "
              f"warm {warm:.2f} s")
        if args.register_cases:
            records = generate(work / "register", args.register_cases)
            cold, _ = timed(lambda: documents.render_register(records))
            warm, _ = timed(lambda: documents.render_register(records))
            print(f"register of {args.register_cases} cases: cold {cold:.2f} s, warm {warm:.2f} s")
    finally:
        if args.keep:
            print(f"records kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
