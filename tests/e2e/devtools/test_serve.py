"""`kapda-gql serve` as a developer meets it: busy ports, a quiet start, a clean stop."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from tests.e2e.devtools.processes import Serving, cli_env, free_port, hold_port, run


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_a_busy_service_port_is_one_line_naming_it(tmp_path: Path, database_url: str) -> None:
    held = hold_port()
    assert held is not None
    port = held.getsockname()[1]
    try:
        result = run("serve", "--port", str(port), env=cli_env(tmp_path / "data", database_url), timeout=60)
    finally:
        held.close()

    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "--port" in line
    assert "Traceback" not in result.stdout + result.stderr


def test_a_busy_sandbox_port_given_explicitly_is_one_line_naming_it(
    tmp_path: Path, database_url: str
) -> None:
    held = hold_port()
    assert held is not None
    sandbox_port = held.getsockname()[1]
    try:
        result = run(
            "serve",
            "--port",
            str(free_port()),
            "--sandbox-port",
            str(sandbox_port),
            env=cli_env(tmp_path / "data", database_url),
            timeout=60,
        )
    finally:
        held.close()

    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"sandbox port {sandbox_port} on 127.0.0.1 is already in use" in line
    assert "--sandbox-port" in line
    assert "Traceback" not in result.stdout + result.stderr


def test_a_busy_default_sandbox_port_moves_the_sandbox_and_the_cli_finds_it(
    tmp_path: Path, database_url: str, serving: list[Serving]
) -> None:
    # Held here, or already held by another serve on this machine: busy either way.
    held = hold_port(8001)
    data_dir = tmp_path / "data"
    port = free_port()
    try:
        serve = Serving("--port", str(port), env=cli_env(data_dir, database_url), log=tmp_path / "serve.log")
        serving.append(serve)
        serve.wait_healthy(port)
        output = serve.output()
        recorded = json.loads((data_dir / "sandbox.json").read_text())
        sandbox_url = recorded["base_url"]
        faults = httpx.get(f"{sandbox_url}/sandbox/faults", timeout=5)
        # A command run beside serve, with no KAPDA_RAZORPAY_BASE_URL, talks to the same sandbox.
        processed = run("refunds", "process", env=cli_env(data_dir, database_url), timeout=60)
        code = serve.terminate()
    finally:
        if held is not None:
            held.close()

    assert "port 8001 is in use, so it listens on port" in output
    moved_to = int(output.split("so it listens on port ")[1].split()[0])
    assert moved_to != 8001
    assert sandbox_url == f"http://127.0.0.1:{moved_to}"
    assert f"Razorpay sandbox: {sandbox_url}" in output
    assert recorded["pid"] == serve.process.pid
    assert faults.status_code == 200
    assert processed.returncode == 0, processed.stderr
    assert processed.stdout.startswith("refunds: 0 confirmed")
    assert code == 0
    assert not (data_dir / "sandbox.json").exists()  # removed on the way out
    assert "Traceback" not in serve.output()


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but the process table.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_the_embedded_postgres_and_the_start_is_quiet(
    tmp_path: Path, serving: list[Serving]
) -> None:
    data_dir = tmp_path / "data"
    port, sandbox_port = free_port(), free_port()
    serve = Serving(
        "--port",
        str(port),
        "--sandbox-port",
        str(sandbox_port),
        env=cli_env(data_dir, None),  # no KAPDA_DATABASE_URL: the embedded PostgreSQL
        log=tmp_path / "serve.log",
    )
    serving.append(serve)
    serve.wait_healthy(port)
    postgres = _postmaster_pid(data_dir)
    assert _alive(postgres)
    startup = serve.output()

    code = serve.terminate(timeout=60)
    deadline = time.monotonic() + 15
    while _alive(postgres) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert code == 0, serve.output()
    assert not _alive(postgres), f"the embedded PostgreSQL outlived serve:\n{serve.output()}"
    # The banner and the lines that matter: no pgserver command dumps, no migration chatter.
    assert "Kapda GraphQL is starting at" in startup, startup
    assert f"Razorpay sandbox: http://127.0.0.1:{sandbox_port}" in startup
    assert "pgserver" not in startup
    assert "Running upgrade" not in startup
    assert "RuntimeDirWarning" not in startup
    assert len([line for line in startup.splitlines() if line.strip()]) <= 8, startup
