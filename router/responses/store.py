"""The bounded in-process store of responses, for ``previous_response_id`` and ``GET /v1/responses/{id}``.

Each stored response keeps its ``response`` object and the conversation's input items up to it
(the input of the responses it follows, their outputs, then its own input), so a follow-up
request prepends ``items + response["output"]``. Least recently used first out past
``max_entries``; the lists share their item dicts with the entries they came from, so a long
chain costs references, not copies. Output items are found by their own id too, for the
``item_reference`` input items some clients send instead of repeating an item. One process's
memory: with ``serve --workers N`` a follow-up must reach the worker that answered (an unknown
id is a 400 ``previous_response_not_found``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Stored:
    response: Json
    items: list[Json]  # the conversation's input items, up to and including this response's input

    def context(self) -> list[Json]:
        """What a follow-up request is prefixed with: the input items, then this response's output."""
        return [*self.items, *self.response.get("output", [])]


class ResponseStore:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Stored] = OrderedDict()
        self._items: dict[str, Json] = {}  # output item id -> the item, for the entries held
        self.evicted = 0

    def put(self, response: Json, items: list[Json]) -> None:
        rid = response["id"]
        self._entries[rid] = Stored(response, items)
        self._entries.move_to_end(rid)
        self._items.update((item["id"], item) for item in response.get("output", []) if item.get("id"))
        while len(self._entries) > self.max_entries:
            self._forget(self._entries.popitem(last=False)[1])
            self.evicted += 1

    def get(self, response_id: str) -> Stored | None:
        found = self._entries.get(response_id)
        if found is not None:
            self._entries.move_to_end(response_id)
        return found

    def item(self, item_id: str) -> Json | None:
        """An output item of a stored response, by its id."""
        return self._items.get(item_id)

    def delete(self, response_id: str) -> bool:
        found = self._entries.pop(response_id, None)
        if found is not None:
            self._forget(found)
        return found is not None

    def _forget(self, stored: Stored) -> None:
        for item in stored.response.get("output", []):
            self._items.pop(item.get("id"), None)

    def describe(self) -> Json:
        return {"entries": len(self._entries), "max_entries": self.max_entries, "evicted": self.evicted}
