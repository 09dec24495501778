"""The tierroute command: validate, bind address rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cli import bind_address, main

ROOT = Path(__file__).resolve().parents[1]


def test_validate_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "policies.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "anthropic/claude-sonnet-4-20250514" in out and "(policy)" in out
    assert "auto: small < 0.45, large < 0.75, frontier otherwise" in out


def test_validate_reports_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "policies.yaml").read_text().replace("context_tokens: 32768", "context_tokens: -1"))
    assert main(["validate", str(bad)]) == 1
    assert "tiers[0] (small).context_tokens" in capsys.readouterr().err


@pytest.mark.parametrize("host, keyless, bound, warns", [
    ("0.0.0.0", True, "127.0.0.1", True),
    ("127.0.0.1", True, "127.0.0.1", True),
    ("::1", True, "::1", True),
    ("0.0.0.0", False, "0.0.0.0", False),
])
def test_bind_address(host: str, keyless: bool, bound: str, warns: bool) -> None:
    got, warning = bind_address(host, keyless=keyless)
    assert got == bound and (warning is not None) == warns


def test_no_command_prints_help() -> None:
    assert main([]) == 2
