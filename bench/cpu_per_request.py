"""CPU time per request of the floor proxy and of tierroute (pinned tier), side by side.

What the throughput at saturation follows, measured without the noise of latency: each proxy runs
pinned to CPU 1 (the mock upstream and ``wrk`` on CPU 0), ``wrk -c16`` drives it for a few
seconds, and the proxy's ``utime + stime`` (``/proc/PID/stat``) over that run is divided by the
answers it served. Rounds alternate floor, tierroute, floor, … and the median is printed.
``--profile`` also samples both with py-spy (1 kHz, one run each) and prints where the time goes
per request, by module and by line of tierroute's own code (the numbers behind
docs/performance.md). Needs ``wrk`` and ``taskset``.

    .venv/bin/python bench/cpu_per_request.py [--rounds 5] [--seconds 6] [--profile]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import CLIENT_KEY, POLICY, free_port, pinned, py_spy_exe, tierroute_cmd, tierroute_env  # noqa: E402

from router.procs import ProcessGroup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LUA = """wrk.method = "POST"
wrk.body = '{"model":"MODEL","max_tokens":64,"messages":[{"role":"user","content":"Explain how tides work."}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer KEY"
"""


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def drive(work: Path, port: int, model: str, seconds: int) -> int:
    script = work / f"{model}.lua"
    script.write_text(LUA.replace("MODEL", model).replace("KEY", CLIENT_KEY))
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/v1/chat/completions"], capture_output=True, text=True, check=True)
    found = re.search(r"(\d+) requests in", out.stdout)
    if found is None or "Non-2xx" in out.stdout:
        raise RuntimeError(f"wrk failed against port {port}:\n{out.stdout}{out.stderr}")
    return int(found.group(1))


def own_time(collapsed: Path, us_per_request: float) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """µs per request by module of the sampled leaf frame, and by line for tierroute's frames."""
    by_frame: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            by_frame[stack.split(";")[-1]] += int(count)
    total = sum(by_frame.values()) or 1
    modules: collections.Counter[str] = collections.Counter()
    for frame, n in by_frame.items():
        where = frame.split("(", 1)[1] if "(" in frame else "native"
        modules["tierroute" if where.startswith(("router/", "classifiers/")) else where.split("/")[0]] += n
    lines = sorted(((us_per_request * n / total, f) for f, n in by_frame.items() if "(router/" in f), reverse=True)
    return {m: us_per_request * n / total for m, n in modules.most_common(8)}, lines[:20]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--profile", action="store_true")
    ns = p.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="tierroute-cpu-") as tmp, ProcessGroup(Path(tmp) / "logs") as procs:
        work = Path(tmp)
        mock_a, mock_b, floor_port, tr_port = free_port(), free_port(), free_port(), free_port()
        (work / "policy.yaml").write_text(POLICY.format(port_a=mock_a, port_b=mock_b))
        env = tierroute_env()
        bench = ROOT / "bench"
        procs.start("mock", pinned([py, str(bench / "mock_upstream.py"), "--port", str(mock_a), "--port",
                                    str(mock_b)], 0), env=env)
        floor = procs.start("floor_proxy", pinned([py, str(bench / "floor_proxy.py"), "--upstream",
                                                   f"http://127.0.0.1:{mock_a}", "--port", str(floor_port)], 1),
                            env=env)
        tier = procs.start("tierroute", pinned(tierroute_cmd(py, work / "policy.yaml", tr_port, 1), 1), env=env)
        procs.wait_http("floor_proxy", f"http://127.0.0.1:{floor_port}/v1/models", status=200)
        procs.wait_http("tierroute", f"http://127.0.0.1:{tr_port}/health", timeout=120)
        targets = {"floor_proxy": (floor, floor_port, "mock-small"), "tierroute_pinned": (tier, tr_port, "small")}
        for _, port, model in targets.values():
            drive(work, port, model, 1)  # warm-up
        per: dict[str, list[float]] = {name: [] for name in targets}
        for r in range(ns.rounds):
            for name, (proc, port, model) in targets.items():
                before = cpu_ticks(proc.pid)  # taskset execs the command: same pid
                n = drive(work, port, model, ns.seconds)
                us = (cpu_ticks(proc.pid) - before) / os.sysconf("SC_CLK_TCK") / n * 1e6
                per[name].append(us)
                print(f"round {r + 1}  {name:17s} {us:6.1f} µs/request  {n / ns.seconds:7.0f} req/s", flush=True)
        med = {name: statistics.median(v) for name, v in per.items()}
        ratio = med["floor_proxy"] / med["tierroute_pinned"]
        print(f"\nmedian CPU per request: floor_proxy {med['floor_proxy']:.1f} µs, tierroute_pinned "
              f"{med['tierroute_pinned']:.1f} µs (floor / tierroute = {ratio:.0%}); "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        if ns.profile:
            spy_exe = py_spy_exe()
            for name, (proc, port, model) in targets.items():
                out = work / f"{name}.txt"
                spy = subprocess.Popen([spy_exe, "record", "--pid", str(proc.pid), "--rate", "1000", "--format",
                                        "raw", "--output", str(out), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
                drive(work, port, model, ns.seconds)
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
                modules, lines = own_time(out, med[name])
                print(f"\n{name}: µs per request by module (own time of the sampled frame)")
                for m, us in modules.items():
                    print(f"  {us:6.1f}  {m}")
                for us, frame in lines:
                    print(f"  {us:6.1f}  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
