"""``tierroute serve`` for the cache-affinity benchmark, minus the classifier's model load.

The benchmark pins every request to one tier (``model: "<tier>"``), so the classifier never
scores anything; loading MiniLM would only add ~10-30 s and ~0.5 GB per proxy process. This
runs the same application (:func:`router.app.create_app`: policy, health checks, ``/metrics``
polling, replica choice, affinity store, streaming) under uvicorn with the options
``tierroute serve`` uses, with a constant stand-in classifier. ``bench/cache_affinity.py
--real-serve`` starts ``tierroute serve`` itself instead.

Run: ``python bench/cache_affinity_proxy.py --policy FILE --port P [--redis-url URL]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # router/ and classifiers/ of this checkout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="tierroute proxy with a constant classifier (benchmarks)")
    p.add_argument("--policy", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis-url", default=None)
    p.add_argument("--log-level", default="warning")
    ns = p.parse_args(argv)

    import uvicorn

    from classifiers.fake import ConstantClassifier
    from router.app import create_app
    from router.logs import configure_logging
    from router.settings import Settings

    settings = Settings(policy_path=ns.policy, host=ns.host, port=ns.port, redis_url=ns.redis_url,
                        log_level=ns.log_level)
    configure_logging(settings.log_level)
    app = create_app(settings, classifier=ConstantClassifier(0.0))
    uvicorn.run(app, host=ns.host, port=ns.port, log_config=None, access_log=False, loop="uvloop",
                http="httptools", timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
