"""12.10 (parsing): a signed body that is not a JSON object the service can store is 400, stored
nowhere, and logged — never a 500 (RecursionError) or a 503 that Razorpay would retry for a day."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import asyncpg

from tests.support.webhooks import WEBHOOK, signature


def deliver_raw(raw: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": signature(raw),
        "X-Razorpay-Event-Id": f"evt_sec{uuid.uuid4().hex[:14]}",
    }


async def refused(api: Any, db: asyncpg.Connection, logs: Any, raw: bytes) -> None:
    response = await api.client.post(WEBHOOK, content=raw, headers=deliver_raw(raw))
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
    assert any(r.levelno == logging.WARNING and "webhook refused" in r.getMessage() for r in logs.records)
    logs.records.clear()


async def test_a_body_nested_100000_deep_is_400(api: Any, db: asyncpg.Connection, logs: Any) -> None:
    depth = 100_000
    raw = b'{"event":"payment.captured","payload":' + b"[" * depth + b"]" * depth + b"}"
    await refused(api, db, logs, raw)
    # Deep enough for jsonb to balk, shallow enough for the parser: refused too.
    nested: Any = "x"
    for _ in range(200):
        nested = {"a": nested}
    await refused(api, db, logs, json.dumps({"event": "payment.captured", "payload": nested}).encode())


async def test_unstorable_text_anywhere_is_400(api: Any, db: asyncpg.Connection, logs: Any) -> None:
    for text in ("\ud800", "a\x00b"):
        body = {
            "event": "payment.captured",
            "payload": {"payment": {"entity": {"id": "pay_x", "notes": [text]}}},
        }
        await refused(api, db, logs, json.dumps(body).encode())  # ASCII JSON: \ud800, \u0000 escaped
    key = json.dumps({"event": "payment.captured", "payload": {"\udfff": 1}}).encode()
    await refused(api, db, logs, key)


async def test_an_escaped_backslash_u0000_is_ordinary_text(api: Any, db: asyncpg.Connection) -> None:
    body = {"event": "payment.authorized", "payload": {"note": "C:\\u0000"}}
    raw = json.dumps(body).encode()
    assert b"\\\\u0000" in raw
    response = await api.client.post(WEBHOOK, content=raw, headers=deliver_raw(raw))
    assert response.status_code == 200, response.text
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 1
