"""Webhook events and their delivery, retried the way Razorpay retries them.

Razorpay posts each event to the account's webhook URL and, when the answer is
not a 2xx (or nothing answers), tries again with growing gaps for 24 hours
before giving up on it. The outbox does the same on one worker thread, with the
window and the first gap configurable so that tests can watch a whole retry
schedule in a fraction of a second. Every attempt is kept on its event.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from kapda_gql.devtools.sandbox.entities import new_id
from kapda_gql.devtools.sandbox.errors import SandboxError, not_found

logger = logging.getLogger("kapda_gql.devtools.sandbox")

WEBHOOK_TIMEOUT_SECONDS = 5.0
#: Razorpay keeps retrying a failing endpoint for a day.
DEFAULT_RETRY_WINDOW_SECONDS = 24 * 3600.0
#: The first gap; each later one doubles (1 min, 2 min, 4 min, ... about 10 retries in a day).
DEFAULT_BACKOFF_SECONDS = 60.0
#: Attempts made by the outbox itself, as opposed to on demand.
SCHEDULED_MODES = frozenset({"auto", "retry"})


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Gaps of ``backoff_seconds * factor**(n - 1)`` after the n-th failure, within ``window_seconds``
    of the first attempt; an attempt that would fall after the window is not made."""

    window_seconds: float = DEFAULT_RETRY_WINDOW_SECONDS
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.window_seconds < 0 or self.backoff_seconds <= 0 or self.factor < 1:
            raise ValueError("the retry window must be >= 0, the backoff > 0 and the factor >= 1")

    def gap(self, failures: int) -> float:
        return float(self.backoff_seconds * self.factor ** max(failures - 1, 0))

    def to_json(self) -> dict[str, float]:
        return {
            "retry_window_seconds": self.window_seconds,
            "backoff_seconds": self.backoff_seconds,
            "backoff_factor": self.factor,
        }


@dataclass(slots=True)
class SandboxEvent:
    """One webhook event, kept with the exact bytes that are (re)delivered."""

    id: str
    type: str
    created_at: int
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: When the outbox first tried it (wall clock): the retry window starts here.
    first_sent_at: float | None = None
    #: When the outbox will try it next (wall clock), if it will.
    next_attempt_at: float | None = None

    @property
    def delivered(self) -> bool:
        return any(a["ok"] for a in self.attempts)

    @property
    def delivery(self) -> str:
        """``delivered``, ``queued``, ``retrying`` (failed, another attempt is scheduled),
        ``failed`` (failed, none is) or ``not_sent``."""
        if self.delivered:
            return "delivered"
        if self.next_attempt_at is not None:
            return "retrying" if self.attempts else "queued"
        return "failed" if self.attempts else "not_sent"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.type,
            "created_at": self.created_at,
            "payload": json.loads(self.body),
            "delivery": self.delivery,
            "next_attempt_at": self.next_attempt_at,
            "attempts": [dict(a) for a in self.attempts],
        }


