"""The one place that calls ansible-runner.

A run gets its own private data directory under the inventory's state directory (artifacts for
the auditor); extravars hold no secret (roles read secrets from owner-only files on the
controller), and ``suppress_env_files`` keeps the environment off disk anyway. The command's vault
identities reach every run as paths on its command line (``--vault-id``, ``--vault-password-file``);
a password typed at a prompt only as ansible-runner's answer to ansible-playbook's prompt. Events stream to a
callback for the live display and are folded into a PlaybookResult: changes per case, failures
with task and host.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from provisioner import secrets, site, user_cache
from provisioner.inventory import Inventory
from provisioner.processes import StopAndHold
from provisioner.vault import VaultIdentities

PLAYBOOK_DIR = Path(__file__).resolve().parent.parent / "playbooks"
KEEP_RUNS = 50
UNSAFE = "__ansible_unsafe"


def as_data(value: Any) -> Any:
    """``value`` for Ansible's extra vars, every string marked unsafe (``{"__ansible_unsafe": ...}``,
    as ``!unsafe`` in YAML): Ansible treats extra vars read from a file as templates, and a case's
    title holding ``{{ lookup('pipe', ...) }}`` ran that command on the controller. Our extra vars
    are data; the roles' own expressions over them still work (what they derive stays unsafe)."""
    if isinstance(value, str):
        return {UNSAFE: value}
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(item) for item in value]
    return value


@dataclass(frozen=True)
class TaskFailure:
    task: str
    host: str
    message: str
    play: str = ""

    def __str__(self) -> str:
        return f"task '{self.task}' on host {self.host}: {self.message}"


@dataclass(frozen=True)
class SiteChanges:
    """What one role reported (``set_stats``) for one site: the things it changed, and of those
    the ones that did not exist before this run (an undo may remove them)."""

    changed: tuple[str, ...] = ()
    created: tuple[str, ...] = ()


@dataclass
class PlaybookResult:
    playbook: str
    rc: int
    status: str
    changed: int = 0
    site_changes: dict[str, dict[str, SiteChanges]] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    artifact_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.status == "successful" and not self.failures

    def changes_for(self, case_id: str) -> dict[str, SiteChanges]:
        """Role name -> what that role changed for the case."""
        return self.site_changes.get(case_id, {})

    def changed_for(self, case_id: str) -> int:
        return sum(len(c.changed) for c in self.changes_for(case_id).values())

    def created_for(self, case_id: str) -> set[str]:
        return {thing for c in self.changes_for(case_id).values() for thing in c.created}


EventCallback = Callable[[dict[str, Any]], None]


def _failure_message(res: dict[str, Any]) -> str:
    nested = res.get("results")
    if isinstance(nested, list):
        for item in nested:
            if isinstance(item, dict) and item.get("failed"):
                label = item.get("_ansible_item_label")
                return (f"[{label}] " if isinstance(label, str) else "") + _failure_message(item)
    if res.get("censored"):
        return "the task failed; its output is hidden because it handles a secret (no_log)"
    for key in ("msg", "stderr", "module_stderr", "reason"):
        value = res.get(key)
        if value:
            return str(value).strip().splitlines()[-1][:500] if key != "msg" else str(value)[:500]
    return "failed"


STATS_KEY = "provisioner_changes"


def _site_changes(artifact_data: dict[str, Any]) -> dict[str, dict[str, SiteChanges]]:
    """The roles' ``set_stats`` data: case id -> role -> what changed (see playbooks/filter_plugins)."""
    out: dict[str, dict[str, SiteChanges]] = {}
    for case_id, roles in (artifact_data.get(STATS_KEY) or {}).items():
        out[str(case_id)] = {str(role): SiteChanges(tuple(data.get("changed") or ()), tuple(data.get("created") or ()))
                             for role, data in (roles or {}).items()}
    return out


class _Collector:
    """Folds the event stream into a PlaybookResult while forwarding events to the display."""

    def __init__(self, result: PlaybookResult, forward: EventCallback | None) -> None:
        self.result = result
        self.forward = forward
        self.looped_tasks: set[tuple[str, str]] = set()

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        res = data.get("res") or {}
        key = (data.get("task_uuid", ""), data.get("host", ""))
        if kind == "runner_item_on_ok":
            self.looped_tasks.add(key)
            self.result.changed += bool(res.get("changed"))
        elif kind == "runner_on_ok" and key not in self.looped_tasks and res.get("changed"):
            self.result.changed += 1
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.result.failures.append(TaskFailure(
                task=data.get("task", "?"), host=data.get("host", "?"),
                message=_failure_message(res), play=data.get("play", ""),
            ))
        elif kind == "playbook_on_stats":
            self.result.stats = {k: data.get(k, {}) for k in ("ok", "changed", "failures", "dark", "skipped")}
            self.result.site_changes = _site_changes(data.get("artifact_data") or {})
        if kind in ("runner_on_ok", "runner_item_on_ok") and res.get("diff") and event.get("stdout"):
            self.result.diffs.append(event["stdout"])
        if self.forward is not None:
            self.forward(event)
        return True  # keep the event in the run's artifacts, the audit trail of the run


