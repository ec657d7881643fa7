"""Mail about a case that newly fails its trial, when the inventory names an SMTP relay.

Settings (inventory): ``provisioner_smtp_relay: host[:port]`` (port 25 by default; no relay, no
mail), ``provisioner_alert_mail_to`` (the division's address or list of addresses) and
``provisioner_alert_mail_from`` (default ``provisioner@<this machine's name>``). Each newly failing
case gets one mail, to the division and the case's contact (``contact.email``), in Indonesian
with the English below, as the records are. The relay is an internal one: no login, no TLS.

Sending is best effort: a relay that is down or refuses a recipient never changes the result of
the trial; what was not sent is given back, for the command to report.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provisioner.bilingual import Said
from provisioner.case import Case
from provisioner.dates import datetime_text
from provisioner.errors import FieldError, InvalidInput
from provisioner.inventory import Inventory
from provisioner.language import _

if TYPE_CHECKING:  # the mail modules load only to send (every verify imports this module)
    from email.message import EmailMessage

SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    sender: str
    division: tuple[str, ...]


def relay_of(inventory: Inventory) -> Relay | None:
    """The inventory's mail settings, or None when it names no relay."""
    value = inventory.settings.get("provisioner_smtp_relay")
    if not value:
        return None
    host, _sep, port = str(value).rpartition(":") if ":" in str(value) else (str(value), "", "25")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(_("the inventory's mail settings are not valid"),
                           [FieldError("provisioner_smtp_relay", _("want host or host:port, got {value}").format(
                               value=value))])
    to = inventory.settings.get("provisioner_alert_mail_to") or []
    division = (to,) if isinstance(to, str) else tuple(str(address) for address in to)
    sender = str(inventory.settings.get("provisioner_alert_mail_from") or f"provisioner@{socket.getfqdn()}")
    return Relay(host.strip("[]"), int(port), sender, division)


@dataclass(frozen=True)
class Failure:
    """What the mail tells of one newly failing case."""

    case: Case
    failures: tuple[Said, ...]
    incident: str  # the incident record's path
    when: str  # ISO 8601, the trial's time


def message(relay: Relay, failure: Failure) -> EmailMessage:
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    case = failure.case
    mail = EmailMessage()
    mail["From"] = relay.sender
    mail["To"] = ", ".join(recipients(relay, case))
    mail["Subject"] = (f"[provisioner] Uji coba gagal: {case.fqdn} (kasus {case.id}) / "
                       f"Trial failed: {case.fqdn} (case {case.id})")
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain=relay.sender.rpartition("@")[2] or None)
    listed_id = "\n".join(f"- {said.id}" for said in failure.failures)
    listed_en = "\n".join(f"- {said.en}" for said in failure.failures)
    mail.set_content(
        f"Yth. {case.contact_name} ({case.opd_name}) dan Bidang Aplikasi,\n\n"
        f"uji coba terjadwal aplikasi {case.app_title} ({case.fqdn}, kasus {case.id}) gagal pada "
        f"{datetime_text(failure.when, 'id')}. Pemeriksaan yang gagal:\n\n{listed_id}\n\n"
        f"Catatan kejadian: {failure.incident}\n"
        "Bidang Aplikasi menindaklanjuti kejadian ini; surat ini dikirim otomatis oleh provisioner.\n\n"
        "-- English --\n\n"
        f"Dear {case.contact_name} ({case.opd_name}) and the Applications division,\n\n"
        f"the scheduled trial of {case.app_title} ({case.fqdn}, case {case.id}) failed on "
        f"{datetime_text(failure.when, 'en')}. The checks that failed:\n\n{listed_en}\n\n"
        f"Incident record: {failure.incident}\n"
        "The Applications division follows this incident up; this mail was sent by provisioner.\n")
    return mail


def recipients(relay: Relay, case: Case) -> list[str]:
    return list(dict.fromkeys([*relay.division, case.contact_email]))


def send(relay: Relay, failures: Iterable[Failure]) -> list[str]:
    """One mail per failing case over one connection; what could not be sent, said for people."""
    import smtplib

    failures = list(failures)
    if not failures:
        return []
    problems = []
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=SMTP_TIMEOUT) as smtp:
            for failure in failures:
                to = recipients(relay, failure.case)
                try:
                    refused = smtp.send_message(message(relay, failure), relay.sender, to)
                except smtplib.SMTPException as exc:
                    problems.append(_("mail about case {case} not sent: {error}").format(
                        case=failure.case.id, error=exc))
                    continue
                if refused:
                    problems.append(_("mail about case {case} not delivered to {addresses}").format(
                        case=failure.case.id, addresses=", ".join(sorted(refused))))
    except (OSError, smtplib.SMTPException) as exc:
        problems.append(_("mail relay {relay} not reached, no mail sent: {error}").format(
            relay=f"{relay.host}:{relay.port}", error=exc))
    return problems
