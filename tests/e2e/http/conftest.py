"""A real uvicorn server on a free loopback port, and the node packages the clients come from."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kapda_gql.app import create_app
from kapda_gql.config import Settings
from kapda_gql.runtime import Runtime

JS = Path(__file__).resolve().parent / "js"


@dataclass
class Live:
    url: str
    app: Any
    port: int

    @property
    def graphql(self) -> str:
        return self.url + "/graphql"


class _Server(threading.Thread):
    def __init__(self, settings: Settings, config: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.app = create_app(settings)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                http="httptools",
                loop="asyncio",
                log_config=None,
                access_log=False,
                lifespan="on",
                **config,
            )
        )

    def run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def wait_started(self) -> None:
        for _ in range(500):
            if self.server.started:
                return
            if not self.is_alive():
                raise RuntimeError("uvicorn stopped before it started")
            threading.Event().wait(0.02)
        raise RuntimeError("uvicorn did not start in 10 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(15)
        self.sock.close()


@pytest.fixture
def live(settings: Settings) -> Iterator[Callable[..., Live]]:
    """live(**setting_overrides) -> Live: the whole app served by uvicorn on 127.0.0.1, stopped after."""
    servers: list[_Server] = []

    def start(uvicorn_config: dict[str, Any] | None = None, **overrides: Any) -> Live:
        server = _Server(settings.with_overrides(**overrides), uvicorn_config or {})
        server.start()
        servers.append(server)
        server.wait_started()
        return Live(f"http://127.0.0.1:{server.port}", server.app, server.port)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def app_client(runtime: Runtime, settings: Settings) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """app_client(**setting_overrides): the real app over ASGI, each with its own view (a replica of
    its own: its own in-process maps, the shared stores behind them)."""
    clients: list[httpx.AsyncClient] = []
    views: list[Any] = []

    def make(**overrides: Any) -> httpx.AsyncClient:
        replica = Runtime(
            settings=settings.with_overrides(**overrides), db=runtime.db, gateway=runtime.gateway
        )
        app = create_app(runtime=replica)
        views.extend(r.app for r in app.routes if getattr(r, "path", "") == "/graphql")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    for view in views:
        await view.aclose()


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The pinned packages of js/package-lock.json, installed with `npm ci` when they are not yet."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the client tests (apt-get install nodejs npm)"
    lock = json.loads((JS / "package-lock.json").read_text())
    wanted = {name.removeprefix("node_modules/") for name in lock["packages"] if name}
    if not all((JS / "node_modules" / name / "package.json").is_file() for name in wanted):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    return JS / "node_modules"


def run_node(script: str, *args: str, timeout: float = 120) -> Any:
    """Run one of js/'s scripts; its last line of output is JSON."""
    done = subprocess.run(
        ["node", str(JS / script), *args], cwd=JS, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout.strip().splitlines()[-1])
