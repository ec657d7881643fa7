#!/usr/bin/python
"""The public addresses of many sites, bound or released in one module call.

One ``ip addr add`` per site is one module run per site; this module reads the interface's
addresses once and hands every change to one ``ip -batch``, reporting per site in the shape of a
loop's results (as provisioner_files does) for the roles' report of what changed.
"""

from __future__ import annotations

import json

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: provisioner_addresses
short_description: Bind or release many /32 addresses on one interface at once
description:
  - A present item's address is bound on the interface as a /32 unless it is already; an absent
    item's address is released if it is bound. Check mode reports what would change.
  - An item with refuse_if_bound is an address nobody may hold yet (a site not installed): when it
    is bound already, someone took it after provisioner's check, and nothing changes at all; the
    module fails naming each such address and its case.
options:
  interface: {description: The public interface., type: str, required: true}
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: >-
      Each has site (passed back; none for an address no site owns, such as the host's shared
      one), ip, state (present or absent) and optionally refuse_if_bound (a boolean).
    type: list
    elements: dict
    required: true
"""


def bound(module, interface):
    rc, out, err = module.run_command(["ip", "-j", "-4", "addr", "show", "dev", interface])
    if rc != 0:
        module.fail_json(msg=f"cannot read the addresses of {interface}: {err.strip()}")
    links = json.loads(out or "[]")
    return {info["local"] for link in links for info in link.get("addr_info", [])}


def main():
    module = AnsibleModule(
        argument_spec={"interface": {"type": "str", "required": True},
                       "loop_var": {"type": "str", "default": "item"},
                       "items": {"type": "list", "elements": "dict", "required": True}},
        supports_check_mode=True,
    )
    interface, loop_var = module.params["interface"], module.params["loop_var"]
    now = bound(module, interface)
    taken = [item for item in module.params["items"] if item.get("refuse_if_bound") and item.get("ip") in now]
    if taken:  # before any change, in check mode too: the address belongs to someone else now
        module.fail_json(msg="".join(
            f"{item['ip']} for case {(item.get('site') or {}).get('id', '?')} was bound on {interface} by someone else "
            "after the check; " for item in taken) + "it is left alone: find who holds it, or choose another address")
    results, commands = [], []
    for item in module.params["items"]:
        ip, state = item.get("ip"), item.get("state", "present")
        if state not in ("present", "absent") or not ip:
            module.fail_json(msg=f"{item.get('ip')}: needs an ip and state present or absent")
        change = (ip not in now) if state == "present" else (ip in now)
        if change:  # an address named twice in one batch is changed once
            now = (now | {ip}) if state == "present" else (now - {ip})
            commands.append(f"addr {'add' if state == 'present' else 'del'} {ip}/32 dev {interface}")
        results.append({"changed": change, "ip": ip, "ansible_loop_var": loop_var, loop_var: item.get("site")})
    if commands and not module.check_mode:
        rc, _out, err = module.run_command(["ip", "-batch", "-"], data="\n".join(commands) + "\n")
        if rc != 0:
            # ip stops at the first failing line: read what really happened, per site.
            after = bound(module, interface)
            for result, item in zip(results, module.params["items"], strict=True):
                wanted = item.get("state", "present") == "present"
                result["changed"] = result["changed"] and ((item["ip"] in after) == wanted)
            module.fail_json(msg=f"ip -batch on {interface} failed: {err.strip()}", results=results,
                             changed=any(r["changed"] for r in results))
    module.exit_json(changed=any(r["changed"] for r in results), results=results)


if __name__ == "__main__":
    main()
