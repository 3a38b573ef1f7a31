"""CLI commands in development call the sandbox `serve` started, never the real Razorpay with
sandbox credentials."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kapda_gql.devtools.sandbox import address
from tests.e2e.devtools.processes import cli_env, run
from tests.support.documents import TRANSITION

REFUSAL = "refusing to send the sandbox credentials to the real Razorpay"


async def test_refunds_process_finds_the_sandbox_serve_recorded(
    tmp_path: Path,
    database_url: str,
    api: Any,
    db: Any,
    shop: dict[str, Any],
    place_order: Any,
    sandbox: Any,
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    sandbox.state.fail_next("refund", 1)  # the cancel's own attempt fails: the refund waits in the outbox
    body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert body["transitionOrder"]["paymentStatus"] == "REFUND_PENDING"
    assert sandbox.state.refunds_for_payment(order["payment_id"]) == []
    data_dir = tmp_path / "data"
    address.write(data_dir, sandbox.base_url)  # as `serve` does (this process plays serve)

    result = await asyncio.to_thread(run, "refunds", "process", env=cli_env(data_dir, database_url))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refunds: 1 confirmed")
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1
    assert await db.fetchval("SELECT payment_status FROM orders") == "REFUNDED"


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize("command", [["refunds", "process"], ["webhooks", "retry"]])
@pytest.mark.parametrize("situation", ["no serve", "stale file", "real host"])
def test_without_a_sandbox_gateway_commands_are_refused(
    tmp_path: Path, database_url: str, command: list[str], situation: str
) -> None:
    data_dir = tmp_path / "data"
    extra: dict[str, str] = {}
    if situation == "stale file":
        address.write(data_dir, "http://127.0.0.1:9", pid=_dead_pid())  # left by a killed serve
    if situation == "real host":
        extra["KAPDA_RAZORPAY_BASE_URL"] = "https://api.razorpay.com"

    result = run(*command, env=cli_env(data_dir, database_url, **extra), timeout=60)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert REFUSAL in lines[0]
    assert f"KAPDA_DATA_DIR={data_dir}" in lines[0]
    assert "KAPDA_RAZORPAY_BASE_URL" in lines[0]


def test_real_credentials_may_go_to_the_real_host(tmp_path: Path, database_url: str) -> None:
    """Only sandbox credentials are held back: with a developer's own test keys the command runs
    against Razorpay's API (nothing is pending here, so no call is actually made)."""
    env = cli_env(
        tmp_path / "data",
        database_url,
        KAPDA_RAZORPAY_KEY_ID="rzp_test_someone",
        KAPDA_RAZORPAY_KEY_SECRET="their-own-test-secret",
    )
    result = run("refunds", "process", env=env, timeout=60)

    assert REFUSAL not in result.stderr
    assert result.returncode == 0, result.stderr  # nothing pending: no call made at all
