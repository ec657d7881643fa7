"""What every batch module of playbooks/library shares: its arguments and its report.

A batch module takes the items of many sites in one call and reports one result per item in the
shape of a loop's results (``ansible_loop_var`` and the site under it), so that the roles' report
of what changed (filter ``provisioner_site_changes``) reads a batch as it reads any loop. A
failed item is reported with the others; the call fails when any item did.
"""

from __future__ import annotations

import concurrent.futures
import threading

ARGUMENTS = {"loop_var": {"type": "str", "default": "item"},
             "items": {"type": "list", "elements": "dict", "required": True}}
PARALLEL_STATEMENTS = 4


def side_by_side(connect, jobs, workers=PARALLEL_STATEMENTS):
    """Run each job's statements (``jobs``: key -> [(statement, arguments)]) on up to ``workers``
    connections of their own (``connect()`` opens one, in autocommit), for statements that cannot
    share a transaction and wait on the server's disk: PostgreSQL's CREATE and DROP DATABASE (a
    fleet of 500 sites has 167, 50 to 100 ms each one by one). Returns key -> the exception that
    stopped a job's statements; a job no connection could be opened for has that error."""
    pending = list(jobs.items())
    lock = threading.Lock()
    errors, refused = {}, []

    def work():
        try:
            connection = connect()
        except Exception as exc:  # the drivers' own hierarchies: the other connections go on
            refused.append(exc)
            return
        try:
            with connection.cursor() as cursor:
                while True:
                    with lock:
                        if not pending:
                            return
                        key, statements = pending.pop(0)
                    try:
                        for statement, arguments in statements:
                            cursor.execute(statement, arguments or None)
                    except Exception as exc:
                        errors[key] = exc
        finally:
            connection.close()

    if pending:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(pending))) as pool:
            for future in [pool.submit(work) for _ in range(min(workers, len(pending)))]:
                future.result()
    for key, _statements in pending:  # no connection could be opened for them
        errors[key] = refused[0]
    return errors


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
