"""GraphiQL served whole by the service, checked in a real headless Chromium over the DevTools protocol:
the editor renders under the page's own CSP, a query run from it returns data, and no request
leaves this machine."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from kapda_gql.graphql import graphiql
from tests.e2e.http.conftest import Live


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed here when it is missing (CI runs as root), never skipped."""
    path = shutil.which("chromium")
    if path is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=900)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, timeout=1800)
        path = shutil.which("chromium")
    assert path, "chromium could not be installed"
    return path


class Cdp:
    """Just enough of the Chrome DevTools Protocol: calls by id, every event kept in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        while True:
            data = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if data.get("id") == self.last_id:
                assert "error" not in data, data
                return dict(data["result"])
            self.events.append(data)

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def wait_for(self, session: str, expression: str, seconds: float = 20) -> Any:
        for _ in range(int(seconds * 10)):
            value = await self.evaluate(session, expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never true: {expression}")


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Cdp]:
    profile = tempfile.mkdtemp(prefix="kapda-chromium-")
    process = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        endpoint = None
        for _ in range(200):
            line = await asyncio.to_thread(process.stderr.readline)
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                endpoint = found.group(1)
                break
        assert endpoint, "chromium did not open its DevTools endpoint"
        async with websockets.connect(endpoint, max_size=None) as ws:
            yield Cdp(ws)
    finally:
        process.terminate()
        process.wait(15)
        shutil.rmtree(profile, ignore_errors=True)


async def test_graphiql_renders_runs_a_query_and_stays_on_this_machine(
    live: Callable[..., Live], browser: Cdp, make_user: Any, make_product: Any, tmp_path: Path
) -> None:
    designer = await make_user("DESIGNER")
    await make_product(designer.designer_id, title="Bandhani saree")
    server = live()
    target = await browser.call("Target.createTarget", url="about:blank")
    session = (await browser.call("Target.attachToTarget", targetId=target["targetId"], flatten=True))[
        "sessionId"
    ]
    for domain in ("Network", "Page", "Runtime", "Log"):
        await browser.call(f"{domain}.enable", session)
    await browser.call("Page.navigate", session, url=server.graphql)

    editor = ".graphiql-query-editor .CodeMirror"
    await browser.wait_for(session, f"!!document.querySelector({json.dumps(editor)})")
    query = "{ products(first: 3) { totalCount edges { node { title } } } }"
    await browser.evaluate(
        session, f"document.querySelector({json.dumps(editor)}).CodeMirror.setValue({json.dumps(query)})"
    )
    await browser.evaluate(session, "document.querySelector('.graphiql-execute-button').click()")
    result = await browser.wait_for(
        session,
        "(() => { const r = document.querySelector('.result-window .CodeMirror');"
        " const v = r && r.CodeMirror.getValue(); return v && v.includes('totalCount') ? v : null })()",
    )
    assert json.loads(result) == {
        "data": {"products": {"totalCount": 1, "edges": [{"node": {"title": "Bandhani saree"}}]}}
    }
    shot = await browser.call("Page.captureScreenshot", session, format="png")
    (tmp_path / "graphiql.png").write_bytes(__import__("base64").b64decode(shot["data"]))

    requests = [
        e["params"]["request"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"
    ]
    urls = [r["url"] for r in requests]
    assert any(u.endswith("/graphiql/graphiql.min.js") for u in urls)
    assert any(r["method"] == "POST" and r["url"] == server.graphql for r in requests)
    outside = [u for u in urls if not (u.startswith(server.url + "/") or u.startswith(("data:", "blob:")))]
    assert outside == []
    problems = [
        e["params"]
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert problems == []


async def test_the_page_and_its_assets_name_no_other_host(api: Any) -> None:
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert csp == graphiql.CSP
    assert "http" not in csp and "*" not in csp and "unsafe" not in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    sources = [s for s in sources if s != "data:,"]  # the empty favicon, so none is fetched
    assert sources and all(s.startswith("/graphiql/") for s in sources)
    for source in sources:
        asset = await api.client.get(source)
        assert asset.status_code == 200, source
    # What the wheel ships: every file the page needs, and the licenses beside them.
    shipped = {p.name for p in graphiql.STATIC.iterdir()}
    assert {"LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom", "THIRD-PARTY-LICENSES.txt"} <= shipped
    assert {s.rsplit("/", 1)[1] for s in sources} <= shipped


async def test_graphiql_is_off_in_production(app_client: Callable[..., httpx.AsyncClient]) -> None:
    client = app_client(env="production", graphiql=False)
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert not page.headers["content-type"].startswith("text/html")
    assert (await client.get("/graphiql/graphiql.min.js")).status_code == 404
