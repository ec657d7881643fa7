"""Folding ansible-runner events into a result: what the roles reported per case, failures with task and host;
and the extra vars handed to Ansible, read by it as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from provisioner.ansible import PlaybookResult, _Collector, as_data


def _event(kind: str, task: str, res: dict, uuid: str = "t1", host: str = "web1") -> dict:
    return {"event": kind, "event_data": {"task": task, "task_uuid": uuid, "host": host, "res": res}}


def test_changed_items_and_tasks_are_counted_once() -> None:
    result = PlaybookResult("provision.yml", 0, "successful")
    collect = _Collector(result, None)
    collect(_event("runner_item_on_ok", "Create user", {"changed": True}))
    collect(_event("runner_item_on_ok", "Create user", {"changed": False}))
    collect(_event("runner_on_ok", "Create user", {"changed": True}))  # the loop's summary: not counted twice
    collect(_event("runner_on_ok", "Check Apache's configuration and reload it gracefully", {"changed": True},
                   uuid="t2"))
    assert result.changed == 2


def _stats(changes: dict) -> dict:
    return {"event": "playbook_on_stats", "event_data": {"changed": {"web1": 3},
                                                          "artifact_data": {"provisioner_changes": changes}}}


def test_what_each_role_reported_is_read_per_case() -> None:
    result = PlaybookResult("provision.yml", 0, "successful")
    _Collector(result, None)(_stats({
        "2026-014": {"database": {"changed": ["database", "user"], "created": ["database"]},
                     "apache_vhost": {"changed": ["directories", "vhost"], "created": ["directories"]}},
        "2026-011": {"dns_record": {"changed": ["a_record"]}},
    }))
    assert result.changed_for("2026-014") == 4
    assert result.created_for("2026-014") == {"database", "directories"}
    assert result.changed_for("2026-011") == 1
    assert result.created_for("2026-011") == set()


def test_a_case_no_role_reported_changed_nothing() -> None:
    result = PlaybookResult("provision.yml", 0, "successful")
    _Collector(result, None)(_stats({}))
    assert result.changed_for("2026-099") == 0
    assert result.changes_for("2026-099") == {}


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


def test_extra_vars_reach_ansible_as_data_never_as_templates(tmp_path: Path) -> None:
    """A case's text holding ``{{ ... }}`` is text to Ansible: before, a title with a ``pipe`` lookup
    ran its command on the controller. The roles' own expressions over the data still work."""
    marker = tmp_path / "templated"
    evil = f"Judul {{{{ lookup('pipe', 'touch {marker}') }}}}"
    extravars = tmp_path / "extravars"
    extravars.write_text(json.dumps(as_data({"sites": [{"id": "2026-001", "title": evil, "port": 80},
                                                       {"id": "2026-002", "title": "biasa", "port": 443}]})))
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.copy": {"dest": str(tmp_path / "out.json"),
                                  "content": "{{ sites | selectattr('port', 'equalto', 80) | map(attribute='title')"
                                             " | list | to_json }}"}}]}]))
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(playbook), "-e", f"@{extravars}",
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          capture_output=True, text=True, check=False, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == [evil]
    assert not marker.exists()


def test_as_data_marks_every_string_and_keeps_the_rest() -> None:
    assert as_data({"a": ["x", 1, None, True, {"b": "y"}], "c": ("z",)}) == {
        "a": [{"__ansible_unsafe": "x"}, 1, None, True, {"b": {"__ansible_unsafe": "y"}}],
        "c": [{"__ansible_unsafe": "z"}]}
