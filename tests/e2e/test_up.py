"""`tierroute up` (issue 13, point 1): one command starts the local stack; the README's client snippet
then works with no other step; Ctrl-C stops everything it started."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from router.procs import free_port


def test_up_serves_the_readme_snippet_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "router", "up", "--port", str(port), "--dir", str(tmp_path),
                             "--redis", "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        while not any("Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "tierroute up ended early:\n" + "".join(lines)
            lines.append(line)
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/v1" in text and str(tmp_path / "policy.yaml") in text
        assert "redis://127.0.0.1:" in text
        # the README's snippet, pointed at the local stack
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-app1")
        r = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Hi!"}])
        assert r.parse().choices[0].message.content and r.headers["x-tierroute-tier"] in ("small", "large", "frontier")
        for tier in ("small", "large", "frontier"):
            assert client.chat.completions.create(model=tier, messages=[{"role": "user", "content": "hi"}]).model
        stats = httpx.get(f"http://127.0.0.1:{port}/admin/stats", timeout=10).json()
        assert stats["totals"]["requests"] == 4
        workers = [line.split("[", 1)[1].split("]")[0] for line in (tmp_path / "policy.yaml").read_text().splitlines()
                   if "replicas:" in line]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "stopped." in proc.stdout.read()
        time.sleep(0.5)
        for url in ", ".join(workers).split(", ") + [f"http://127.0.0.1:{port}"]:
            try:
                httpx.get(url + "/health", timeout=1)
                raise AssertionError(f"{url} still answers after Ctrl-C")
            except httpx.TransportError:
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
