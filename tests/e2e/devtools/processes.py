"""Starting `kapda-gql` as a real process, for the end-to-end tests of serve and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

KAPDA_GQL = str(Path(sys.executable).with_name("kapda-gql"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hold_port(port: int = 0) -> socket.socket | None:
    """A listening socket on ``port`` (0: any), or None if something else already holds it."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


def cli_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """A development environment of its own: its data dir, no gateway URL unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAPDA_")}
    env.update(KAPDA_DATA_DIR=str(data_dir), KAPDA_LOG_JSON="off", PYTHONUNBUFFERED="1", **extra)
    if database_url is not None:
        env["KAPDA_DATABASE_URL"] = database_url
    return env


def run(*argv: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KAPDA_GQL, *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


class Serving:
    """`kapda-gql serve` in a process of its own, with its output in a file."""

    def __init__(self, *argv: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [KAPDA_GQL, "serve", *argv], env=env, stdout=self._out, stderr=subprocess.STDOUT, text=True
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_healthy(self, port: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited:\n{self.output()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer /healthz in {timeout} s:\n{self.output()}")

    def terminate(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._out.close()
