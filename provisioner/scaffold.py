"""A new case file from the engineer's answers (``provisioner case new``), valid before it is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from provisioner.case import parse_case
from provisioner.case_schema import PUBLIC_IP_AUTO

HEADER = ("# Kasus baru (new case), written by `provisioner case new`. When the decision is made\n"
          "# (SOP step 5), set approval.status, approval.by and approval.date.\n")


def scaffold(fields: dict[str, Any]) -> str:
    """A new case file (status pending) from the engineer's answers; invalid answers raise.

    ``fields`` keys: id, opd_code, opd_name, letter_number, letter_date, name, title, category,
    source, vendor, runtime, upstream, subdomain, zone, engine, contact_name, contact_email.
    """
    application: dict[str, Any] = {"name": fields["name"], "title": fields["title"], "category": fields["category"],
                                   "source": fields["source"], "runtime": fields["runtime"]}
    if fields.get("vendor"):
        application["vendor"] = fields["vendor"]
    if fields.get("upstream"):
        application["upstream"] = fields["upstream"]
    data: dict[str, Any] = {
        "id": fields["id"],
        "opd": {"code": fields["opd_code"], "name": fields["opd_name"]},
        "letter": {"number": fields["letter_number"], "date": fields["letter_date"]},
        "approval": {"status": "pending"},
        "application": application,
        "hosting": {"subdomain": fields.get("subdomain") or fields["name"], "zone": fields["zone"],
                    "public_ip": PUBLIC_IP_AUTO, "tls": "self-signed", "database": {"engine": fields["engine"]}},
        "contact": {"name": fields["contact_name"], "email": fields["contact_email"]},
    }
    parse_case(data, Path.cwd())
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
