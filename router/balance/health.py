"""Active health checks of SGLang replicas and passive marking on request failures.

Every ``health.interval_s`` each SGLang replica gets ``GET /health`` (with its key when the
policy names one, ``api_key_env``, as on every poll below; timeout
``health.timeout_s``). ``unhealthy_after`` consecutive failures mark it unhealthy; one success
marks it healthy again; a replica whose very first check fails is unhealthy at once (it was
never seen up: the start-up log and /ready must not call it healthy). When a replica
(re)turns healthy its ``/get_server_info`` is read (``max_total_num_tokens`` = its KV-cache
capacity, used by cache-aware choice and shown in stats), and with its ``/get_model_info``
what it can do (:mod:`router.backends.model_info`); on every successful check its
``/metrics`` load gauges are read. What requests see (connect errors, 5xx, 429, timeouts)
drives each replica's circuit breaker instead (:mod:`.breaker`); a replica takes requests
while both its checks and its breaker allow. External (litellm) endpoints are not probed:
only their breaker rests a failing one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping

import httpx

from ..backends.base import api_key
from ..backends.model_info import sglang_caps
from ..clock import Clock
from ..domain import Replica, RouteTable
from ..errors import NoHealthyReplica
from ..policy.capabilities import context_conflicts
from .sglang_metrics import parse_sglang_metrics

log = logging.getLogger("tierroute.health")


class HealthChecker:
    def __init__(self, table: Callable[[], RouteTable], client: httpx.AsyncClient, clock: Clock,
                 env: Mapping[str, str] | None = None) -> None:
        self._table = table
        self._client = client
        self._clock = clock
        self._env: Mapping[str, str] = env if env is not None else os.environ

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
        auth = self._auth(replica)
        ok, error = await self._probe(replica.url + "/health", cfg.timeout_s, auth)
        first = st.last_check is None  # never checked: one failure is enough to know it is not up
        st.last_check = self._clock.now()
        if ok:
            became_healthy = not st.healthy or st.server_info is None
            st.consecutive_failures = 0
            st.last_error = None
            st.healthy = True
            if became_healthy:
                st.server_info = await self._get_json(replica.url + "/get_server_info", cfg.timeout_s, auth)
                model_info = await self._get_json(replica.url + "/get_model_info", cfg.timeout_s, auth)
                st.caps = sglang_caps(st.server_info, model_info)
                declared = table.policy.tier(replica.tier).context_tokens
                for conflict in context_conflicts(replica.tier, declared, st.caps):
                    log.warning("policy and replica disagree", extra={"replica": replica.id, "warning": conflict})
                log.info("replica healthy", extra={"replica": replica.id})
            st.metrics = await self._metrics(replica.url, cfg.timeout_s, auth)
            return
        st.consecutive_failures += 1
        st.last_error = error
        if (first or st.consecutive_failures >= cfg.unhealthy_after) and st.healthy:
            st.healthy = False
            log.warning("replica unhealthy", extra={"replica": replica.id, "reason": error})

    def _auth(self, replica: Replica) -> dict[str, str]:
        """The replica's key as SGLang's ``--api-key`` expects it (none when its variable is unset:
        requests report that, naming the variable)."""
        try:
            key = api_key(replica, self._env)
        except NoHealthyReplica:
            return {}
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    async def _probe(self, url: str, timeout: float, auth: dict[str, str]) -> tuple[bool, str | None]:
        try:
            r = await self._client.get(url, timeout=timeout, headers=auth)
        except httpx.HTTPError as e:
            return False, f"{type(e).__name__}: {e}"[:200]
        return (r.status_code == 200, None if r.status_code == 200 else f"/health answered {r.status_code}")

    async def _metrics(self, url: str, timeout: float, auth: dict[str, str]) -> dict[str, float]:
        """SGLang's load gauges; empty when the replica does not export metrics."""
        try:
            r = await self._client.get(url + "/metrics", timeout=timeout, headers=auth)
        except httpx.HTTPError:
            return {}
        return parse_sglang_metrics(r.text) if r.status_code == 200 else {}

    async def _get_json(self, url: str, timeout: float, auth: dict[str, str]) -> dict[str, object] | None:
        try:
            r = await self._client.get(url, timeout=timeout, headers=auth)
            data = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None
