"""Run a client's checks against each model and print one JSON line per (model, check).

Each script in this folder runs in the clients' own environment (``.venv-clients``), not the
proxy's: ``python SCRIPT BASE_URL KEY MODEL[,MODEL...]``. A check passes when it returns; what
it returns is printed as ``detail``. The pytest side (``tests/clients/test_*.py``) asserts on it.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

Check = Callable[[str, str, str], Any]  # (base_url, key, model) -> detail


def main(checks: dict[str, Check]) -> None:
    base, key, models = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    for model in models:
        for name, check in checks.items():
            started = time.monotonic()
            try:
                detail, ok = check(base, key, model), True
            except Exception as e:  # noqa: BLE001 - any failure is the check's result, reported in full
                detail, ok = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"[-2000:], False
            print(json.dumps({"model": model, "check": name, "ok": ok, "detail": detail,
                              "seconds": round(time.monotonic() - started, 2)}, default=str), flush=True)


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