def _mitogen_strategy() -> dict[str, str]:
    """Mitogen's strategy cuts Ansible's cost per task several-fold (DESIGN.md, measured floors).

    Used when installed, unless PROVISIONER_STRATEGY names another strategy (``linear``). Its
    linear strategy runs as ``provisioner_mitogen_linear`` (playbooks/strategy_plugins), which loads
    the plugins every worker needs before the workers fork and keeps, between runs, in the user's
    cache folder, the modules Mitogen prepares for the hosts (``PROVISIONER_MITOGEN_CACHE=0``: not
    kept) and the Python code Jinja compiles the templates into (``PROVISIONER_TEMPLATE_CACHE=0``:
    not kept).
    """
    wanted = os.environ.get("PROVISIONER_STRATEGY", "mitogen_linear")
    if not wanted.startswith("mitogen"):
        return {"ANSIBLE_STRATEGY": wanted}
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        return {}
    plugins = Path(spec.origin).parent / "plugins" / "strategy"
    found = {"ANSIBLE_STRATEGY_PLUGINS": f"{plugins}{os.pathsep}{PLAYBOOK_DIR / 'strategy_plugins'}",
             "ANSIBLE_STRATEGY": wanted}
    if wanted == "mitogen_linear":
        found["ANSIBLE_STRATEGY"] = "provisioner_mitogen_linear"
        if os.environ.get("PROVISIONER_MITOGEN_CACHE", "1") != "0":
            found["PROVISIONER_MITOGEN_CACHE_DIR"] = str(user_cache.folder("mitogen-modules"))
        if os.environ.get("PROVISIONER_TEMPLATE_CACHE", "1") != "0":
            found["PROVISIONER_TEMPLATE_CACHE_DIR"] = str(user_cache.folder("jinja-code"))
    return found


def _environment() -> dict[str, str]:
    """ansible-runner starts ``ansible-playbook`` from PATH: the venv's bin must come first."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {
        "PATH": venv_bin + os.pathsep + path,
        "ANSIBLE_CONFIG": str(PLAYBOOK_DIR / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(PLAYBOOK_DIR / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        **_mitogen_strategy(),
    }


def _program(playbook: str, arguments: list[str]) -> dict[str, Any]:
    """How ansible-runner starts the run: ``python -m provisioner.playbook_process`` (ansible-playbook
    less the interpreter's idle costs, see there) with the same arguments, or ``ansible-playbook``
    itself when PROVISIONER_PLAYBOOK_PROCESS=0."""
    if os.environ.get("PROVISIONER_PLAYBOOK_PROCESS", "1") == "0":
        return {"playbook": playbook, "cmdline": shlex.join(arguments) or None}
    # ansible-runner adds the inventory, --limit and the extra variables after these.
    return {"binary": sys.executable,
            "cmdline": shlex.join(["-m", "provisioner.playbook_process", *arguments, playbook])}


def _prune_runs(runs_dir: Path) -> None:
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    for old in runs[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)


def _source_and_vault(inventory: Inventory | Path) -> tuple[Path, VaultIdentities]:
    """What Ansible reads and the vault identities it was read with; for a bare path, those of the
    environment (ANSIBLE_VAULT_IDENTITY_LIST, ANSIBLE_VAULT_PASSWORD_FILE)."""
    if isinstance(inventory, Inventory):
        return inventory.ansible_source, inventory.vault
    return inventory.resolve(), VaultIdentities.from_options()


def run_playbook(
    playbook: str,
    inventory: Inventory | Path,
    state_dir: Path,
    extravars: dict[str, Any],
    *,
    check: bool = False,
    on_event: EventCallback | None = None,
    limit: str | None = None,
    cancel: Callable[[], bool] | None = None,
) -> PlaybookResult:
    """Run ``playbooks/<playbook>`` against ``inventory`` (give the Inventory: its source and vault
    identities; a bare path gets the environment's identities only); never raises for a failed play."""
    source, vault = _source_and_vault(inventory)
    runs_dir = state_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    ident = f"{stamp}-{playbook.removesuffix('.yml')}"
    private = runs_dir / ident
    private.mkdir(mode=0o700)
    # Site data reaches Ansible through a file (``-e @env/extravars``), never the command line:
    # hundreds of sites would exceed the kernel's argument limit (E2BIG). It holds no secret, and
    # no template: every string is marked as data (as_data).
    (private / "env").mkdir(mode=0o700)
    sites = extravars.get("provisioner_sites")
    if sites and site.checked(sites):  # else each role checks its sites itself, as in a run by Ansible alone
        extravars = {**extravars, site.SITES_CHECKED: True}
    fd = os.open(private / "env" / "extravars", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(as_data(extravars), handle)
    result = PlaybookResult(playbook=playbook, rc=-1, status="unstarted")
    collector = _Collector(result, on_event)
    # The command's vault identities, then the key of the inventory's generated secrets (secrets.py).
    arguments = (["--check", "--diff"] if check else []) + vault.run_arguments() + secrets.vault_arguments(state_dir)
    stopper = StopAndHold(cancel) if cancel is not None else None
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(PLAYBOOK_DIR),
            inventory=str(source),
            envvars={**_environment(), **vault.run_environment()},
            **_program(playbook, arguments),
            passwords=vault.run_prompt_answers() or None,
            limit=limit,
            suppress_env_files=True,
            quiet=True,
            event_handler=collector,
            cancel_callback=stopper,
            ident="run",
        )
    finally:
        if stopper is not None:
            stopper.end()  # what ansible-runner's kill of the playbook's process group left running
    result.rc = runner.rc if runner.rc is not None else -1
    result.status = runner.status
    result.artifact_dir = Path(runner.config.artifact_dir)
    if result.status == "canceled":
        result.failures.append(TaskFailure(task="(stopped)", host="-",
                                           message="the run was stopped by a signal before it finished"))
    if not result.ok and not result.failures:
        stdout = (result.artifact_dir / "stdout")
        tail = stdout.read_text(errors="replace").strip().splitlines()[-5:] if stdout.exists() else []
        result.failures.append(TaskFailure(task="(ansible-playbook)", host="-",
                                           message=" / ".join(tail) or f"exit status {result.rc}"))
    _prune_runs(runs_dir)
    return result
