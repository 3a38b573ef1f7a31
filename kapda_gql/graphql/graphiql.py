"""GraphiQL, served by GET /graphql to a browser (text/html) when enabled."""

from __future__ import annotations

from starlette.responses import HTMLResponse
from strawberry.http.ides import get_graphql_ide_html


def page() -> HTMLResponse:
    return HTMLResponse(get_graphql_ide_html("graphiql"), headers={"Cache-Control": "no-cache"})
