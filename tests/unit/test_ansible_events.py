"""Folding ansible-runner events into a result: changes per case, failures with task and host."""

from __future__ import annotations

from provisioner.ansible import PlaybookResult, _Collector


def _event(kind: str, task: str, res: dict, uuid: str = "t1", host: str = "web1") -> dict:
    return {"event": kind, "event_data": {"task": task, "task_uuid": uuid, "host": host, "res": res}}


def test_item_changes_are_counted_for_their_case() -> None:
    result = PlaybookResult("provision.yml", 0, "successful")
    collect = _Collector(result, None)
    collect(_event("runner_item_on_ok", "Create user", {"changed": True, "_ansible_item_label": "2026-014"}))
    collect(_event("runner_item_on_ok", "Create user", {"changed": False, "_ansible_item_label": "2026-011"}))
    collect(_event("runner_on_ok", "Create user", {"changed": True}))  # the loop's summary: not counted twice
    collect(_event("runner_item_on_ok", "Create dirs", {"changed": True, "_ansible_item_label": "2026-014 /srv"},
                   uuid="t2"))
    assert result.changed == 2
    assert result.changed_by_case == {"2026-014": 2}
    assert result.changed_tasks == {"2026-014": {"Create user", "Create dirs"}}


def test_unattributed_changes_count_for_every_case() -> None:
    result = PlaybookResult("provision.yml", 0, "successful")
    _Collector(result, None)(_event("runner_on_ok", "Reload Apache after its check", {"changed": True}))
    assert result.changed_for("2026-011") == 1
    assert result.changed_for("2026-014") == 1


def test_failures_name_task_host_and_item() -> None:
    result = PlaybookResult("provision.yml", 2, "failed")
    res = {"msg": "One or more items failed",
           "results": [{"failed": True, "msg": "boom", "_ansible_item_label": "2026-014"}]}
    _Collector(result, None)(_event("runner_on_failed", "Publish A", res, host="localhost"))
    assert str(result.failures[0]) == "task 'Publish A' on host localhost: [2026-014] boom"
    assert not result.ok


def test_a_secret_task_failure_says_so_without_the_secret() -> None:
    result = PlaybookResult("provision.yml", 2, "failed")
    _Collector(result, None)(_event("runner_on_failed", "Create user", {"censored": "hidden", "changed": False}))
    assert "hidden because it handles a secret" in result.failures[0].message
