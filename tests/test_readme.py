"""The README's measured figures say what they ran on and which command made them (issue 13, point 7)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_measured_figures_name_their_command_and_conditions() -> None:
    section = README.split("## Measured", 1)[1].split("\n## ", 1)[0]
    assert "sim-worker" in section and "not a GPU server" in section  # the conditions, once for all
    bullets = [b for b in section.split("\n- ") if b.startswith("**")]
    assert len(bullets) >= 5
    for b in bullets:
        assert re.search(r"`(bench/\S+\.py|make \w+|tierroute \w+)[^`]*`", b), f"no command: {b[:80]}"
        assert re.search(r"\((`[^)]*`)[^)]*;", b), f"no conditions next to the command: {b[:80]}"
