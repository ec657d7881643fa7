"""Benchmark of the install-and-trial on a lab inventory: prints a table of min and median seconds.

Measured, each at least --rounds times, through the real command line:
  - first apply of one case (PHP + MariaDB, trial and records included), from nothing installed;
  - re-apply of the same case (must change nothing);
  - verify of that case;
  - one apply of 50 generated cases (static, PHP + MariaDB, proxy + PostgreSQL with TLS, in turn).
Between rounds the cases are destroyed with their databases and files. Traffic goes only to the
lab's addresses.

Usage:
  .venv/bin/python bench/run.py [-i inventories/local] [--rounds 3]     # one inventory, lab already up
  .venv/bin/python bench/run.py --topology local,multi [--rounds 3]     # each lab in turn, side by side

With --topology, each lab is brought up (the other one down first: they share the pool) and
the table has a min/median pair per topology: local (every service on this machine) and multi
(web1, db1, ns1, ns2 over SSH).
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

from provisioner.inventory import TOPOLOGIES

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


ROWS = (("first", "first apply, 1 case (PHP + MariaDB), trial and records", 10),
        ("again", "re-apply, same case (changed 0)", 6),
        ("verify", "verify, same case", 2),
        ("many", "one apply of {many} cases", 60))


def measure(inv: str, rounds: int, many_count: int) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="provisioner-bench-"))
    records = work / "records"
    one = write_cases(work, [case(0, "php")])
    kinds = ("static", "php", "proxy")
    many = write_cases(work, [case(i + 1, kinds[i % 3]) for i in range(many_count)])
    gone = ("-i", inv, "--drop-database", "--remove-files", "--yes")
    provisioner(records, "destroy", *one, *many, *gone)

    results: dict[str, list[float]] = {"first": [], "again": [], "verify": [], "many": []}
    for round_no in range(rounds):
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
        print(f"{Path(inv).name} round {round_no + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in results.items()),
              file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", default=str(ROOT / "inventories" / "local"))
    parser.add_argument("--topology", help="comma-separated labs to bring up and measure in turn: local,multi")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--many", type=int, default=50)
    args = parser.parse_args()
    labs = TOPOLOGIES
    scratch = Path(tempfile.mkdtemp(prefix="provisioner-bench-records-"))
    measured: dict[str, dict[str, list[float]]] = {}
    if args.topology:
        for topology in args.topology.split(","):
            for other in labs:
                if other != topology:
                    provisioner(scratch, "lab", "down", "--topology", other)
            provisioner(scratch, "lab", "up", "--topology", topology)
            measured[topology] = measure(str(labs[topology]), args.rounds, args.many)
    else:
        measured[Path(args.inventory).name] = measure(args.inventory, args.rounds, args.many)

    names = list(measured)
    print("inventories: " + ", ".join(f"{n} ({labs[n].name if n in labs else n})" for n in names))
    print("| measurement | runs | " + " | ".join(f"{n} min (s) | {n} median (s)" for n in names) + " | target (s) |")
    print("|---|---|" + "---|---|" * len(names) + "---|")
    for key, label, target in ROWS:
        cells = " | ".join(f"{min(m[key]):.2f} | {statistics.median(m[key]):.2f}" for m in measured.values())
        print(f"| {label.format(many=args.many)} | {len(measured[names[0]][key])} | {cells} | {target} (local) |")


if __name__ == "__main__":
    main()
