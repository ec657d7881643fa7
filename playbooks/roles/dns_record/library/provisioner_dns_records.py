#!/usr/bin/python
"""Publish or withdraw many DNS records in one call: one zone transfer and one signed update
per zone (RFC 2136, TSIG), instead of a module run and an update per record.

A batch of 500 sites costs one transfer and a few update messages per zone; what each record
needed is reported per site in the shape of a loop's results, so the role's report of what it
changed (filter ``provisioner_site_changes``) reads it as it reads any loop.
"""

from __future__ import annotations

import sys
from collections import defaultdict

from ansible.module_utils.basic import AnsibleModule

# dns.query loads httpx and requests when they are installed, for DNS over HTTPS, which this
# module never speaks: 0.4 s of the 0.6 s its import costs on Debian 12. They are kept out while
# dnspython loads, and only then (the module's interpreter may serve other modules after it).
_KEPT_OUT = [name for name in ("httpx", "requests") if name not in sys.modules]
sys.modules.update(dict.fromkeys(_KEPT_OUT))
try:
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.tsig
    import dns.tsigkeyring
    import dns.update
    import dns.xfr
    import dns.zone
except ImportError:  # pragma: no cover - reported by the module
    dns = None
finally:
    for _name in _KEPT_OUT:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

DOCUMENTATION = r"""
module: provisioner_dns_records
short_description: Publish or withdraw DNS records in batches by TSIG-signed dynamic update
description:
  - Reads each zone once by a TSIG-signed zone transfer, then sends only the changes, in
    TSIG-signed update messages over TCP. Check mode reports what would change and sends nothing.
options:
  server: {description: "The primary name server's address (required).", type: str}
  port: {description: Its DNS port., type: int, default: 53}
  key_name: {description: TSIG key name (required)., type: str}
  key_secret: {description: TSIG key secret, base64 (required)., type: str, no_log: true}
  key_algorithm: {description: TSIG algorithm., type: str, default: hmac-sha256}
  ttl: {description: TTL of published records., type: int, default: 300}
  state: {description: present publishes, absent withdraws., type: str, choices: [present, absent], default: present}
  refuse_other_data:
    description:
      - With present, fail (changing nothing) when a name holds other data (an A record with
        another address, or a CNAME): it belongs to someone else.
    type: bool
    default: false
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  kind:
    description: >-
      A (the site's name to its address), PTR (its address to its name), or TXT (an ACME dns-01
      challenge: each element has zone, name and value, and the site under site).
    type: str
    choices: [A, PTR, TXT]
  sites:
    description: >-
      The sites (provisioner/site.py, SiteVars); zone, fqdn, ip, reverse_zone and ptr_name are
      read. For TXT, the challenges.
    type: list
    elements: dict
    required: true
"""

BATCH = 200  # changes per update message: far below the 64 KiB a DNS message may hold
TIMEOUT = 10.0


def _keyring(params):
    return dns.tsigkeyring.from_text({params["key_name"]: (params["key_algorithm"], params["key_secret"])})


def _current(params, zone_name):
    """(name, type) -> set of values now in the zone, by one TSIG-signed transfer."""
    zone = dns.zone.Zone(dns.name.from_text(zone_name), relativize=False)
    request, _ = dns.xfr.make_query(zone)
    request.use_tsig(_keyring(params), keyname=params["key_name"], algorithm=params["key_algorithm"])
    dns.query.inbound_xfr(params["server"], zone, request, port=params["port"], timeout=TIMEOUT,
                          lifetime=TIMEOUT * 3)
    found = defaultdict(set)
    for name, rdataset in zone.iterate_rdatasets():
        for rdata in rdataset:
            found[(name.to_text().lower(), dns.rdatatype.to_text(rdataset.rdtype))].add(rdata.to_text().lower())
    return found


def _ref(site):
    """What a result carries of its site (as filter provisioner_ref): a fleet's whole sites, back in
    the results, cost Ansible more than the updates."""
    return {"id": site["id"], "installed": site.get("installed", True)}


