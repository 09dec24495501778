"""Structured logs: one JSON object per line, with the caller's fields and nothing foreign."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging, os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
from router.logs import configure_logging
configure_logging("info")
import litellm  # installs its secret-redaction filter, which stamps records
logging.getLogger("uvicorn.access").info("GET /health", extra={"request_id": "r1"})
logging.getLogger("tierroute.access").info("request", extra={"request_id": "r2", "status": 200})
"""


def test_lines_are_json_with_the_callers_fields_and_no_litellm_stamp() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [line["request_id"] for line in lines][-2:] == ["r1", "r2"], done.stderr[-2000:]
    assert lines[-1]["status"] == 200 and lines[-1]["logger"] == "tierroute.access"
    assert "litellm_redacted" not in done.stderr and "<object object" not in done.stderr
