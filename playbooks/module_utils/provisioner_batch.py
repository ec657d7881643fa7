"""What every batch module of playbooks/library shares: its arguments and its report.

A batch module takes the items of many sites in one call and reports one result per item in the
shape of a loop's results (``ansible_loop_var`` and the site under it), so that the roles' report
of what changed (filter ``provisioner_site_changes``) reads a batch as it reads any loop. A
failed item is reported with the others; the call fails when any item did.
"""

from __future__ import annotations

ARGUMENTS = {"loop_var": {"type": "str", "default": "item"},
             "items": {"type": "list", "elements": "dict", "required": True}}


class Batch:
    def __init__(self, module):
        self.module = module
        self.loop_var = module.params["loop_var"]
        self.results = []
        self.problems = []

    def _result(self, item, extra):
        return {**extra, "ansible_loop_var": self.loop_var, self.loop_var: item.get("site")}

    def done(self, item, changed, **extra):
        self.results.append({**self._result(item, extra), "changed": changed})

    def failed(self, item, message, **extra):
        self.problems.append(message)
        self.results.append({**self._result(item, extra), "changed": False, "failed": True, "msg": message})

    def finish(self, **extra):
        changed = any(r["changed"] for r in self.results)
        if self.problems:
            self.module.fail_json(msg="; ".join(self.problems), results=self.results, changed=changed)
        self.module.exit_json(changed=changed, results=self.results, **extra)

    def run_on(self, connection, step, engine):
        """Run ``step(module, cursor, batch)`` on an open database connection, close it and finish:
        a failure mid-batch is reported with what was done so far, and why it stopped."""
        try:
            with connection.cursor() as cursor:
                step(self.module, cursor, self)
        except Exception as exc:  # the drivers' own hierarchies; the message names the cause
            self.problems.append(f"{engine}: {exc}")
        finally:
            connection.close()
        self.finish()
