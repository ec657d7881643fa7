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
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner import documents  # noqa: E402
from tests import fleet  # noqa: E402

EXAMPLES = ROOT / "examples" / "cases"


def generate(work: Path, count: int) -> Path:
    """``count`` cases in ``work/records``, made from the example cases in turn."""
    records, cases = work / "records", work / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    examples = [yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yml"))]
    for index in range(count):
        data: dict[str, Any] = copy.deepcopy(examples[index % len(examples)])
        data["id"] = f"2027-{index:04d}"
        data["application"]["name"] = data["hosting"]["subdomain"] = f"bench{index}"
        if data["application"].get("release"):
            data["application"]["release"] = str((EXAMPLES / data["application"]["release"]).resolve())
        path = cases / f"{data['id']}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        fleet.write_records(records, path, f"198.19.0.{10 + index % 240}", passed=index % 7 != 3)
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
