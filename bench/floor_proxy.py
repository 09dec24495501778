"""The floor: a bare pass-through proxy, the least a Python proxy can add on this machine.

Raw ASGI under uvicorn (uvloop, httptools), one pooled ``aiohttp.ClientSession`` upstream: the
request body is forwarded as is and the response is streamed back unchanged, chunk by chunk.
No auth, no parsing, no routing. Run: ``python bench/floor_proxy.py --upstream URL --port P``.
"""

from __future__ import annotations

import argparse

import aiohttp

FORWARD = ("content-type", "authorization", "accept")
BACK = ("content-type", "content-length", "content-encoding", "cache-control")


def make_app(upstream: str):  # noqa: ANN201 - an ASGI callable
    session: aiohttp.ClientSession | None = None

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        nonlocal session
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False,
                                                    timeout=aiohttp.ClientTimeout(total=None, sock_read=600))
                    await send({"type": "lifespan.startup.complete"})
                else:  # shutdown
                    if session is not None:
                        await session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            msg = await receive()
            body, more = body + msg.get("body", b""), msg.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.decode() in FORWARD}
        url = upstream + scope["raw_path"].decode() + ("?" + scope["query_string"].decode() if scope["query_string"]
                                                      else "")
        assert session is not None, "lifespan startup did not run"
        async with session.request(scope["method"], url, data=body, headers=headers) as resp:
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": [(k.encode(), resp.headers[k].encode()) for k in BACK if k in resp.headers]})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bare pass-through proxy (the benchmark's floor)")
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9001")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    ns = p.parse_args(argv)
    import uvicorn

    uvicorn.run(make_app(ns.upstream.rstrip("/")), host=ns.host, port=ns.port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, backlog=4096)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
