"""The web console: static HTML, CSS and JS served by the gateway at `/`, calling only the
gateway's public API with the user's own key (kept in the browser's session storage, never in a URL)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
# The page loads only its own files and talks only to this origin; model output is inserted as text.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/console/{asset}")
async def asset(asset: str) -> FileResponse:
    from aistack.errors import NotFound

    if asset not in ASSETS:
        raise NotFound(f"no console asset '{asset}'")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=HEADERS)