class WebhookOutbox:
    """The events recorded so far and the worker that delivers (and retries) them."""

    def __init__(self, *, secret: str, url: str | None, policy: RetryPolicy) -> None:
        self.secret = secret
        self.url = url
        self.policy = policy
        self.events: dict[str, SandboxEvent] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # (time.monotonic() when due, tie-breaker, event id)
        self._due: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._worker: threading.Thread | None = None
        self._stop_worker = threading.Event()

    # -- events ---------------------------------------------------------------

    def record(self, body: dict[str, Any]) -> str:
        event = SandboxEvent(
            id=new_id("evt"),
            type=str(body["event"]),
            created_at=int(body["created_at"]),
            body=json.dumps(body, separators=(",", ":")).encode(),
        )
        with self._lock:
            self.events[event.id] = event
        return event.id

    def of_type(self, event_type: str) -> list[SandboxEvent]:
        with self._lock:
            return [e for e in self.events.values() if e.type == event_type]

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.to_json() for e in self.events.values()]

    def failed_ids(self) -> list[str]:
        with self._lock:
            return [e.id for e in self.events.values() if e.attempts and not e.delivered]

    def clear(self, *, events: bool) -> None:
        """Drop every scheduled attempt; with ``events`` forget the events too."""
        with self._lock:
            self._due.clear()
            for event in self.events.values():
                event.next_attempt_at = None
            if events:
                self.events.clear()

    def request(self, event_id: str) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers Razorpay would POST for this event (the same on every retry)."""
        with self._lock:
            event = self.events.get(event_id)
            if event is None:
                raise not_found()
            body = event.body
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": hmac_hex(self.secret, body),
            "X-Razorpay-Event-Id": event_id,
        }
        return body, headers

    # -- delivery -------------------------------------------------------------

    def send(self, event_ids: list[str]) -> None:
        """Deliver these events from the worker, in order, retrying each on failure."""
        if not self.url or not event_ids:
            return
        # From a worker thread, so the request that caused the event is never held up by
        # (or deadlocked on) the receiving service.
        with self._lock:
            now = time.time()
            for event_id in event_ids:
                event = self.events.get(event_id)
                if event is not None:
                    event.next_attempt_at = now
                    self._schedule_locked(event_id, 0.0)
            self._ensure_worker_locked()

    def deliver(self, event_id: str, *, mode: str = "manual") -> int | None:
        """POST the event to ``url`` now, once; the receiver's status, or None if unreachable."""
        body, headers = self.request(event_id)
        url = self.url
        if not url:
            raise SandboxError(409, "No webhook_url is configured")
        status: int | None = None
        error: str | None = None
        sent_at = time.time()
        try:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS, trust_env=False) as client:
                status = client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        if not ok:
            logger.warning("sandbox webhook %s to %s failed: %s", event_id, url, error or status)
        with self._lock:
            event = self.events.get(event_id)  # gone if reset(data=True) ran meanwhile
            if event is not None:
                attempt = {"at": sent_at, "mode": mode, "status": status, "error": error, "ok": ok}
                event.attempts.append(attempt)
        return status

    def redeliver(self, event_id: str | None = None) -> list[dict[str, Any]]:
        """Deliver one event (any, delivered or not) or else every failed one again, now, once each.

        An attempt on demand does not restart the schedule: a failing event keeps the retries it
        had left, and one that succeeds has none left.
        """
        if event_id is not None:
            self.request(event_id)  # 404 for an unknown id before anything is sent
        targets = [event_id] if event_id is not None else self.failed_ids()
        return [{"event_id": e, "status": self.deliver(e, mode="redeliver")} for e in targets]

    def deliveries(self) -> dict[str, Any]:
        with self._lock:
            items = [
                {
                    "id": e.id,
                    "event": e.type,
                    "delivery": e.delivery,
                    "next_attempt_at": e.next_attempt_at,
                    "attempts": [dict(a) for a in e.attempts],
                }
                for e in self.events.values()
                if e.attempts or e.next_attempt_at is not None
            ]
        return {"webhook_url": self.url, **self.policy.to_json(), "count": len(items), "items": items}

    def close(self) -> None:
        """Stop the worker; scheduled attempts are dropped."""
        with self._lock:
            worker, self._worker = self._worker, None
            self._stop_worker.set()
            self._wake.notify_all()
            self._due.clear()
        if worker is not None:
            worker.join(timeout=WEBHOOK_TIMEOUT_SECONDS + 1)

    # -- the worker -----------------------------------------------------------

    def _schedule_locked(self, event_id: str, delay: float) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), event_id))
        self._wake.notify()

    def _ensure_worker_locked(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            return
        # A token of its own per worker: a worker that outlives close() (stuck in a POST) still stops.
        self._stop_worker = stop = threading.Event()
        self._worker = threading.Thread(target=self._run, args=(stop,), name="sandbox-webhooks", daemon=True)
        self._worker.start()

    def _run(self, stop: threading.Event) -> None:
        while True:
            with self._lock:
                while not stop.is_set() and (not self._due or self._due[0][0] > time.monotonic()):
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if stop.is_set():
                    return
                _, _, event_id = heapq.heappop(self._due)
            self._attempt(event_id)

    def _attempt(self, event_id: str) -> None:
        with self._lock:
            event = self.events.get(event_id)
            if event is None or event.next_attempt_at is None:
                return  # forgotten or cancelled meanwhile
            if event.delivered:  # delivered on demand meanwhile
                event.next_attempt_at = None
                return
            first = event.first_sent_at is None
            if first:
                event.first_sent_at = time.time()
        try:
            self.deliver(event_id, mode="auto" if first else "retry")
        except SandboxError as exc:  # the webhook URL was removed meanwhile, or the event forgotten
            logger.warning("sandbox webhook %s not delivered: %s", event_id, exc.description)
        with self._lock:
            event = self.events.get(event_id)
            if event is None:
                return
            event.next_attempt_at = None
            if event.delivered or not self.url or event.first_sent_at is None:
                return
            failures = sum(1 for a in event.attempts if a["mode"] in SCHEDULED_MODES)
            gap = self.policy.gap(failures)
            at = time.time() + gap
            if at - event.first_sent_at > self.policy.window_seconds:
                logger.warning("sandbox webhook %s: giving up after %d attempts", event_id, failures)
                return
            event.next_attempt_at = at
            self._schedule_locked(event_id, gap)
