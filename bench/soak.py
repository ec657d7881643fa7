"""Soak test with faults: rounds of applies, release changes and removals on a lab, faults injected
at random moments, and invariants checked from outside after each round.

Each round, over M generated cases (tests/fleet.py: static, PHP + MariaDB, proxy + PostgreSQL +
TLS; every 4th on the shared address): apply a random subset of those not installed, change the
release of a random subset of the installed PHP cases, destroy a random subset of the others
(`--drop-database --remove-files`). One command of the round gets a fault:

- ``kill``: SIGKILL of the running provisioner and everything below it, by pid, at a random moment;
- ``term``: SIGTERM of the provisioner at a random moment (it stops Ansible and undoes);
- ``stop-<service>``: named, mariadb, postgresql or apache2 stopped before the command, started after;
- ``address``: a free pool address bound on the public interface behind the tool's back.

Then the round heals as an engineer would (a plain `apply` of the cases meant to be installed, a
`destroy` of those meant to be gone, run again until it passes) and checks from outside: the
ownership records, vhosts, php-fpm pools, site folders, system users, DNS names (AXFR), bound
addresses, MariaDB and PostgreSQL databases of the soak's cases are exactly those of the cases
meant to be installed, and every one of them verifies. It prints the rounds, the faults by kind, each
invariant violation (there must be none) and the seed that replays the run.

Usage (as root, on a lab that is up; nothing outside the lab's addresses is touched):
  .venv/bin/python bench/soak.py [-i inventories/local] [--rounds 20] [--cases 50] [--seed N]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.inventory import load_inventory  # noqa: E402
from tests import fleet  # noqa: E402
from tests.process_tree import stop_descendants  # noqa: E402

PREFIX = "soak"
SERVICES = ("named", "mariadb", "postgresql", "apache2")
FAULTS = ("kill", "term", "address", *(f"stop-{s}" for s in SERVICES))


class Soak:
    def __init__(self, inventory: Path, cases: int, seed: int, work: Path) -> None:
        self.inventory = load_inventory(inventory)
        self.inv = str(inventory)
        self.random = random.Random(seed)
        self.work = work
        self.records = work / "records"
        self.cases: dict[str, dict[str, Any]] = {}
        for path in fleet.write(work / "cases", cases, prefix=PREFIX):
            data = yaml.safe_load(Path(path).read_text())
            self.cases[data["id"]] = data
        self.meant: set[str] = set()  # the cases meant to be installed
        self.version: dict[str, int] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.violations: list[str] = []

    # --- the case files -------------------------------------------------------------------------

    def release(self, version: int) -> Path:
        """The example release with a VERSION file: another archive, another release folder."""
        path = self.work / "releases" / f"sikesda-soak-{version}.tar.gz"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(fleet.RELEASE, path)
            with tarfile.open(fleet.RELEASE) as source, tarfile.open(path, "w:gz") as target:
                for member in source.getmembers():
                    target.addfile(member, source.extractfile(member) if member.isfile() else None)
                data = f"{version}\n".encode()
                info = tarfile.TarInfo("VERSION")
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                target.addfile(info, io.BytesIO(data))
        return path

    def case_file(self, case_id: str) -> str:
        data = self.cases[case_id]
        if data["application"].get("release"):
            data["application"]["release"] = str(self.release(self.version[case_id]))
        path = self.work / "cases" / f"{case_id}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return str(path)

    # --- commands and faults ------------------------------------------------------------------

    def provisioner(self, *args: str, fault: str = "none") -> int:
        command = [sys.executable, "-m", "provisioner", "--records", str(self.records), *args, "--json"]
        bound = None
        if fault.startswith("stop-"):
            subprocess.run(["service", fault[5:], "stop"], capture_output=True, check=False)
        elif fault == "address":
            bound = self.free_address()
            if bound:
                _ip("addr", "add", f"{bound}/32", "dev", self.inventory.public_interface)
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            if fault in ("kill", "term"):
                try:
                    process.wait(timeout=self.random.uniform(1.0, 25.0))
                except subprocess.TimeoutExpired:
                    if fault == "kill":
                        # Frozen first (no new forks), then killed: the command and all below it, by pidfd.
                        process.send_signal(signal.SIGSTOP)
                        below = stop_descendants(process.pid, ".")
                        process.kill()
                        below.kill()
                    else:
                        process.send_signal(signal.SIGTERM)
            process.communicate(timeout=1800)
            return process.returncode
        finally:
            if fault.startswith("stop-"):
                subprocess.run(["service", fault[5:], "start"], capture_output=True, check=False)
            if bound:
                _ip("addr", "del", f"{bound}/32", "dev", self.inventory.public_interface)

    def free_address(self) -> str | None:
        taken = _bound(self.inventory.public_interface)
        free = [str(a) for a in self.inventory.pool_addresses() if str(a) not in taken]
        return free[0] if free else None

    # --- a round ----------------------------------------------------------------------------

    def round(self, number: int) -> None:
        ids = sorted(self.cases)
        absent = [i for i in ids if i not in self.meant]
        installed = sorted(self.meant)
        to_apply = self.random.sample(absent, k=self.random.randint(0, len(absent)))
        php = [i for i in installed if self.cases[i]["application"].get("release")]
        to_change = self.random.sample(php, k=self.random.randint(0, len(php)))
        rest = [i for i in installed if i not in to_change]
        to_destroy = self.random.sample(rest, k=self.random.randint(0, len(rest) // 2))
        for case_id in to_change:
            self.version[case_id] += 1
        steps = [("apply", to_apply + to_change), ("destroy", to_destroy)]
        faulty = self.random.randrange(len(steps))
        for index, (command, chosen) in enumerate(steps):
            if not chosen:
                continue
            fault = self.random.choice(FAULTS) if index == faulty else "none"
            self.faults[fault] += 1
            files = [self.case_file(i) for i in chosen]
            if command == "apply":
                self.provisioner("apply", *files, "-i", self.inv, fault=fault)
                self.meant |= set(chosen)
            else:
                self.provisioner("destroy", *files, "-i", self.inv, "--drop-database", "--remove-files", "--yes",
                                 fault=fault)
                self.meant -= set(chosen)
        self.heal(number)
        self.check(number)

    def heal(self, number: int) -> None:
        """A plain apply of what is meant to be installed, a destroy of the rest, until both pass."""
        for _attempt in range(3):
            rc_apply = self.provisioner("apply", *[self.case_file(i) for i in sorted(self.meant)], "-i", self.inv) \
                if self.meant else 0
            gone = sorted(set(self.cases) - self.meant)
            rc_destroy = self.provisioner("destroy", *[self.case_file(i) for i in gone], "-i", self.inv,
                                          "--drop-database", "--remove-files", "--yes") if gone else 0
            if rc_apply == 0 and rc_destroy == 0:
                return
        self.violations.append(f"round {number}: apply/destroy did not heal in 3 attempts "
                               f"(apply {rc_apply}, destroy {rc_destroy})")

    # --- invariants, read from outside ------------------------------------------------------

    def check(self, number: int) -> None:
        meant = {self.cases[i]["application"]["name"]: self.cases[i] for i in self.meant}
        fqdns = {f"{d['hosting']['subdomain']}.{d['hosting']['zone']}" for d in meant.values()}
        ours = {d["application"]["name"] for d in self.cases.values()}
        registry = Path("/etc/provisioner/sites")
        found = {p.stem for p in registry.glob(f"{PREFIX}-*.yml")}
        self.compare(number, "ownership records", found, set(self.meant))
        sites = {p.name.removesuffix(".conf") for p in Path("/etc/apache2/sites-available").glob("*.conf")}
        all_fqdns = {f"{d['hosting']['subdomain']}.{d['hosting']['zone']}" for d in self.cases.values()}
        self.compare(number, "vhosts", sites & all_fqdns, fqdns)
        www = {p.name for p in Path(str(self.inventory.settings.get("provisioner_www_root", "/srv/www"))).glob("*")}
        self.compare(number, "site folders", www & all_fqdns, fqdns)
        pools = {p.stem for p in Path("/etc/php").glob("*/fpm/pool.d/*.conf")}
        php = {n for n, d in meant.items() if d["application"]["runtime"] == "php"}
        self.compare(number, "php-fpm pools", pools & ours, php)
        users = {line.split(":", 1)[0] for line in Path("/etc/passwd").read_text().splitlines()}
        self.compare(number, "system users", users & ours, set(meant))
        self.compare(number, "DNS names", _zone_names(self.inventory, all_fqdns), fqdns)
        own = {self.record_ip(i) for i in self.meant if self.cases[i]["hosting"]["public_ip"] != "shared"}
        others = {self.record_ip(p.stem) for p in registry.glob("*.yml") if not p.stem.startswith(f"{PREFIX}-")}
        pool = {str(a) for a in self.inventory.pool_addresses()} - others
        self.compare(number, "bound pool addresses", _bound(self.inventory.public_interface) & pool, own - {None})
        databases = {d["hosting"]["database"].get("name") or d["application"]["name"].replace("-", "_"): d
                     for d in self.cases.values() if d["hosting"]["database"]["engine"] != "none"}
        for engine, listing in (("mariadb", _mariadb_databases), ("postgresql", _postgresql_databases)):
            want = {n for n, d in databases.items() if d["hosting"]["database"]["engine"] == engine
                    and d["id"] in self.meant}
            self.compare(number, f"{engine} databases", listing() & set(databases), want)
        # Every installed case of the soak verifies (named by id: cases of others on the lab are
        # theirs, with records elsewhere).
        if self.meant and self.provisioner("verify", *sorted(self.meant), "-i", self.inv) != 0:
            self.violations.append(f"round {number}: verify of the installed cases failed")

    def record_ip(self, case_id: str) -> str | None:
        """The address an installed case's ownership record names (none for a removed one's)."""
        try:
            data = yaml.safe_load((Path("/etc/provisioner/sites") / f"{case_id}.yml").read_text())
            return str(data["ip"]) if data.get("ip") and not data.get("removed") else None
        except (OSError, yaml.YAMLError, AttributeError):
            return None

    def compare(self, number: int, what: str, found: set[Any], want: set[Any]) -> None:
        if found != want:
            extra, missing = sorted(map(str, found - want)), sorted(map(str, want - found))
            self.violations.append(f"round {number}: {what}: extra {extra[:5]}, missing {missing[:5]}")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True, check=False)


def _bound(interface: str) -> set[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", interface], capture_output=True, text=True,
                         check=False).stdout
    return {a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])}


def _zone_names(inventory: Any, fqdns: set[str]) -> set[str]:
    """The names of ``fqdns`` that hold an A record on the primary, by zone transfer."""
    from provisioner import dns

    key = dns.read_tsig_key(inventory.tsig_key_file)
    held = dns.names_in_zones(inventory.dns_primary.address, inventory.zones, key, sorted(fqdns))
    return {fqdn for fqdn, records in held.items() if records.get("A")}


def _mariadb_databases() -> set[str]:
    out = subprocess.run(["mysql", "-N", "-e", "SHOW DATABASES"], capture_output=True, text=True, check=False)
    return set(out.stdout.split())


def _postgresql_databases() -> set[str]:
    out = subprocess.run(["su", "postgres", "-c", "psql -At -c 'SELECT datname FROM pg_database'"],
                         capture_output=True, text=True, check=False)
    return set(out.stdout.split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--inventory", type=Path, default=ROOT / "inventories" / "local")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (cases, records)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    work = Path(tempfile.mkdtemp(prefix="provisioner-soak-"))
    soak = Soak(args.inventory, args.cases, seed, work)
    started = time.monotonic()
    try:
        for number in range(1, args.rounds + 1):
            soak.round(number)
            print(f"round {number}/{args.rounds}: {len(soak.meant)} installed, "
                  f"violations so far {len(soak.violations)}", file=sys.stderr, flush=True)
    finally:
        everything = [soak.case_file(i) for i in sorted(soak.cases)]
        soak.provisioner("destroy", *everything, "-i", str(args.inventory), "--drop-database", "--remove-files",
                         "--yes")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary = {"seed": seed, "rounds": args.rounds, "cases": args.cases,
               "faults": dict(sorted(soak.faults.items())), "violations": soak.violations,
               "minutes": round((time.monotonic() - started) / 60, 1),
               "replay": f"bench/soak.py -i {args.inventory} --rounds {args.rounds} --cases {args.cases} "
                         f"--seed {seed}"}
    print(json.dumps(summary, indent=2))
    return 1 if soak.violations else 0


if __name__ == "__main__":
    sys.exit(main())
