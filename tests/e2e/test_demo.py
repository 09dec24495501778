"""`tierroute demo` end to end, as `make demo` runs it (a shorter run): real processes, a clean exit,
a summary that names every tier, and nothing left behind in the temp directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_and_tidies_up() -> None:
    done = subprocess.run([sys.executable, "-m", "router", "demo", "--requests", "80"], capture_output=True,
                          text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "80 requests in" in out and ", 0 failed" in out
    assert re.search(r"Classifier decisions: 80 \(small \d+, large \d+, frontier \d+\)", out), out
    assert re.search(r"small 4/4, large 4/4, frontier 4/4", out), out
    work = re.search(r"logs in (\S+):", out)
    assert work is not None and not Path(work.group(1)).exists(), "the demo's temp directory was left behind"
