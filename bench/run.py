"""Benchmark of the install-and-trial on a lab inventory: prints a table of min and median seconds.

Measured, each at least --rounds times, through the real command line:
  - first apply of one case (PHP + MariaDB, trial and records included), from nothing installed;
  - re-apply of the same case (must change nothing);
  - verify of that case;
  - one apply of 50 generated cases (static, PHP + MariaDB, proxy + PostgreSQL with TLS, in turn).
Between rounds the cases are destroyed with their databases and files. Traffic goes only to the
lab's addresses. Usage: .venv/bin/python bench/run.py [-i inventories/local] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "examples" / "releases" / "sikesda-1.4.2.tar.gz"


def provisioner(records: Path, *args: str) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-m", "provisioner", "--records", str(records), *args, "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    out = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({done.returncode}): {out.get('message')}\n{done.stderr[-2000:]}")
    return elapsed, out


def case(index: int, kind: str) -> dict[str, Any]:
    name = f"bench{kind[0]}{index:02d}"
    data: dict[str, Any] = {
        "id": f"bench-{index:03d}",
        "opd": {"code": "BENCH", "name": "Uji Kinerja"},
        "letter": {"number": f"000/{index}/BENCH/2026", "date": "2026-11-01"},
        "approval": {"status": "approved", "by": "Kepala Bidang Aplikasi Informatika", "date": "2026-11-02"},
        "application": {"name": name, "title": f"Aplikasi uji {index}", "category": "umum", "source": "inhouse",
                        "runtime": "static"},
        "hosting": {"subdomain": name, "zone": "tarakankota.go.id", "public_ip": "auto", "tls": "none",
                    "database": {"engine": "none"}},
        "contact": {"name": "Penguji", "email": "uji@example.go.id"},
    }
    if kind == "php":
        data["application"].update(runtime="php", release=str(RELEASE),
                                   trial=[{"path": "/", "status": 200, "contains": "database: ok"}])
        data["hosting"]["database"] = {"engine": "mariadb"}
    elif kind == "proxy":
        data["application"].update(runtime="proxy", upstream="http://127.0.0.1:8081")
        data["hosting"].update(tls="self-signed", database={"engine": "postgresql"})
    return data


def write_cases(folder: Path, cases: list[dict[str, Any]]) -> list[str]:
    paths = []
    for data in cases:
        path = folder / f"{data['id']}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(str(path))
    return paths


def row(name: str, samples: list[float], target: float) -> str:
    return (f"| {name} | {len(samples)} | {min(samples):.2f} | {statistics.median(samples):.2f} | "
            f"{target:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", default=str(ROOT / "inventories" / "local"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--many", type=int, default=50)
    args = parser.parse_args()
    inv = args.inventory
    work = Path(tempfile.mkdtemp(prefix="provisioner-bench-"))
    records = work / "records"
    one = write_cases(work, [case(0, "php")])
    kinds = ("static", "php", "proxy")
    many = write_cases(work, [case(i + 1, kinds[i % 3]) for i in range(args.many)])
    gone = ("-i", inv, "--drop-database", "--remove-files", "--yes")
    provisioner(records, "destroy", *one, *many, *gone)

    results: dict[str, list[float]] = {"first": [], "again": [], "verify": [], "many": []}
    for round_no in range(args.rounds):
        seconds, out = provisioner(records, "apply", *one, "-i", inv)
        results["first"].append(seconds)
        seconds, out = provisioner(records, "apply", *one, "-i", inv)
        assert out["cases"][0]["changed"] == 0, out["cases"][0]["changed"]
        results["again"].append(seconds)
        seconds, _ = provisioner(records, "verify", *one, "-i", inv)
        results["verify"].append(seconds)
        provisioner(records, "destroy", *one, *gone)
        seconds, out = provisioner(records, "apply", *many, "-i", inv)
        results["many"].append(seconds)
        provisioner(records, "destroy", *many, *gone)
        print(f"round {round_no + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in results.items()),
              file=sys.stderr)

    print(f"inventory: {inv}")
    print("| measurement | runs | min (s) | median (s) | target (s) |")
    print("|---|---|---|---|---|")
    print(row("first apply, 1 case (PHP + MariaDB), trial and records", results["first"], 10))
    print(row("re-apply, same case (changed 0)", results["again"], 6))
    print(row("verify, same case", results["verify"], 2))
    print(row(f"one apply of {args.many} cases", results["many"], 60))


if __name__ == "__main__":
    main()
