"""Soak test with faults: rounds of applies, release changes and removals on a lab, faults injected
at random moments, and invariants checked from outside after each round.

Each round, over M generated cases (tests/fleet.py: static, PHP + MariaDB, proxy + PostgreSQL +
TLS; every 4th on the shared address): apply a random subset of those not installed, change the
release of a random subset of the installed PHP cases, destroy a random subset of the others
(`--drop-database --remove-files`). One command of the round gets a fault:

- ``kill``: SIGKILL of the running provisioner and everything below it, by pid, at a random moment;
- ``term``: SIGTERM of the provisioner at a random moment (it stops Ansible and undoes);
- ``stop-<service>``: named, mariadb, postgresql or apache2 (on one host of its group) stopped before the
  command, started after;
- ``address``: a free pool address bound on a web host's public interface behind the tool's back.

Then the round heals as an engineer would (a plain `apply` of the cases meant to be installed, a
`destroy` of those meant to be gone, run again until it passes) and checks from outside: the
ownership records, DNS names (AXFR) and MariaDB and PostgreSQL databases (each on one host) of the
soak's cases are exactly those of the cases meant to be installed; on each web host, the vhosts,
php-fpm pools, site folders, system users and bound addresses are exactly those of the cases its
records place there; and every installed case verifies. It prints the rounds, the faults by kind, each
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

from provisioner.hosts import Hosts  # noqa: E402
from provisioner.inventory import Host, load_inventory  # noqa: E402
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
        self.last_output = ""

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
        bound, stopped = None, None
        if fault.startswith("stop-"):
            stopped = self.service_host(fault[5:])
            self.on(stopped, f"service {fault[5:]} stop")
        elif fault == "address":
            bound = self.free_address()
            if bound:
                self.on(bound[0], f"ip addr add {bound[1]}/32 dev {self.inventory.public_interface}")
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
            self.last_output, _ = process.communicate(timeout=1800)
            return process.returncode
        finally:
            if stopped is not None:
                self.on(stopped, f"service {fault[5:]} start")
            if bound:
                self.on(bound[0], f"ip addr del {bound[1]}/32 dev {self.inventory.public_interface}")

    def free_address(self) -> tuple[Host, str] | None:
        """A web host (one at random) and the lowest address of its pool not bound there."""
        web = self.random.choice(self.inventory.web_hosts)
        taken = Hosts(self.inventory).bound_addresses(web)
        free = [str(a) for a in self.inventory.pool_addresses(web) if str(a) not in taken]
        return (web, free[0]) if free else None

    # --- the hosts, as the inventory reaches them (this machine, or the multi-host lab's) -----

    def service_host(self, service: str) -> Host:
        """The host whose ``service`` a fault stops: one of its group, at random."""
        group = {"named": "dns_primary", "mariadb": "db_mariadb", "postgresql": "db_postgresql"}.get(service, "web")
        return self.random.choice(self.inventory.group(group))

    def on(self, host: Host, command: str) -> str:
        """Run ``command`` on ``host``; its output, whatever its exit code (faults may fail)."""
        return str(Hosts(self.inventory).get(host).run(command).stdout)

    def names(self, host: Host, command: str) -> set[str]:
        return set(self.on(host, command).split())

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
        fqdn = {i: f"{d['hosting']['subdomain']}.{d['hosting']['zone']}" for i, d in self.cases.items()}
        ours = {d["application"]["name"] for d in self.cases.values()}
        hosts = Hosts(self.inventory)  # read afresh each round
        registry = hosts.registry()
        found = {case_id for case_id in registry if case_id.startswith(f"{PREFIX}-")}
        self.compare(number, "ownership records", found, set(self.meant))
        all_fqdns = set(fqdn.values())
        self.compare(number, "DNS names", _zone_names(self.inventory, all_fqdns), {fqdn[i] for i in self.meant})

        def ip(record: dict[str, Any]) -> str | None:  # an installed case's own address (a removed one has none)
            return None if record.get("removed") or record.get("shared") else str(record.get("ip"))

        others = {ip(r) for case_id, r in registry.items() if not case_id.startswith(f"{PREFIX}-")}
        shared = {self.inventory.shared_address(w) for w in self.inventory.web_hosts}
        www = str(self.inventory.settings.get("provisioner_www_root", "/srv/www"))
        # Each web host has exactly the objects of the soak's cases its ownership records place there.
        for web in self.inventory.web_hosts:
            here = {i for i in self.meant if registry.get(i, {}).get("web_host") == web.name}
            meant = {self.cases[i]["application"]["name"]: self.cases[i] for i in here}
            fqdns = {fqdn[i] for i in here}
            on = f" on {web.name}"
            sites = {n.removesuffix(".conf") for n in self.names(web, "ls /etc/apache2/sites-available")}
            self.compare(number, "vhosts" + on, sites & all_fqdns, fqdns)
            self.compare(number, "site folders" + on, self.names(web, f"ls {www}") & all_fqdns, fqdns)
            pools = {Path(n).stem for n in self.names(web, "ls /etc/php/*/fpm/pool.d/")}
            php = {n for n, d in meant.items() if d["application"]["runtime"] == "php"}
            self.compare(number, "php-fpm pools" + on, pools & ours, php)
            users = self.names(web, "getent passwd | cut -d: -f1")
            self.compare(number, "system users" + on, users & ours, set(meant))
            pool = {str(a) for a in self.inventory.pool_addresses(web)} - others - shared
            own = {ip(registry[i]) for i in here}
            self.compare(number, "bound pool addresses" + on, hosts.bound_addresses(web) & pool, own - {None})
        databases = {d["hosting"]["database"].get("name") or d["application"]["name"].replace("-", "_"): d
                     for d in self.cases.values() if d["hosting"]["database"]["engine"] != "none"}
        for engine in ("mariadb", "postgresql"):
            want = {n for n, d in databases.items() if d["hosting"]["database"]["engine"] == engine
                    and d["id"] in self.meant}
            # Each database on exactly one host of the engine's group.
            per_host = [hosts.databases(engine, h)[0] & set(databases) for h in self.inventory.database_hosts(engine)]
            on_several = {n for n in want if sum(n in names for names in per_host) > 1}
            self.compare(number, f"{engine} databases", set().union(*per_host), want)
            self.compare(number, f"{engine} databases on more than one host", on_several, set())
        # Every installed case of the soak verifies (named by id: cases of others on the lab are
        # theirs, with records elsewhere).
        if self.meant and self.provisioner("verify", *sorted(self.meant), "-i", self.inv) != 0:
            self.violations.append(f"round {number}: verify of the installed cases failed: {self.failed_checks()}")

    def failed_checks(self) -> str:
        """What the last command's --json output says failed: each case's failed checks, or its message."""
        try:
            out = json.loads(self.last_output)
        except ValueError:
            return self.last_output[-500:]
        failed = [f"{c['id']}: {k['name']} ({k['detail']})" for c in out.get("cases", [])
                  for k in c.get("checks") or [] if not k["ok"]]
        return "; ".join(failed[:10]) or str(out.get("message"))

    def compare(self, number: int, what: str, found: set[Any], want: set[Any]) -> None:
        if found != want:
            extra, missing = sorted(map(str, found - want)), sorted(map(str, want - found))
            self.violations.append(f"round {number}: {what}: extra {extra[:5]}, missing {missing[:5]}")


def _zone_names(inventory: Any, fqdns: set[str]) -> set[str]:
    """The names of ``fqdns`` that hold an A record on the primary, by zone transfer."""
    from provisioner import dns

    key = dns.inventory_key(inventory)
    held = dns.names_in_zones(inventory.dns_primary.address, inventory.zones, key, sorted(fqdns))
    return {fqdn for fqdn, records in held.items() if records.get("A")}


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
