"""The sandbox served by uvicorn on a daemon thread, for the development server and tests."""

from __future__ import annotations

import errno
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from kapda_gql.devtools.sandbox.app import build_sandbox_app
from kapda_gql.devtools.sandbox.state import SandboxState
from kapda_gql.devtools.sandbox.webhooks import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_RETRY_WINDOW_SECONDS,
    RetryPolicy,
)


class PortInUseError(OSError):
    """Something else already listens on the port asked for."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port); ``PortInUseError`` if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a port left in TIME_WAIT by the last run is free; one with a listener is not.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from None
        raise
    return sock


class SandboxServer:
    """Serves the sandbox with uvicorn on a daemon thread.

    ``webhook_retry_window`` and ``webhook_backoff`` (seconds) shape how failed
    webhook deliveries are retried; the defaults are Razorpay's day of retries.
    """

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_window: float = DEFAULT_RETRY_WINDOW_SECONDS,
        webhook_backoff: float = DEFAULT_BACKOFF_SECONDS,
    ) -> None:
        self._state = SandboxState(
            key_id=key_id,
            key_secret=key_secret,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
            webhook_retry=RetryPolicy(window_seconds=webhook_retry_window, backoff_seconds=webhook_backoff),
        )
        self._app = build_sandbox_app(self._state)
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    @property
    def state(self) -> SandboxState:
        return self._state

    @property
    def app(self) -> Starlette:
        return self._app

    @property
    def webhook_url(self) -> str | None:
        return self._state.webhook_url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._state.webhook_url = url

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the sandbox server was never started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` must be: the SDK appends ``/v1/...`` itself."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Serve; raises ``PortInUseError`` at once when the port is taken."""
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        # Bound here rather than by uvicorn, so a taken port is an exception in the caller's
        # thread (uvicorn would log it and end its own thread) and the port is known at once.
        sock = bind(self._host, self._port)
        self._bound_port = int(sock.getsockname()[1])
        self._state.stopping.clear()
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            # A request parked in delay_seconds should not hold up stopping the sandbox.
            timeout_graceful_shutdown=1,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="razorpay-sandbox", daemon=True
        )
        self._thread.start()
        try:
            self._wait_until_serving(timeout)
        except BaseException:
            sock.close()  # once serving, uvicorn owns it and closes it on shutdown
            raise
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        self._state.stopping.set()
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        self._state.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _wait_until_serving(self, timeout: float) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            raise RuntimeError("the sandbox server is not started")
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
