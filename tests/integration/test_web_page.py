"""The browser page as the app serves it: files, headers, relative URLs, a path prefix.

The page itself runs in a real browser in ``tests/browser``; these check what needs no browser.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from tests.integration.conftest import Stack

pytestmark = pytest.mark.timeout(30)

ASSETS = {"app.js": "javascript", "worklet.js": "javascript", "style.css": "text/css"}


def test_page_and_assets(stack: Stack) -> None:
    page = stack.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    for name, kind in ASSETS.items():
        asset = stack.client.get(f"/web/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"], name
        assert asset.headers["cache-control"] == "no-cache"
    assert stack.client.get("/web/missing.js").status_code == 404
    assert stack.client.get("/web/%2e%2e/service/web.py").status_code == 404  # no way out of the web root


def test_page_urls_are_relative(stack: Stack) -> None:
    html = stack.client.get("/").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(not r.startswith("/") for r in refs), refs
    script = stack.client.get("/web/app.js").text
    # an absolute path would escape a prefix: /v1/…, "/web/…"
    assert not re.search(r"""["'`]/(v1|web)/""", script)
    assert "v1/stream/control" in script and "v1/stream/audio" in script


def test_page_behind_a_path_prefix(stack: Stack) -> None:
    prefixed = TestClient(Starlette(routes=[Mount("/stt", app=stack.client.app)]))
    redirect = prefixed.get("/stt", follow_redirects=False)
    assert redirect.status_code in (307, 308) and redirect.headers["location"].endswith("/stt/")
    assert "web/app.js" in prefixed.get("/stt/").text
    assert prefixed.get("/stt/web/worklet.js").status_code == 200


def test_page_ships_with_the_package() -> None:
    # Serve replicas import the installed package: the page must be package data, not a repo folder
    web = resources.files("app") / "web"
    assert all((web / name).is_file() for name in ["index.html", *ASSETS])


def test_page_holds_no_credentials(stack: Stack) -> None:
    texts = [stack.client.get("/").text] + [stack.client.get(f"/web/{n}").text for n in ASSETS]
    for text in texts:
        assert "key-a" not in text and "key-b" not in text
