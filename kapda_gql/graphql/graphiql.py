"""GraphiQL, served whole by the service: the page at GET /graphql (for a browser) and its
vendored scripts and styles under /graphiql/ (static/graphiql/VERSIONS.md says what they are)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static" / "graphiql"
# Everything the page loads comes from this origin; styles are set by script (CSSOM), which the
# policy does not govern, so no 'unsafe-inline' is needed anywhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


@cache
def _html() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


def page() -> HTMLResponse:
    return HTMLResponse(_html(), headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP})


def routes() -> list[BaseRoute]:
    return [Mount("/graphiql", app=StaticFiles(directory=STATIC), name="graphiql")]


__all__ = ["CSP", "page", "routes"]
