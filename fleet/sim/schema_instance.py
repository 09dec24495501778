"""Deterministic instances of a JSON schema: what a grammar-constrained model would emit.

``instance(schema, rng)`` returns a value valid for ``schema`` (a dict or a boolean schema),
covering what pydantic and OpenAI-style tool definitions use:

* ``$ref`` into ``$defs``/``definitions`` (JSON pointers from the root; recursion is cut off
  past ``MAX_DEPTH`` by leaving optional properties out, taking ``minItems`` items and
  preferring a ``null`` branch);
* ``allOf`` (merged), ``anyOf``/``oneOf`` (one branch; a non-null branch is preferred, as a
  model filling ``Optional[X]`` usually would), ``const``, ``enum``, type lists;
* ``object``: every ``required`` property, each optional one with probability 1/2, extra keys
  only for a schema-valued ``additionalProperties`` (``dict[str, X]``) and at least
  ``minProperties``;
* ``string``: ``minLength``/``maxLength``, ``format`` (date, date-time, time, email, uri/url,
  uuid, ipv4, hostname) and, best effort, ``pattern`` (candidates are tried until one matches);
* ``integer``/``number``: ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``
  (draft 4's boolean forms too) and ``multipleOf``;
* ``array``: ``items``, ``prefixItems``, ``minItems``/``maxItems``, ``uniqueItems``;
* ``boolean``, ``null``; an empty schema (anything) gets a short string.

Strings are words of :data:`fleet.sim.reply.WORDS`, so generated JSON looks like the
simulator's prose. ``SchemaError`` is raised for a schema no value satisfies (``false``, an
empty ``enum``, a dangling ``$ref``, ``minimum`` above ``maximum``...).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from typing import Any

from .reply import WORDS

MAX_DEPTH = 6
_FORMATS = {
    "date": lambda r: f"20{r.randint(10, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "date-time": lambda r: (f"20{r.randint(10, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
                            f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"),
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
    "email": lambda r: f"{r.choice(WORDS)}@example.com",
    "uri": lambda r: f"https://example.com/{r.choice(WORDS)}",
    "url": lambda r: f"https://example.com/{r.choice(WORDS)}",
    "uri-reference": lambda r: f"/{r.choice(WORDS)}",
    "uuid": lambda r: f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-4{r.getrandbits(12):03x}"
                      f"-8{r.getrandbits(12):03x}-{r.getrandbits(48):012x}",
    "ipv4": lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4)),
    "hostname": lambda r: f"{r.choice(WORDS)}.example.com",
}


class SchemaError(ValueError):
    """The schema cannot be satisfied (or is not a schema)."""


def instance(schema: Any, rng: random.Random) -> Any:
    """A value valid for ``schema`` (deterministic for a given ``rng`` state)."""
    return _Gen(schema, rng).value(schema, 0)


class _Gen:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            seen += 1
            if seen > 32:
                raise SchemaError("$ref cycle")
            target = self._pointer(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = _merge([target, rest]) if rest and isinstance(target, Mapping) else target
        return schema

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(f"only local $ref are supported: {ref!r}")
        node = self.root
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise SchemaError(f"$ref {ref!r} does not resolve")
        return node

    def value(self, schema: Any, depth: int) -> Any:
        schema = self.resolve(schema)
        if schema is True or schema == {}:
            return self.rng.choice(WORDS)
        if schema is False:
            raise SchemaError("the schema 'false' has no instance")
        if not isinstance(schema, Mapping):
            raise SchemaError(f"not a schema: {schema!r}")
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise SchemaError("empty enum")
            return self.rng.choice(options)
        if isinstance(schema.get("allOf"), list):
            merged = _merge([self.resolve(s) for s in schema["allOf"]]
                            + [{k: v for k, v in schema.items() if k != "allOf"}])
            return self.value(merged, depth)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                branch = self._branch([self.resolve(s) for s in schema[key]], depth)
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                return self.value(_merge([branch, rest]) if rest and isinstance(branch, Mapping) else branch,
                                  depth + 1)
        return self._typed(schema, _pick_type(schema, self.rng, depth), depth)

    def _branch(self, branches: list[Any], depth: int) -> Any:
        nulls = [b for b in branches if isinstance(b, Mapping) and b.get("type") == "null"]
        others = [b for b in branches if b not in nulls]
        if nulls and (not others or depth >= MAX_DEPTH or self.rng.random() < 0.15):
            return nulls[0]
        return self.rng.choice(others)

    def _typed(self, schema: Mapping[str, Any], kind: str, depth: int) -> Any:
        if kind == "null":
            return None
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "integer":
            return _integer(schema, self.rng)
        if kind == "number":
            return _number(schema, self.rng)
        if kind == "string":
            return _string(schema, self.rng)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "object":
            return self._object(schema, depth)
        raise SchemaError(f"unknown type {kind!r}")

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        lo = int(schema.get("minItems", 0))
        hi = int(schema.get("maxItems", max(lo, 3)))
        if lo > hi:
            raise SchemaError("minItems above maxItems")
        n = lo if depth >= MAX_DEPTH else self.rng.randint(max(lo, min(1, hi)), max(lo, min(hi, 3)))
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", True)
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        n = max(n, min(len(prefix), hi)) if lo or prefix else n
        out: list[Any] = []
        seen: set[str] = set()
        attempts = 0
        while len(out) < n and attempts < n * 10 + 10:
            attempts += 1
            sub = prefix[len(out)] if len(out) < len(prefix) else items
            value = self.value(sub, depth + 1)
            key = repr(value)
            if schema.get("uniqueItems") and key in seen:
                continue
            seen.add(key)
            out.append(value)
        if len(out) < lo:
            raise SchemaError("cannot make enough unique items")
        return out

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = [k for k in schema.get("required") or () if isinstance(k, str)]
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or (depth < MAX_DEPTH and self.rng.random() < 0.5):
                out[name] = self.value(sub, depth + 1)
        for name in required:
            if name not in out:  # required but not described
                out[name] = self.value(_extra_schema(schema), depth + 1)
        extra = schema.get("additionalProperties", True)
        want = int(schema.get("minProperties", 0))
        if not props and not required and extra is not False and depth < MAX_DEPTH:
            want = max(want, self.rng.randint(1, 2))
        tries = 0
        while len(out) < want and extra is not False and tries < 50:
            tries += 1
            name = self.rng.choice(WORDS) + ("" if tries < 10 else str(tries))
            if name not in props and name not in out:
                out[name] = self.value(_extra_schema(schema), depth + 1)
        if len(out) < want:
            raise SchemaError("cannot satisfy minProperties")
        return out


def _extra_schema(schema: Mapping[str, Any]) -> Any:
    extra = schema.get("additionalProperties", True)
    return extra if isinstance(extra, Mapping) else {"type": "string"}


def _merge(parts: list[Any]) -> dict[str, Any]:
    """A shallow merge of ``allOf`` parts (properties and required are combined)."""
    out: dict[str, Any] = {}
    for part in parts:
        if part is True:
            continue
        if not isinstance(part, Mapping):
            raise SchemaError("allOf holds an unsatisfiable part")
        for key, val in part.items():
            if key == "properties" and isinstance(out.get(key), Mapping):
                out[key] = {**out[key], **val}
            elif key == "required" and isinstance(out.get(key), list):
                out[key] = list(dict.fromkeys([*out[key], *val]))
            else:
                out[key] = val
    return out


def _pick_type(schema: Mapping[str, Any], rng: random.Random, depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        options = [k for k in kind if isinstance(k, str)]
        if not options:
            raise SchemaError("empty type list")
        non_null = [k for k in options if k != "null"]
        if "null" in options and (not non_null or depth >= MAX_DEPTH or rng.random() < 0.15):
            return "null"
        return rng.choice(non_null)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _bounds(schema: Mapping[str, Any]) -> tuple[float, bool, float, bool]:
    lo, lo_x = float(schema.get("minimum", -math.inf)), False
    hi, hi_x = float(schema.get("maximum", math.inf)), False
    emin, emax = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if emin is True:
        lo_x = True
    elif isinstance(emin, int | float) and not isinstance(emin, bool) and emin >= lo:
        lo, lo_x = float(emin), True
    if emax is True:
        hi_x = True
    elif isinstance(emax, int | float) and not isinstance(emax, bool) and emax <= hi:
        hi, hi_x = float(emax), True
    return lo, lo_x, hi, hi_x


def _integer(schema: Mapping[str, Any], rng: random.Random) -> int:
    lo_f, lo_x, hi_f, hi_x = _bounds(schema)
    lo = None if lo_f == -math.inf else (math.floor(lo_f) + 1 if lo_x else math.ceil(lo_f))
    hi = None if hi_f == math.inf else (math.ceil(hi_f) - 1 if hi_x else math.floor(hi_f))
    if lo is None:
        lo = hi - 100 if hi is not None and hi < 0 else 0
    if hi is None:
        hi = lo + 100
    if lo > hi:
        raise SchemaError("no integer within the bounds")
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0:
        first, last = -(-lo // step), hi // step
        if first > last:
            raise SchemaError("no multiple of multipleOf within the bounds")
        return rng.randint(first, last) * step
    return rng.randint(lo, hi)


def _number(schema: Mapping[str, Any], rng: random.Random) -> float | int:
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool):
        return _integer(schema, rng)
    lo, lo_x, hi, hi_x = _bounds(schema)
    lo = lo if lo > -math.inf else (hi - 100.0 if hi < 0 else 0.0)
    hi = hi if hi < math.inf else lo + 100.0

    def inside(v: float) -> bool:
        return (lo < v or (v == lo and not lo_x)) and (v < hi or (v == hi and not hi_x))

    if isinstance(step, float) and step > 0:
        first, last = math.ceil(lo / step), math.floor(hi / step)
        ks = list(range(first, last + 1)) if last - first < 1000 else [first + rng.randint(0, 999)]
        rng.shuffle(ks)
        for k in ks[:50]:
            v = k * step
            if inside(v) and (v / step).is_integer():
                return v
        raise SchemaError("no multiple of multipleOf within the bounds")
    for _ in range(20):
        v = round(rng.uniform(lo, hi), 2)
        if inside(v):
            return v
    mid = (lo + hi) / 2
    if inside(mid):
        return mid
    raise SchemaError("no number within the bounds")


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    lo = int(schema.get("minLength", 0))
    hi = int(schema.get("maxLength", max(lo, 60)))
    if lo > hi:
        raise SchemaError("minLength above maxLength")
    fmt = schema.get("format")
    pattern = schema.get("pattern")
    candidates: list[str] = []
    if isinstance(fmt, str) and fmt in _FORMATS:
        candidates.append(_FORMATS[fmt](rng))
    if isinstance(pattern, str):
        candidates += _pattern_candidates(rng)
    candidates.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))))
    for text in candidates:
        if len(text) < lo:
            text = (text + " " + " ".join(WORDS[:lo]))[:lo] if lo else text
        text = text[:hi]
        if isinstance(pattern, str):
            try:
                if not re.search(pattern, text):
                    continue
            except re.error:
                pass
        return text
    raise SchemaError(f"no candidate string matches the pattern {pattern!r}")


def _pattern_candidates(rng: random.Random) -> list[str]:
    word = rng.choice(WORDS)
    return [word, word.capitalize(), str(rng.randint(0, 999)), f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            word.upper(), f"{word}_{rng.choice(WORDS)}", f"{word}-{rng.randint(1, 99)}", "a", "A1", "0"]
