"""The tierroute command: validate, bind address rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from router.cli import COMMANDS, main, resolve
from router.serve_cli import bind_address

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


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()}
    assert set(COMMANDS) <= listed


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_resolves_and_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert callable(resolve(COMMANDS[name].run))
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: tierroute {name}")


def test_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serv"])
    assert done.value.code == 2 and "invalid choice: 'serv'" in capsys.readouterr().err


def test_fleet_command_without_the_fleet_says_so(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "fleet.cli", None)  # as in the container image, which leaves fleet/ out
    assert main(["demo"]) == 2
    assert "tierroute demo needs the fleet package" in capsys.readouterr().err
