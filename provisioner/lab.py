"""The labs: an inventory's services built on this machine by playbooks/lab.yml.

The inventory's ``lab_topology`` says where: ``local``, every service on this machine
(inventories/local); ``multi``, hosts web1, db1, ns1, ns2 in network and mount namespaces of their
own, reached over SSH (inventories/lab); ``vagrant``, the Vagrantfile's machines
(inventories/vagrant, ``-i`` only). The first two share the pool 198.19.0.0/24, so one is up at a
time.
"""

from __future__ import annotations

import datetime as dt

from provisioner import placement, secrets, site
from provisioner.ansible import run_playbook
from provisioner.case import Case, Database
from provisioner.commands import doctor
from provisioner.commands.base import Context, load_cases, reporting
from provisioner.errors import EXIT_FAILED, ProvisionerError
from provisioner.hosts import Hosts
from provisioner.language import _
from provisioner.lock import inventory_lock
from provisioner.report import CaseReport, Report


def up(ctx: Context) -> Report:
    with reporting("lab up") as report:
        inventory = ctx.inventory(hosts_needed=False)
        if inventory.machines_not_up:  # the multi-host lab's hosts are made here; virtual machines are not
            raise ProvisionerError(inventory.machines_not_up + _("; nothing was changed"))
        with inventory_lock(inventory.state_dir, "lab up"):
            ctx.on_progress(_("building the lab for inventory {inventory} (packages, BIND, Apache, databases)").format(
                inventory=inventory.name))
            result = run_playbook("lab.yml", inventory, inventory.state_dir, {"lab_state": "present"},
                                  on_event=ctx.on_event)
        if not result.ok:
            failures = "; ".join(str(f) for f in result.failures)
            raise ProvisionerError(_("lab up failed: {failures}").format(failures=failures))
        report.message = _("lab is up (changed {count})").format(count=result.changed)
    return report


def down(ctx: Context) -> Report:
    """Remove every case installed in the lab, then what the lab added; packages stay."""
    with reporting("lab down") as report:
        inventory = ctx.inventory(hosts_needed=False)
        if inventory.lab_not_up:
            report.message = _("lab is down already: {why}").format(why=inventory.lab_not_up.split(":")[0])
            return report
        with inventory_lock(inventory.state_dir, "lab down"):
            hosts = Hosts(inventory)
            installed = _installed(hosts)
            if installed:
                ctx.on_progress(_("removing the {count} case(s) installed in the lab").format(count=len(installed)))
                gone, unknown = [], []
                for record in installed.values():
                    case_file = ctx.records_dir / str(record["case"]) / "case.yml"
                    if case_file.exists():
                        case = load_cases([case_file], release_needed=False)[0]
                    elif record.get("removed"):
                        case = _kept_parts(record)  # its record names all it kept
                    else:
                        unknown.append(str(record["case"]))
                        continue
                    # A removed case kept only its database or files; its old address goes with the lab.
                    placed = site.build(case, placement.of_record(record, inventory), inventory, password_file=None)
                    gone.append(placed.vars.removal(drop_database=True, remove_files=True,
                                                    holds_address=not record.get("removed")))
                if unknown:
                    raise ProvisionerError(_("cases {cases} are installed in the lab but have no case file in "
                                             "{records}; run lab down with the --records they were applied with, "
                                             "or destroy them first").format(cases=", ".join(unknown),
                                                                             records=ctx.records_dir))
                result = run_playbook("destroy.yml", inventory, inventory.state_dir,
                                      {"provisioner_sites": gone}, on_event=ctx.on_event)
                if not result.ok:
                    raise ProvisionerError(_("removing the lab's cases failed: {failures}").format(
                        failures="; ".join(str(f) for f in result.failures)))
                for removed in gone:  # their databases were dropped: their passwords go too
                    secrets.forget(inventory.state_dir, str(removed["id"]))
            ctx.on_progress(_("stopping the lab services and removing their configuration"))
            result = run_playbook("lab.yml", inventory, inventory.state_dir, {"lab_state": "absent"},
                                  on_event=ctx.on_event)
        if not result.ok:
            failures = "; ".join(str(f) for f in result.failures)
            raise ProvisionerError(_("lab down failed: {failures}").format(failures=failures))
        report.message = _("lab is down")
    return report


def _kept_parts(record: dict) -> Case:
    """A stand-in case for what a removed case kept (files, its user, its database), read from its
    ownership record alone: the lab goes whole even when that case's records are elsewhere."""
    subdomain, zone = str(record["fqdn"]).split(".", 1)
    db = record.get("database")
    today = dt.date.today()
    return Case(id=str(record["case"]), opd_code="-", opd_name="-", letter_number="-", letter_date=today,
                approval_status="approved", approval_by=None, approval_date=None,
                app_name=str(record["application"]), app_title="-", category="-", source_kind="-", vendor=None,
                runtime="static", upstream=None, release=None, trial=(), subdomain=subdomain, zone=zone,
                public_ip="auto", tls="none", tls_cert=None, tls_key=None,
                database=Database(str(db["engine"]), str(db["name"]), str(db["user"])) if db else None,
                contact_name="-", contact_email="-")


def _installed(hosts: Hosts) -> dict:
    try:
        return hosts.registry()
    except (OSError, RuntimeError):
        return {}


def status(ctx: Context) -> Report:
    """The lab's services, public interface, zones and key, read as ``doctor`` reads them."""
    with reporting("lab status") as report:
        inventory = ctx.inventory()
        hosts = Hosts(inventory)
        checks = [*doctor.service_checks(inventory, hosts), *doctor.interface_checks(inventory, hosts),
                  *doctor.zone_checks(inventory), doctor.key_check(inventory)]
        item = CaseReport(id=f"lab ({inventory.name})", checks=checks,
                               note=_("{count} case(s) installed").format(count=len(_installed(hosts))))
        report.cases.append(item)
        if not item.passed:
            report.exit_code = EXIT_FAILED
            report.message = _("the lab is not (fully) up: run `provisioner lab up`")
        else:
            report.message = _("the lab is up")
    return report
