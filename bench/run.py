"""Benchmark of provisioner on a lab inventory: prints a Markdown table of min and median seconds.

Measured through the real command line, on the lab that is up (``-i``), or on each lab in turn
(``--topology local,multi``):
  - ``provisioner --help`` and ``check`` of one case (no inventory): startup cost;
  - one case (PHP + MariaDB): first apply (trial and records included), re-apply (changed 0),
    verify;
  - the plain-playbook baseline (bench/plain/site.yml: address, vhost, MariaDB, PostgreSQL, DNS
    A for one site, as an engineer would write it by hand), first run and re-run, measured in the
    same bench run so the ratio to our re-apply is measured, not quoted;
  - a fleet of ``--fleet`` generated cases (tests/fleet.py: static, PHP + MariaDB, proxy +
    PostgreSQL + TLS in turn, every 4th on the shared address): one apply, re-apply unchanged,
    verify --all, destroy, and the peak memory (RSS summed over the process tree) of the apply.
Between rounds the cases are destroyed with their databases and files. Traffic goes only to the
lab's addresses.

Usage:
  .venv/bin/python bench/run.py [-i inventories/local] [--rounds 3] [--fleet 500 --fleet-rounds 1]
  .venv/bin/python bench/run.py --topology local,multi --fleet 0     # the one-case rows per lab
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.inventory import TOPOLOGIES  # noqa: E402
from provisioner.processes import descendants  # noqa: E402
from tests import fleet  # noqa: E402

PLAIN = ROOT / "bench" / "plain" / "site.yml"


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """The largest RSS summed over a process and its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kib = pid, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            total = sum(_rss_kib(p) for p in {self.pid, *descendants(self.pid)})
            self.peak_kib = max(self.peak_kib, total)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak_kib / 1024


def timed(command: list[str], memory: bool = False) -> tuple[float, dict[str, Any], float]:
    """(seconds, the --json output if any, peak MiB of the process tree if asked)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakMemory(process.pid) if memory else None
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - start
    mib = peak.stop() if peak else 0.0
    out = json.loads(stdout) if stdout.strip().startswith("{") else {}
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} failed ({process.returncode}): {out.get('message')}\n"
                         f"{stderr[-2000:]}")
    return elapsed, out, mib


def provisioner(records: Path, *args: str, memory: bool = False) -> tuple[float, dict[str, Any], float]:
    return timed([sys.executable, "-m", "provisioner", "--records", str(records), *args, "--json"], memory)


def plain(inv: str, *extra: str) -> float:
    ansible = str(Path(sys.executable).parent / "ansible-playbook")
    env_cfg = {"ANSIBLE_CONFIG": str(ROOT / "playbooks" / "ansible.cfg")}
    os.environ.update(env_cfg)
    seconds, _, _ = timed([ansible, "-i", inv, str(PLAIN), *extra])
    return seconds


ROWS = (
    ("help", "`provisioner --help`", "0.2"),
    ("check", "`check` of one case, no inventory", "0.2"),
    ("first", "one case (PHP + MariaDB): first apply, trial and records", "4"),
    ("again", "one case: re-apply (changed 0)", "1"),
    ("verify", "one case: verify", "0.5"),
    ("plain_first", "plain playbook, one site: first run", "-"),
    ("plain_again", "plain playbook, one site: re-run", "> one-case re-apply"),
    ("fleet_apply", "{n} cases: one apply", "120"),
    ("fleet_again", "{n} cases: re-apply unchanged", "10"),
    ("fleet_verify", "{n} cases: verify --all", "15"),
    ("fleet_destroy", "{n} cases: destroy", "60"),
    ("fleet_mib", "{n} cases: peak memory of the apply (MiB)", "1024"),
)


def measure(inv: str, rounds: int, fleet_size: int, fleet_rounds: int) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="provisioner-bench-"))
    records = work / "records"
    one = fleet.write(work / "one", 2, shared_every=0, prefix="bench")[1:]  # the PHP + MariaDB case
    many = fleet.write(work / "fleet", fleet_size, prefix="benchfleet") if fleet_size else []
    gone = ("-i", inv, "--drop-database", "--remove-files", "--yes")
    provisioner(records, "destroy", *one, *many, *gone)
    plain(inv, "--tags", "absent")
    results: dict[str, list[float]] = {key: [] for key, _, _ in ROWS}
    for round_no in range(rounds):
        results["help"].append(timed([sys.executable, "-m", "provisioner", "--help"])[0])
        results["check"].append(provisioner(records, "check", *one)[0])
        results["first"].append(provisioner(records, "apply", *one, "-i", inv)[0])
        seconds, out, _ = provisioner(records, "apply", *one, "-i", inv)
        assert out["cases"][0]["changed"] == 0, out["cases"][0]
        results["again"].append(seconds)
        results["verify"].append(provisioner(records, "verify", *one, "-i", inv)[0])
        provisioner(records, "destroy", *one, *gone)
        results["plain_first"].append(plain(inv))
        results["plain_again"].append(plain(inv))
        plain(inv, "--tags", "absent")
        print(f"{Path(inv).name} round {round_no + 1}: "
              + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items() if v), file=sys.stderr)
    for round_no in range(fleet_rounds if many else 0):
        seconds, out, mib = provisioner(records, "apply", *many, "-i", inv, memory=True)
        results["fleet_apply"].append(seconds)
        results["fleet_mib"].append(mib)
        seconds, out, _ = provisioner(records, "apply", *many, "-i", inv)
        assert {c.get("note") for c in out["cases"]} == {"unchanged"}, out["message"]
        results["fleet_again"].append(seconds)
        results["fleet_verify"].append(provisioner(records, "verify", "--all", "-i", inv)[0])
        results["fleet_destroy"].append(provisioner(records, "destroy", *many, *gone)[0])
        print(f"{Path(inv).name} fleet round {round_no + 1}: "
              + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items() if k.startswith("fleet")), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", default=str(ROOT / "inventories" / "local"))
    parser.add_argument("--topology", help="comma-separated labs to bring up and measure in turn: local,multi")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=500, help="cases in the fleet rows (0: none)")
    parser.add_argument("--fleet-rounds", type=int, default=1)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="provisioner-bench-records-"))
    measured: dict[str, dict[str, list[float]]] = {}
    if args.topology:
        for topology in args.topology.split(","):
            for other in TOPOLOGIES:
                if other != topology:
                    provisioner(scratch, "lab", "down", "--topology", other)
            provisioner(scratch, "lab", "up", "--topology", topology)
            measured[topology] = measure(str(TOPOLOGIES[topology]), args.rounds, args.fleet, args.fleet_rounds)
    else:
        measured[Path(args.inventory).name] = measure(args.inventory, args.rounds, args.fleet, args.fleet_rounds)

    names = list(measured)
    print("| measurement | runs | " + " | ".join(f"{n} min | {n} median" for n in names) + " | target |")
    print("|---|---|" + "---|---|" * len(names) + "---|")
    for key, label, target in ROWS:
        if not measured[names[0]][key]:
            continue
        cells = " | ".join(f"{min(m[key]):.2f} | {statistics.median(m[key]):.2f}" if m[key] else "- | -"
                           for m in measured.values())
        print(f"| {label.format(n=args.fleet)} | {len(measured[names[0]][key])} | {cells} | {target} |")
    for name, m in measured.items():
        if m["again"] and m["plain_again"]:
            ratio = statistics.median(m["again"]) / statistics.median(m["plain_again"])
            print(f"\n{name}: one-case re-apply / plain playbook re-run = {ratio:.2f}")


if __name__ == "__main__":
    main()
