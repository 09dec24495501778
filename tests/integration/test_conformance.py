"""The shared OpenAI conformance checker (official SDK, raw SSE, error shapes) against the proxy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import CLIENT_KEY, Proxy

TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "openai_conformance.py"


@pytest.mark.skipif(not TOOL.exists(), reason=f"{TOOL} is not beside this checkout")
@pytest.mark.parametrize("model", ["auto", "small", "frontier"])
def test_openai_conformance(proxy: Proxy, model: str) -> None:
    r = subprocess.run([sys.executable, str(TOOL), proxy.v1, "--tierroute", "--key", CLIENT_KEY, "--model", model],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout
