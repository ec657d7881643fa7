"""Each site's log rotation (issue 14): the file the apache_vhost role writes, read by the real
logrotate in debug mode (which changes nothing and runs no script), the record that names it,
and the trial's check of it."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from provisioner import records, site, trial
from provisioner.case import load_case
from provisioner.host_facts import CommandResult, FileFacts
from provisioner.inventory import load_inventory
from tests.conftest import EXAMPLES, LOCAL_INVENTORY, ROOT
from tests.playbook_code import load
from tests.unit.test_vendor_apps import _file, _Sparse

RENDER = load("filter_plugins/provisioner_render.py")
TEMPLATE = ROOT / "playbooks" / "roles" / "apache_vhost" / "templates" / "logrotate.j2"
INV = load_inventory(LOCAL_INVENTORY)


def _site(www: Path | None = None) -> site.Site:
    inventory = INV if www is None else dataclasses.replace(
        INV, settings={**INV.settings, "provisioner_www_root": str(www)})
    return site.build(load_case(next(EXAMPLES.glob("*ppid*.yml"))), site.Placement("198.19.0.30", "localhost"),
                      inventory, password_file=None)


def _rendered(built: site.Site) -> str:
    return str(RENDER.render(built.vars.as_vars(), str(TEMPLATE)))


def test_the_file_is_named_like_the_cron_file_and_goes_with_the_site() -> None:
    v = _site().vars
    assert v.logrotate_file == "/etc/logrotate.d/provisioner-ppid"
    assert v.logrotate_file in v.files  # removed on destroy, with the vhost and the cron file
    assert v.logrotate_file in v.checked_files  # a hand edit is drift


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed (scripts/bootstrap)")
def test_logrotate_accepts_the_rendered_file(tmp_path: Path) -> None:
    built = _site(tmp_path / "www")
    Path(built.vars.logdir).mkdir(parents=True)
    conf = tmp_path / "provisioner-ppid"
    conf.write_text(_rendered(built))
    conf.chmod(0o644)
    debug = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(conf)], capture_output=True,
                           text=True, check=False, timeout=30)
    assert debug.returncode == 0, debug.stderr
    assert "error:" not in debug.stderr
    assert f"rotating pattern: {built.vars.logdir}/*.log  after 1 days (14 rotations)" in debug.stderr


def test_the_record_says_what_the_file_does() -> None:
    """records.LOG_ROTATION (the configuration record) and the template agree."""
    text = _rendered(_site())
    directives = {line.strip() for line in text.splitlines()}
    assert records.LOG_ROTATION["schedule"] in directives
    assert f"rotate {records.LOG_ROTATION['kept']}" in directives
    assert ("compress" in directives) is records.LOG_ROTATION["compressed"]
    assert re.search(r"postrotate\n\s+if pgrep -x apache2 > /dev/null; then\n\s+apache2ctl graceful", text)


def _check(built: site.Site, file: FileFacts | None = None, said: CommandResult | None = None) -> trial.Check:
    v = built.vars
    sparse = _Sparse(files={v.logrotate_file: file or _file(v.logrotate_file)},
                     commands={trial._logrotate_key(built): said or CommandResult(0, "", "reading config")})
    return next(c for c in trial._host_checks(built, INV, sparse) if c.id == "logrotate.installed")


def test_the_trial_passes_a_file_logrotate_accepts() -> None:
    built = _site()
    check = _check(built)
    assert check.ok
    assert check.detail == "/etc/logrotate.d/provisioner-ppid owner root mode 0o644, accepted by logrotate -d"
    assert check.texts("id")["name"] == "rotasi log terpasang"


@pytest.mark.parametrize(("facts", "detail"), [
    ({"said": CommandResult(1, "", "reading config file x\nerror: x:3 bad rotation count 'x'\n")},
     "logrotate -d /etc/logrotate.d/provisioner-ppid: rc 1: error: x:3 bad rotation count 'x'"),
    ({"said": CommandResult(0, "", "error: x:1 unknown option 'bogus' -- ignoring line\n")},
     "logrotate -d /etc/logrotate.d/provisioner-ppid: rc 0: error: x:1 unknown option 'bogus' -- ignoring line"),
    ({"file": _file("/etc/logrotate.d/provisioner-ppid", kind="missing")}, "/etc/logrotate.d/provisioner-ppid missing"),
    ({"file": _file("/etc/logrotate.d/provisioner-ppid", mode=0o664)},
     "/etc/logrotate.d/provisioner-ppid owner root mode 0o664, accepted by logrotate -d"),
    ({"file": _file("/etc/logrotate.d/provisioner-ppid", user="ppid")},
     "/etc/logrotate.d/provisioner-ppid owner ppid mode 0o644, accepted by logrotate -d"),
])
def test_the_trial_fails_a_file_logrotate_refuses_or_would_skip(facts: dict[str, Any], detail: str) -> None:
    check = _check(_site(), **facts)
    assert not check.ok and check.detail == detail