def _record(site, kind):
    if kind == "TXT":
        return {"zone": site["zone"], "name": site["name"].rstrip(".") + ".", "type": "TXT",
                "value": '"' + site["value"] + '"', "site": site.get("site")}
    if kind == "A":
        return {"zone": site["zone"], "name": site["fqdn"] + ".", "type": "A", "value": site["ip"],
                "site": _ref(site)}
    return {"zone": site["reverse_zone"], "name": site["ptr_name"], "type": "PTR", "value": site["fqdn"] + ".",
            "site": _ref(site)}


def _wanted_change(record, current, state):
    key = (record["name"].lower(), record["type"])
    value = record["value"].lower()
    have = current.get(key, set())
    if state == "present":
        return have != {value}
    return value in have


def _other_data(record, current):
    name = record["name"].lower()
    other = sorted(current.get((name, "A"), set()) - {record["value"].lower()})
    other += [f"CNAME {v}" for v in sorted(current.get((name, "CNAME"), set()))]
    return other


def _send(params, zone_name, records, state):
    for start in range(0, len(records), BATCH):
        update = dns.update.UpdateMessage(zone_name, keyring=_keyring(params), keyname=params["key_name"],
                                          keyalgorithm=params["key_algorithm"])
        for record in records[start:start + BATCH]:
            if state == "present":
                update.replace(record["name"], params["ttl"], record["type"], record["value"])
            else:
                update.delete(record["name"], record["type"], record["value"])
        response = dns.query.tcp(update, params["server"], port=params["port"], timeout=TIMEOUT)
        if response.rcode() != dns.rcode.NOERROR:
            return dns.rcode.to_text(response.rcode())
    return None


def main():
    module = AnsibleModule(
        argument_spec={
            # Required, but usually given by module_defaults, which linters do not see.
            "server": {"type": "str"},
            "port": {"type": "int", "default": 53},
            "key_name": {"type": "str"},
            "key_secret": {"type": "str", "no_log": True},
            "key_algorithm": {"type": "str", "default": "hmac-sha256"},
            "ttl": {"type": "int", "default": 300},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "refuse_other_data": {"type": "bool", "default": False},
            "loop_var": {"type": "str", "default": "item"},
            "kind": {"type": "str", "choices": ["A", "PTR", "TXT"], "required": True},
            "sites": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    if dns is None:
        module.fail_json(msg="dnspython is required on the controller")
    params = module.params
    missing = [key for key in ("server", "key_name", "key_secret") if not params[key]]
    if missing:
        module.fail_json(msg=f"missing required arguments: {', '.join(missing)}")
    params["records"] = [_record(site, params["kind"]) for site in params["sites"]]
    state = params["state"]
    by_zone = defaultdict(list)
    for index, record in enumerate(params["records"]):
        by_zone[record["zone"]].append(index)
    changed = [False] * len(params["records"])
    failed_msgs = {}
    try:
        currents = {zone: _current(params, zone) for zone in by_zone}
    except Exception as exc:  # any failure to read a zone is reported as it is
        module.fail_json(msg=f"cannot transfer the zones from {params['server']}: {exc.__class__.__name__}: {exc}")
    for zone, indexes in by_zone.items():
        for index in indexes:
            record = params["records"][index]
            if state == "present" and params["refuse_other_data"]:
                other = _other_data(record, currents[zone])
                if other:
                    failed_msgs[index] = (f"{record['name']} already holds other data on {params['server']} "
                                          f"({', '.join(other)}); it belongs to someone else: choose another "
                                          "subdomain or remove that record first")
            changed[index] = _wanted_change(record, currents[zone], state)
    if failed_msgs:
        changed = [False] * len(changed)
    elif not module.check_mode:
        for zone, indexes in by_zone.items():
            todo = [params["records"][i] for i in indexes if changed[i]]
            if todo:
                error = _send(params, zone, todo, state)
                if error:
                    module.fail_json(msg=f"the update of zone {zone} was refused: {error}", changed=False)
    loop_var = params["loop_var"]
    results = [{"changed": changed[i], "failed": i in failed_msgs, "msg": failed_msgs.get(i, ""),
                "ansible_loop_var": loop_var, loop_var: record.get("site")}
               for i, record in enumerate(params["records"])]
    if failed_msgs:
        module.fail_json(msg="; ".join(failed_msgs.values()), results=results, changed=False)
    module.exit_json(changed=any(changed), results=results)


if __name__ == "__main__":
    main()
