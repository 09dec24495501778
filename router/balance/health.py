"""Active health checks of SGLang replicas and passive marking on request failures.

Every ``health.interval_s`` each SGLang replica gets ``GET /health`` (timeout
``health.timeout_s``). ``unhealthy_after`` consecutive failures mark it unhealthy; one success
marks it healthy again. When a replica (re)turns healthy its ``/get_server_info`` is read
(``max_total_num_tokens`` = its KV-cache capacity, used by cache-aware choice and shown in
stats); on every successful check its ``/metrics`` load gauges are read. What requests see
(connect errors, 5xx, 429, timeouts) drives each replica's circuit breaker instead
(:mod:`.breaker`); a replica takes requests while both its checks and its breaker allow.
External (litellm) endpoints are not probed: only their breaker rests a failing one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx

from ..clock import Clock
from .pool import Replica, RouteTable
from .sglang_metrics import parse_sglang_metrics

log = logging.getLogger("tierroute.health")


class HealthChecker:
    def __init__(self, table: Callable[[], RouteTable], client: httpx.AsyncClient, clock: Clock) -> None:
        self._table = table
        self._client = client
        self._clock = clock

    async def run(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self._table().policy.health.interval_s)

    async def check_all(self) -> None:
        table = self._table()
        reps = list(table.all_replicas())
        await asyncio.gather(*(self._check(r, table) for r in reps))

    async def _check(self, replica: Replica, table: RouteTable) -> None:
        st = replica.state
        cfg = table.policy.health
        if replica.kind != "sglang":
            return  # not probed: its breaker alone rests it after faults
        assert replica.url is not None
        ok, error = await self._probe(replica.url + "/health", cfg.timeout_s)
        st.last_check = self._clock.now()
        if ok:
            became_healthy = not st.healthy or st.server_info is None
            st.consecutive_failures = 0
            st.last_error = None
            st.healthy = True
            if became_healthy:
                st.server_info = await self._server_info(replica.url, cfg.timeout_s)
                log.info("replica healthy", extra={"replica": replica.id})
            st.metrics = await self._metrics(replica.url, cfg.timeout_s)
            return
        st.consecutive_failures += 1
        st.last_error = error
        if st.consecutive_failures >= cfg.unhealthy_after and st.healthy:
            st.healthy = False
            log.warning("replica unhealthy", extra={"replica": replica.id, "reason": error})

    async def _probe(self, url: str, timeout: float) -> tuple[bool, str | None]:
        try:
            r = await self._client.get(url, timeout=timeout)
        except httpx.HTTPError as e:
            return False, f"{type(e).__name__}: {e}"[:200]
        return (r.status_code == 200, None if r.status_code == 200 else f"/health answered {r.status_code}")

    async def _metrics(self, url: str, timeout: float) -> dict[str, float]:
        """SGLang's load gauges; empty when the replica does not export metrics."""
        try:
            r = await self._client.get(url + "/metrics", timeout=timeout)
        except httpx.HTTPError:
            return {}
        return parse_sglang_metrics(r.text) if r.status_code == 200 else {}

    async def _server_info(self, url: str, timeout: float) -> dict[str, object] | None:
        try:
            r = await self._client.get(url + "/get_server_info", timeout=timeout)
            data = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None
