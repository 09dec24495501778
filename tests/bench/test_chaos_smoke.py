"""``bench/chaos.py`` scaled down, end to end: the fleet, a few fault phases under load, ~100
fuzz cases from docs/openapi.yaml plus every hostile case, a 500-request soak (issue 10, point 8).

Runs the script as ``make chaos`` does (its own Redis, sim workers, fake provider, two proxies)
and checks what it wrote: the JSON's shape, no client-visible failure in the phases run (one
of them the malformed-SSE replica the chaos run found relayed to clients), no 5xx from
fuzzing, nothing left in flight and no lease alive afterwards. Not a timing test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PHASES = ["baseline", "kill_replica", "restart_replica", "hang_after_headers", "malformed_sse"]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_chaos_scaled_down(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--phases", ",".join(PHASES),
                           "--phase-s", "2", "--fuzz-cases", "100", "--soak-requests", "500", "--concurrency", "6",
                           "--out", str(out), "--md", str(tmp_path / "chaos.md")],
                          cwd=ROOT, env={**os.environ, "CHAOS_WORK_DIR": str(tmp_path / "work")},
                          capture_output=True, text=True, timeout=240)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert set(r["failed_requests"]) == set(r["requests"]) == set(PHASES)
    assert all(r["requests"][p] > 0 for p in PHASES), r["requests"]
    assert r["failed_requests"] == dict.fromkeys(PHASES, 0), r["failure_samples"]
    assert r["fuzz_cases"] >= 100 + 40 and r["fuzz"]["generated"] >= 100
    assert r["fuzz_5xx"] == 0, r["fuzz"]
    assert r["proxies_ready_after_fuzz"] is True
    assert r["soak_requests"] == 500 and r["soak"]["failed"] == 0
    assert isinstance(r["rss_growth_pct"], float)
    assert r["leaked_inflight"] == 0 and r["leaked_leases"] == 0
    assert r["phase_notes"]["replica_back_s"] > 0
    assert "| malformed_sse |" in (tmp_path / "chaos.md").read_text()
    assert proc.returncode == (1 if r["missed"] else 0)
