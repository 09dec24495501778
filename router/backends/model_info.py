"""What a backend's model reports it can do, read into :class:`router.policy.capabilities.Caps`.

- SGLang: ``/get_model_info`` (``has_image_understanding``) and ``/get_server_info`` (its server
  arguments: ``tool_call_parser`` and ``reasoning_parser`` are set when the server parses tool
  calls and reasoning; ``grammar_backend`` ``"none"`` turns structured output off;
  ``max_req_input_len`` is the longest prompt it takes). A field a server does not send is
  unknown, never "no". Read by the health checks when a replica turns healthy.
- litellm: its model map (``litellm.get_model_info``, the local copy: no network), read once per
  model in a thread when the proxy starts or a reload brings a new model. An unmapped model
  (a custom or self-hosted name) is unknown in every respect.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..domain import RouteTable
from ..policy.capabilities import Caps, context_conflicts

log = logging.getLogger("tierroute.capabilities")


def sglang_caps(server_info: Mapping[str, Any] | None, model_info: Mapping[str, Any] | None) -> Caps:
    info, model = server_info or {}, model_info or {}

    def flag(key: str) -> bool | None:
        return (info[key] is not None) if key in info else None

    grammar = info.get("grammar_backend")
    max_input = info.get("max_req_input_len")
    context = info.get("context_length")
    vision = model.get("has_image_understanding")
    return Caps(vision=vision if isinstance(vision, bool) else None, tools=flag("tool_call_parser"),
                json_schema=(grammar != "none") if "grammar_backend" in info else None,
                reasoning=flag("reasoning_parser"),
                context_tokens=(max_input + 5 if isinstance(max_input, int)
                                else context if isinstance(context, int) else None),
                source="sglang")


def litellm_caps(info: Mapping[str, Any] | None) -> Caps:
    if not info:
        return Caps()

    def flag(key: str) -> bool | None:
        v = info.get(key)
        return v if isinstance(v, bool) else None

    out, ctx = info.get("max_output_tokens"), info.get("max_input_tokens")
    return Caps(vision=flag("supports_vision"), tools=flag("supports_function_calling"),
                json_schema=flag("supports_response_schema"), reasoning=flag("supports_reasoning"),
                max_output_tokens=out if isinstance(out, int) and out > 0 else None,
                context_tokens=ctx if isinstance(ctx, int) and ctx > 0 else None, source="litellm")


def _lookup(litellm: Any, model: str) -> dict[str, Any] | None:
    try:
        return dict(litellm.get_model_info(model))
    except Exception:  # noqa: BLE001 - litellm raises its own types (ModelNotMappedError, …): not in its map
        return None


async def litellm_model_caps(models: Iterable[str]) -> dict[str, Caps]:
    """Each model's capabilities from litellm's map, looked up off the event loop."""
    names = list(dict.fromkeys(models))
    if not names:
        return {}

    def lookup_all() -> dict[str, Caps]:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # its map from the package, no network
        litellm = importlib.import_module("litellm")
        return {m: litellm_caps(_lookup(litellm, m)) for m in names}

    return await asyncio.to_thread(lookup_all)


async def fill_litellm_caps(table: RouteTable) -> None:
    """Give each litellm replica that has none yet its model's capabilities; log where the policy's
    context disagrees with the map's."""
    reps = [r for r in table.all_replicas() if r.kind == "litellm" and r.state.caps is None]
    found = await litellm_model_caps(r.model for r in reps)
    for r in reps:
        r.state.caps = found[r.model]
        for conflict in context_conflicts(r.tier, table.policy.tier(r.tier).context_tokens, r.state.caps):
            log.warning("policy and model map disagree", extra={"replica": r.id, "warning": conflict})
