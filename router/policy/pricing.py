"""Prices per backend: the policy's own price, else litellm's bundled cost map.

The cost map is read straight from the JSON file that ships inside the litellm package, found
with ``importlib.util.find_spec`` so that litellm itself is never imported here (importing it
costs seconds and, without ``LITELLM_LOCAL_MODEL_COST_MAP``, a network fetch).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson

from .model import LiteLLMBackend, Price, SGLangBackend, Tier

_COST_MAP_FILE = "model_prices_and_context_window_backup.json"


def _cost_map() -> dict[str, dict[str, object]]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / _COST_MAP_FILE
    if not path.is_file():
        return {}
    data = orjson.loads(path.read_bytes())
    return data if isinstance(data, dict) else {}


def litellm_price(model: str) -> Price | None:
    """litellm's price for a model string such as ``openai/gpt-4o`` (tried with and without prefix).

    Reads the map file on every call: it runs only while a policy loads, for litellm backends
    without a price of their own.
    """
    cmap = _cost_map()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = cmap.get(name)
        if not isinstance(entry, dict):
            continue
        cin, cout = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(cin, (int, float)) and isinstance(cout, (int, float)):
            return Price(input_per_mtok=float(cin) * 1e6, output_per_mtok=float(cout) * 1e6)
    return None


def resolve_price(tier: Tier, backend: SGLangBackend | LiteLLMBackend) -> tuple[Price | None, str]:
    """The price that applies to a backend and where it came from.

    Order: the backend's own ``price``, the tier's ``price``, then (litellm backends only)
    litellm's cost map. ``(None, "missing")`` when nothing applies.
    """
    if backend.price is not None:
        return backend.price, "policy"
    if tier.price is not None:
        return tier.price, "policy (tier)"
    if isinstance(backend, LiteLLMBackend):
        found = litellm_price(backend.model)
        if found is not None:
            return found, "litellm cost map"
    return None, "missing"
