"""The soak test's short version (bench/soak.py): a few rounds over a few cases, with faults, a
fixed seed; every invariant holds after each round. The long runs are in README's Safety section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_a_short_soak_with_faults_leaves_no_violation(lab: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "-i", str(lab), "--rounds", "3",
                           "--cases", "6", "--seed", "7"], capture_output=True, text=True, timeout=1800, check=False)
    summary = json.loads(done.stdout)
    assert summary["violations"] == [], done.stderr[-3000:]
    assert done.returncode == 0
    assert sum(summary["faults"].values()) >= 3 and set(summary["faults"]) - {"none"}, summary
