"""Each site's logs rotated by logrotate on the embedded lab (issue 14): the file apply writes is
accepted by logrotate, a forced rotation keeps the old log, compresses the one before, and Apache
writes into the new file afterwards. That destroy removes the file (and the logs) is checked by
test_end_to_end.py's test_destroy_then_apply_again.

The tests of this module run in order and share the static example (ppid), installed by
`examples_applied`: no apply or destroy of their own.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, Cli

pytestmark = pytest.mark.integration

CASE_FILE = EXAMPLES / "2026-011-ppid-static.yml"
CASE_ID, NAME = "2026-011", "ppid"
FQDN = f"{NAME}.tarakankota.go.id"
LOGS = Path("/srv/www") / FQDN / "logs"
ROTATION = Path("/etc/logrotate.d") / f"provisioner-{NAME}"


@pytest.fixture(scope="module")
def applied(records: Path, examples_applied: Path) -> dict[str, Any]:
    """The static example's trial as its last apply through Ansible ran it: its trial report, which
    only apply writes (`verify` appends to the trial history instead)."""
    return dict(json.loads((records / CASE_ID / "uji-coba.json").read_text()))


def _get(case: dict[str, Any], path: str) -> int:
    conn = http.client.HTTPConnection(case["public_ip"], 80, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": FQDN})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _rotate(state: Path) -> subprocess.CompletedProcess[str]:
    """A rotation forced now, with a state file of the test's own (the daily run's stays as it is)."""
    return subprocess.run(["logrotate", "-f", "-s", str(state), str(ROTATION)], capture_output=True, text=True,
                          check=False, timeout=60)


def _logged(path: Path, marker: str, timeout: float = 10.0) -> bool:
    """Whether Apache wrote a request for ``marker`` into ``path`` (its log lines are buffered per
    request, a graceful restart takes a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and marker in path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def test_apply_installs_the_rotation_and_the_trial_checks_it(applied: dict[str, Any]) -> None:
    check = next(c for c in applied["checks"] if c["id"] == "logrotate.installed")
    assert check["ok"], check
    assert check["detail"] == f"{ROTATION} owner root mode 0o644, accepted by logrotate -d"
    text = ROTATION.read_text()
    assert f"{LOGS}/*.log {{" in text
    for directive in ("daily", "rotate 14", "compress", "delaycompress", "missingok", "notifempty",
                      "su root adm", "create 0640 root adm", "sharedscripts", "apache2ctl graceful"):
        assert f"    {directive}" in text, directive


def test_a_forced_rotation_keeps_the_log_and_apache_writes_the_new_one(applied: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    state = tmp_path / "logrotate.state"
    assert _get(applied, "/?before-rotation") in (200, 404)
    assert _logged(LOGS / "access.log", "before-rotation")

    first = _rotate(state)
    assert first.returncode == 0, first.stderr
    assert "before-rotation" in (LOGS / "access.log.1").read_text()  # delaycompress: the newest stays plain
    fresh = LOGS / "access.log"
    assert fresh.exists() and fresh.stat().st_uid == 0 and fresh.stat().st_mode & 0o777 == 0o640
    # Apache reopened its logs: a request after the rotation lands in the new file.
    _get(applied, "/?after-rotation")
    assert _logged(fresh, "after-rotation"), "Apache still writes to the rotated file"
    assert "after-rotation" not in (LOGS / "access.log.1").read_text()

    second = _rotate(state)
    assert second.returncode == 0, second.stderr
    assert (LOGS / "access.log.2.gz").exists()  # the one before is compressed
    assert "after-rotation" in (LOGS / "access.log.1").read_text()


def test_verify_passes_after_rotations(cli: Cli, lab: Path, applied: dict[str, Any]) -> None:
    result = cli("verify", str(CASE_FILE), "-i", str(lab))
    assert result.rc == 0, result.out
