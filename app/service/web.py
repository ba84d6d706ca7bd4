"""The browser demo page: ``/`` serves ``index.html``, ``/web/…`` its script, worklet and styles.

The files ship inside the package (``app/web``, package data), so every ingress replica serves
them from the installed package. Every URL in the page is relative, so the page works under a
path prefix (a Serve ``route_prefix`` or a reverse proxy that strips one). The page's own URL needs
its trailing slash (``/stt/``), and Starlette's router redirects ``/stt`` there.

The page holds no API key: it gets a short-lived JWT in its URL fragment (``#token=…``, minted by
``stt token --page`` or by the operator's own backend) and sends it as the ``bearer.<jwt>``
WebSocket subprotocol. The headers below keep that token in the page: no Referer leaves it, no
script from elsewhere runs in it, and no other site may frame it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: the page's files inside the installed package
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
    # the page asks for the microphone; nothing else it may use
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"  # revalidate: an upgrade must not mix old and new files
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def web_routes(root: Path = WEB_ROOT) -> list[BaseRoute]:
    index = root / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"web root {root} has no index.html (is the package installed with its data?)")

    async def page(request: Request) -> Response:
        return FileResponse(index, headers=PAGE_HEADERS)

    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Mount("/web", app=_Assets(directory=root), name="web"),
    ]
