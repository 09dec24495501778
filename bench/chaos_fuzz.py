"""The fuzzing part of the chaos run: requests generated from ``docs/openapi.yaml``, and hostile ones.

Generated (hypothesis; :func:`from_schema` turns the request schemas, the subset of JSON Schema
``docs/openapi.yaml`` uses, into strategies): for each operation of the OpenAPI description,
requests whose body follows the schema (its ``model`` mostly a real one, so requests reach the
replicas), follows it but for one field (a wrong type, an unknown field, a required one
missing), or is any JSON at all; with the right key, the other kind of key, none or garbage;
with arbitrary routing headers and query strings. Hand-written hostile cases (raw sockets,
where a client library would refuse): huge headers, a slow body, an abandoned body and stream,
invalid UTF-8 in the body and the headers, deeply nested JSON, 10 MB strings, wrong and missing
content types, chunked and mismatched framing.

A 5xx answer counts against the target, and so does a generated request left without an answer;
a malformed HTTP request may be answered 4xx or have its connection closed.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

OPENAPI = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
MODELS = ("auto", "small", "large", "frontier", "sim-small", "sim-large", "anthropic/claude-sonnet-4-20250514")
SHARE = {"chat": 0.3, "completions": 0.18, "messages": 0.2, "feedback": 0.1, "models": 0.05, "adminStats": 0.05,
         "adminPolicy": 0.03, "adminScores": 0.03, "health": 0.02, "ready": 0.02, "metrics": 0.02}
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20)


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """(operationId, method, path, body schema with every $ref inlined, who may call it)."""
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            security = op.get("security", spec.get("security", []))
            who = "none" if not security else next(iter(security[0]))
            out.append({"id": op["operationId"], "method": method.upper(), "path": path,
                        "schema": _inline(body, spec) if body else None, "who": who})
    return out


def _inline(node: Any, spec: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _inline(target, spec)
        return {k: _inline(v, spec) for k, v in node.items() if k != "nullable"}
    if isinstance(node, list):
        return [_inline(v, spec) for v in node]
    return node


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for ``schema``: type, enum, properties / required / additionalProperties, items /
    maxItems, minimum / maximum, oneOf, allOf (of objects). Optional properties come and go."""
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return from_schema(merged)
    if "oneOf" in schema:
        return st.one_of(*(from_schema(s) for s in schema["oneOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        extra = schema.get("additionalProperties")
        fixed = st.fixed_dictionaries({k: from_schema(v) for k, v in props.items() if k in required},
                                      optional={k: from_schema(v) for k, v in props.items() if k not in required})
        if isinstance(extra, dict):
            return st.tuples(fixed, st.dictionaries(st.text(max_size=10), from_schema(extra), max_size=3)).map(
                lambda t: {**t[1], **t[0]})
        return fixed
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=min(schema.get("maxItems", 6), 6))
    if kind == "string":
        return st.text(max_size=200)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"), allow_nan=False,
                         allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return JSON_VALUES  # no type: any JSON


def _body(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    valid = from_schema(schema).map(lambda b: dict(b) if isinstance(b, dict) else b)

    def real_model(b: Any, model: str) -> Any:
        if isinstance(b, dict) and "model" in b:
            b["model"] = model
        return b

    realistic = st.tuples(valid, st.sampled_from(MODELS)).map(lambda t: real_model(*t))

    def break_one(b: Any, key: str, value: Any, drop: bool) -> Any:
        if not isinstance(b, dict):
            return value
        if drop and b:
            b.pop(sorted(b)[len(key) % len(b)])
        else:
            b[key if not b or len(key) % 2 else sorted(b)[len(key) % len(b)]] = value
        return b

    broken = st.tuples(realistic, st.text(min_size=1, max_size=16), JSON_VALUES, st.booleans()).map(
        lambda t: break_one(*t))
    return st.one_of(realistic, realistic, broken, JSON_VALUES)


def case_strategy(op: dict[str, Any], client_key: str, admin_key: str) -> st.SearchStrategy[dict[str, Any]]:
    right = admin_key if op["who"] == "adminKey" else client_key
    other = client_key if op["who"] == "adminKey" else admin_key
    auth = st.one_of(st.just(right), st.just(right), st.just(right), st.just(right), st.just(right),
                     st.just(other), st.none(), HEADER_TEXT)
    headers = st.fixed_dictionaries({}, optional={"x-tierroute-tier": st.sampled_from(MODELS[1:4]) | HEADER_TEXT,
                                                  "x-tierroute-session": HEADER_TEXT, "x-request-id": HEADER_TEXT,
                                                  "anthropic-version": st.just("2023-06-01") | HEADER_TEXT})
    query = st.dictionaries(st.text(alphabet="abcdefghij_", min_size=1, max_size=8), HEADER_TEXT, max_size=3)
    body = _body(op["schema"]) if op["schema"] else st.none()
    return st.fixed_dictionaries({"auth": auth, "headers": headers, "query": query, "body": body})


def send(client: httpx.Client, op: dict[str, Any], case: dict[str, Any]) -> int | str | None:
    """The status answered; None: no answer; "unsendable": the client library refused the request."""
    headers = {k: v.strip() for k, v in case["headers"].items()}  # no HTTP client sends edge whitespace
    if case["auth"] is not None:
        headers["authorization"] = f"Bearer {case['auth']}".strip()
    content = None
    if op["method"] == "POST":
        content = json.dumps(case["body"]).encode()
        headers["content-type"] = "application/json"
    try:
        r = client.request(op["method"], op["path"], params=case["query"], headers=headers, content=content)
        return r.status_code
    except httpx.LocalProtocolError:
        return "unsendable"
    except httpx.HTTPError:
        return None


def generated(base: str, client_key: str, admin_key: str, total: int, rng_seed: int) -> dict[str, Any]:
    spec = yaml.safe_load(OPENAPI.read_text())
    ops = {op["id"]: op for op in operations(spec)}
    missing = set(SHARE) ^ set(ops)
    if missing:
        raise ValueError(f"docs/openapi.yaml and the fuzz shares disagree on {sorted(missing)}")
    by_op: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        def run(op: dict[str, Any], n: int, s: int) -> None:
            tally = by_op.setdefault(op["id"], {"cases": 0, "5xx": 0, "no_answer": 0, "unsendable": 0,
                                                "statuses": Counter(),
                                                "samples_5xx": []})

            @seed(s)
            @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case_strategy(op, client_key, admin_key))
            def one(case: dict[str, Any]) -> None:
                status = send(client, op, case)
                if status == "unsendable":
                    tally["unsendable"] += 1
                    return
                tally["cases"] += 1
                tally["statuses"][str(status)] += 1
                if status is None or (isinstance(status, int) and status >= 500):
                    tally["5xx" if status else "no_answer"] += 1
                    if len(tally["samples_5xx"]) < 5:
                        tally["samples_5xx"].append(json.dumps(case, default=str)[:400])

            one()

        for name, share in SHARE.items():
            run(ops[name], max(1, round(total * share)), rng_seed)
        top_up = 0
        while sum(t["cases"] for t in by_op.values()) < total:  # operations with few inputs ran out of cases
            top_up += 1
            run(ops["chat"], total - sum(t["cases"] for t in by_op.values()), rng_seed + top_up)
    for t in by_op.values():
        t["statuses"] = dict(t["statuses"])
    return by_op


# -- hostile cases ---------------------------------------------------------------------------------

ABANDON = "abandon"  # as the last part: the client hangs up instead of reading an answer


def raw(base: str, parts: list[bytes | float | str], timeout: float = 30.0) -> int | str | None:
    """Send raw bytes (a float between parts: pause that long); the status answered, None if none."""
    u = urlsplit(base)
    try:
        with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
            for p in parts:
                if p == ABANDON:
                    return "client hung up"
                if isinstance(p, float):
                    time.sleep(p)
                elif isinstance(p, bytes):
                    try:
                        s.sendall(p)
                    except OSError:
                        break  # the server may answer (413, 400) before the whole body is sent
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def _req(path: str, body: bytes, key: str, *, ctype: bytes | None = b"application/json", extra: bytes = b"",
         method: bytes = b"POST") -> bytes:
    head = method + b" " + path.encode() + b" HTTP/1.1\r\nhost: chaos\r\nauthorization: Bearer " + key.encode() + \
        b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n" + extra
    if ctype is not None:
        head += b"content-type: " + ctype + b"\r\n"
    return head + b"\r\n" + body


def hostile(base: str, client_key: str, admin_key: str) -> dict[str, int | str | None]:
    chat = "/v1/chat/completions"

    def msg(content: Any, **extra: Any) -> bytes:
        return json.dumps({"model": "auto", "messages": [{"role": "user", "content": content}], "max_tokens": 8,
                           **extra}).encode()

    ten_mb = "x" * (10 * 1024 * 1024)
    seven_mb = " ".join(["lorem ipsum dolor"] * (7 * 1024 * 1024 // 18))
    nested_list = b"[" * 100_000 + b"]" * 100_000
    nested_obj = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + \
        b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b"}"
    body = msg("hello there")
    half = body[: len(body) // 2]
    cases: dict[str, list[bytes | float | str]] = {
        "huge_header_64k": [_req(chat, body, client_key, extra=b"x-big: " + b"a" * 65536 + b"\r\n")],
        "huge_header_1mb": [_req(chat, body, client_key, extra=b"x-big: " + b"a" * (1 << 20) + b"\r\n")],
        "500_headers": [_req(chat, body, client_key, extra=b"".join(b"x-h%d: v\r\n" % i for i in range(500)))],
        "huge_authorization": [_req(chat, body, "k" * 100_000)],
        "huge_url": [_req("/v1/chat/completions?" + "q=" + "a" * 100_000, body, client_key)],
        "slow_body_3s": [_req(chat, body, client_key)[: -len(body)], *[p for b in body[:60] for p in
                                                                       (bytes([b]), 0.05)], body[60:]],
        "abandoned_body": [_req(chat, body, client_key)[: -len(body)] + half, 1.0, ABANDON],
        "abandoned_stream": [_req(chat, msg("tell me a story", stream=True), client_key), 0.02, ABANDON],
        "content_length_lies_short": [_req(chat, body, client_key).replace(
            b"content-length: %d" % len(body), b"content-length: %d" % (len(body) - 10))],
        "invalid_utf8_body": [_req(chat, msg("hi").replace(b"hi", b"h\xff\xfei\xc3\x28"), client_key)],
        "invalid_utf8_header": [_req(chat, body, client_key, extra=b"x-tierroute-session: \xff\xfe\xfd\r\n"
                                     b"x-tierroute-tier: sm\xc3\x28all\r\n")],
        "invalid_utf8_key": [_req(chat, body, "").replace(b"Bearer ", b"Bearer \xff\xfe")],
        "lone_surrogate_escape": [_req(chat, msg("\\ud800").replace(b"\\\\ud800", b"\\ud800"), client_key)],
        "deeply_nested_list": [_req(chat, nested_list, client_key)],
        "deeply_nested_object": [_req(chat, nested_obj, client_key)],
        "deeply_nested_content": [_req(chat, b'{"model": "auto", "messages": [{"role": "user", "content": '
                                       + b"[" * 50_000 + b"]" * 50_000 + b"}]}", client_key)],
        "string_10mb": [_req(chat, msg(ten_mb), client_key)],
        "string_7mb_under_limit": [_req(chat, msg(seven_mb), client_key)],
        "string_10mb_messages_api": [_req("/v1/messages", json.dumps({"model": "auto", "max_tokens": 8, "messages": [
            {"role": "user", "content": ten_mb}]}).encode(), client_key)],
        "string_10mb_feedback": [_req("/v1/feedback", json.dumps({"request_id": ten_mb}).encode(), client_key)],
        "chunked_10mb": [_req(chat, b"", client_key).replace(b"content-length: 0\r\n",
                                                             b"transfer-encoding: chunked\r\n")
                         + b"".join(b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n" for _ in range(160)) + b"0\r\n\r\n"],
        "chunked_bad_framing": [_req(chat, b"", client_key).replace(b"content-length: 0\r\n",
                                                                  b"transfer-encoding: chunked\r\n") + b"zz\r\nab\r\n"],
        "text_plain": [_req(chat, body, client_key, ctype=b"text/plain")],
        "form_urlencoded": [_req(chat, b"model=auto&messages=hi", client_key,
                                 ctype=b"application/x-www-form-urlencoded")],
        "multipart": [_req(chat, b"--b\r\ncontent-disposition: form-data; name=model\r\n\r\nauto\r\n--b--\r\n",
                           client_key, ctype=b"multipart/form-data; boundary=b")],
        "no_content_type": [_req(chat, body, client_key, ctype=None)],
        "xml": [_req(chat, b"<chat><model>auto</model></chat>", client_key, ctype=b"application/xml")],
        "empty_body": [_req(chat, b"", client_key)],
        "json_null": [_req(chat, b"null", client_key)],
        "json_array": [_req(chat, b'[{"model": "auto"}]', client_key)],
        "json_nan": [_req(chat, b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], '
                                b'"temperature": NaN}', client_key)],
        "huge_numbers": [_req(chat, msg("hi", max_tokens=10**40, temperature=1e308, seed=-(10**30)), client_key)],
        "float_overflow": [_req(chat, b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], '
                                      b'"max_tokens": 1e400}', client_key)],
        "duplicate_keys": [_req(chat, b'{"model": "auto", "model": "small", "messages": [], "messages": '
                                      b'[{"role": "user", "content": "hi"}]}', client_key)],
        "ten_thousand_messages": [_req(chat, json.dumps({"model": "auto", "max_tokens": 8, "messages": [
            {"role": "user", "content": f"m{i}"} for i in range(10_000)]}).encode(), client_key)],
        "content_wrong_types": [_req(chat, msg({"text": 1}), client_key)],
        "stream_not_bool": [_req(chat, msg("hi", stream="yes please"), client_key)],
        "n_100_stream": [_req(chat, msg("hi", n=100, stream=True), client_key)],
        "get_on_chat": [_req(chat, b"", client_key, method=b"GET")],
        "put_on_chat": [_req(chat, body, client_key, method=b"PUT")],
        "unknown_method": [_req(chat, body, client_key, method=b"BREW")],
        "path_traversal_admin": [_req("/v1/../admin/stats", b"", client_key, method=b"GET")],
        "admin_with_client_key": [_req("/admin/stats", b"", client_key, method=b"GET")],
        "admin_post_body": [_req("/admin/stats", nested_list, admin_key)],
        "admin_without_key": [b"GET /admin/policy HTTP/1.1\r\nhost: chaos\r\nconnection: close\r\n\r\n"],
        "http_1_0_no_host": [b"POST " + chat.encode() + b" HTTP/1.0\r\nauthorization: Bearer " + client_key.encode()
                             + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body],
        "garbage_request_line": [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"],
        "header_without_colon": [_req(chat, body, client_key, extra=b"this is not a header\r\n")],
    }
    return {name: raw(base, parts) for name, parts in cases.items()}


def fuzz(base: str, client_key: str, admin_key: str, cases: int, rng_seed: int = 0) -> dict[str, Any]:
    t0 = time.perf_counter()
    by_op = generated(base, client_key, admin_key, cases, rng_seed)
    hostile_results = hostile(base, client_key, admin_key)
    hostile_5xx = sum(1 for s in hostile_results.values() if isinstance(s, int) and s >= 500)
    gen_5xx = sum(t["5xx"] + t["no_answer"] for t in by_op.values())
    return {"generated": sum(t["cases"] for t in by_op.values()), "hostile": len(hostile_results),
            "5xx": gen_5xx + hostile_5xx, "generated_5xx": gen_5xx, "hostile_5xx": hostile_5xx,
            "hostile_closed_without_answer": sorted(n for n, s in hostile_results.items() if s is None),
            "by_operation": by_op, "hostile_results": hostile_results, "elapsed_s": round(time.perf_counter() - t0, 1)}
