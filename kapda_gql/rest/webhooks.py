"""``POST /webhooks/razorpay``: a plain Starlette route beside GraphQL, not through it.

Razorpay gives each delivery 5 seconds and retries any non-2xx answer for a
day. So: a wrong or missing signature is 400 and nothing is stored; the event
is stored (bounded well inside the budget) and a failure to store it is 503,
so Razorpay delivers it again and nothing is lost; once stored the answer is
200 whatever happens next. The event is then handled inline for up to
``HANDLE_WAIT_SECONDS``; handling that takes longer is not cut short (that
could abandon a capture already sent to Razorpay) but finishes after the
answer and records its own outcome; ``kapda-gql webhooks retry`` picks up
anything that failed or never finished.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kapda_gql.db.models import WebhookEvent
from kapda_gql.domain.enums import WebhookStatus
from kapda_gql.domain.text import unstorable
from kapda_gql.observability import record_webhook
from kapda_gql.payments import webhooks
from kapda_gql.runtime import Runtime

log = logging.getLogger("kapda_gql.webhooks")

PATH = "/webhooks/razorpay"
STORE_TIMEOUT_SECONDS = 1.5
HANDLE_WAIT_SECONDS = 3.0
# Work that outlives the answer still ends: then it is recorded as failed, for the retry command.
HANDLE_HARD_LIMIT_SECONDS = 60.0
_EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.]{1,64}")
# Razorpay's events nest a handful of levels; far deeper is no event, and jsonb has its own limit.
MAX_DEPTH = 32
# Handlers still running after their answer went out: referenced so they are not garbage collected.
_in_flight: set[asyncio.Task[str]] = set()


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def razorpay_webhook(runtime: Runtime) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        # The raw bytes: the signature covers them exactly, and re-serialised JSON would differ.
        body = await request.body()
        if not runtime.gateway.verify_webhook_signature(body, request.headers.get("x-razorpay-signature")):
            log.warning("webhook refused: missing or wrong signature")
            record_webhook("unknown", "bad_signature")
            return _error(400, "invalid signature")
        event_id = request.headers.get("x-razorpay-event-id", "")
        if not _EVENT_ID.fullmatch(event_id):
            return _error(400, "missing or malformed X-Razorpay-Event-Id")
        parsed = _parse(body)
        if parsed is None:
            record_webhook("unknown", "unstorable")
            return _error(400, "the body is not a Razorpay event this service can store")
        event_type, payload = parsed
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                event = await webhooks.store_event(
                    runtime.db.uow(), event_id=event_id, event_type=event_type, payload=payload
                )
        except Exception:  # whatever kept it from being stored, Razorpay must deliver it again
            log.exception("webhook %s (%s) could not be stored", event_id, event_type)
            record_webhook(event_type, "store_failed")
            return _error(503, "the event could not be stored; deliver it again", **{"Retry-After": "5"})
        if event is None:
            record_webhook(event_type, "duplicate")
            return JSONResponse({"status": "duplicate"})
        outcome = (await _handle(runtime, event)).lower()
        record_webhook(event_type, outcome)
        return JSONResponse({"status": outcome})

    return endpoint


def _parse(body: bytes) -> tuple[str, dict[str, Any]] | None:
    """The event's type and payload, or None (logged) when the body is not an event we can store."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON or bad UTF-8, or nested deep enough to recurse out
        log.warning("webhook refused: the body is not JSON (or nested past what the parser takes)")
        return None
    if not isinstance(payload, dict):
        log.warning("webhook refused: the body is not a JSON object")
        return None
    reason = _unstorable(payload)
    if reason is not None:
        # Refused (400) rather than failing to store (503): Razorpay would retry it for a day.
        log.warning("webhook refused: %s", reason)
        return None
    event_type = payload.get("event")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        log.warning("webhook refused: no usable event type")
        return None
    return event_type, payload


def _unstorable(payload: dict[str, Any]) -> str | None:
    """Why PostgreSQL's jsonb could not hold this payload (too deep, NUL, a lone surrogate), or None."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        else:
            if isinstance(value, str) and unstorable(value):
                return "it holds text PostgreSQL cannot store (NUL or a lone UTF-16 surrogate)"
            continue
        if depth > MAX_DEPTH:
            return f"it is nested more than {MAX_DEPTH} levels deep"
        stack.extend((item, depth + 1) for item in items)
    return None


async def _handle(runtime: Runtime, event: WebhookEvent) -> str:
    task = asyncio.create_task(_handle_fully(runtime, event), name=f"webhook-{event.event_id}")
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    done, _ = await asyncio.wait({task}, timeout=HANDLE_WAIT_SECONDS)
    if not done:
        return WebhookStatus.RECEIVED.value
    return task.result()


async def _handle_fully(runtime: Runtime, event: WebhookEvent) -> str:
    try:
        async with asyncio.timeout(HANDLE_HARD_LIMIT_SECONDS):
            return await webhooks.handle_event(runtime.db.uow(), runtime.gateway, event)
    except TimeoutError:
        log.error("webhook %s (%s) handling timed out", event.event_id, event.event_type)
        error = f"handling took longer than {HANDLE_HARD_LIMIT_SECONDS:.0f} s"
    except Exception:  # handle_event records its own failures; this is the recording itself failing
        log.exception("webhook %s (%s): recording the outcome failed", event.event_id, event.event_type)
        return WebhookStatus.RECEIVED.value
    try:
        await webhooks.record_failure(runtime.db.uow(), event.id, error)
    except Exception:  # still RECEIVED: the retry command takes stale RECEIVED events too
        log.exception("webhook %s: recording the timeout failed", event.event_id)
    return WebhookStatus.FAILED.value


def routes(runtime: Runtime) -> list[Route]:
    return [Route(PATH, razorpay_webhook(runtime), methods=["POST"])]
