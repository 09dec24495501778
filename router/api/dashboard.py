"""GET /admin/ui: the operator dashboard, three static files served by the proxy (no CDN, no build step).

A browser cannot send a bearer header when it navigates, so the page itself holds no secret and no
figure: it is open like ``/health``. It asks for the admin key, keeps it in ``sessionStorage`` (gone
when the tab closes; never in a URL, a cookie or the page) and reads the admin-gated
``/admin/stats`` and ``/admin/policy`` with ``Authorization: Bearer``; a missing or wrong key gets
the same 401 as any other admin call and the page shows the refusal and no figures. On a keyless
local proxy (admin endpoints open, see router.auth) it shows the figures without asking.

The answers forbid framing, inline scripts and any connection but to the proxy itself
(Content-Security-Policy), and are never cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

ASSET_DIR = Path(__file__).with_name("dashboard")
PAGE = "/admin/ui"
ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "charts.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


def load_assets(directory: Path = ASSET_DIR) -> dict[str, Asset]:
    """The page's files, read once when the app is built (a missing file fails start-up, not a request)."""
    return {name: Asset((directory / name).read_bytes(), media) for name, media in ASSETS.items()}


def routes(assets: dict[str, Asset] | None = None) -> list[Route]:
    files = load_assets() if assets is None else assets

    def serve(name: str) -> Response:
        a = files[name]
        return Response(a.body, 200, dict(HEADERS), media_type=a.media_type)

    async def page(request: Request) -> Response:
        return serve("index.html")

    async def slash(request: Request) -> Response:
        return RedirectResponse("../ui", status_code=308)  # relative: right behind a path prefix too

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files or name == "index.html":
            raise HTTPException(404)  # rendered like every unknown path (router.api.http)
        return serve(name)

    return [
        Route(PAGE, page, methods=["GET"]),
        Route(PAGE + "/", slash, methods=["GET"]),
        Route(PAGE + "/{name}", asset, methods=["GET"]),
    ]
