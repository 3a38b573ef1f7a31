"""Fixed-window rate-limit counters that every worker and replica shares.

State lives in PostgreSQL (``rate_limit_buckets``: one upsert per request for all of its keys) or,
when ``KAPDA_REDIS_URL`` is set, in Redis (one pipelined script call per key). Windows are
aligned on the shared store's clock, never a worker's, so replicas agree on them.

A store that cannot be reached lets the request through (and says so in the log): the limits
defend the service, they must not be the reason it is down.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text

from kapda_gql.db.uow import Database, OrmUnit

log = logging.getLogger("kapda_gql.ratelimit")

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Rule:
    """``limit`` hits per ``window`` seconds for one key (e.g. ``login-ip:203.0.113.7``)."""

    key: str
    limit: int
    window: int


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: Rule
    count: int
    retry_after: int

    @property
    def allowed(self) -> bool:
        return self.count <= self.rule.limit


class RateLimiter(Protocol):
    async def hit(self, rules: Sequence[Rule]) -> list[Verdict]:
        """Count one hit per rule (a rule given twice counts twice) and say where each stands."""
        ...

    async def aclose(self) -> None: ...


def bucket_key(rule: Rule) -> str:
    # Keys carry client-controlled parts (e-mail addresses): keep them bounded.
    key = f"{rule.key}/{rule.window}"
    return key if len(key) <= MAX_KEY_LENGTH else key[: MAX_KEY_LENGTH - 17] + "~" + _digest(key)


def _digest(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _tally(rules: Iterable[Rule]) -> dict[str, tuple[Rule, int]]:
    counts = Counter(bucket_key(r) for r in rules)
    first: dict[str, Rule] = {}
    for rule in rules:
        first.setdefault(bucket_key(rule), rule)
    # Sorted, so two concurrent upserts lock rows in the same order and cannot deadlock.
    return {key: (first[key], counts[key]) for key in sorted(counts)}


_UPSERT = text(
    """
    INSERT INTO rate_limit_buckets AS b (key, window_start, count, expires_at)
    SELECT t.key,
           to_timestamp(floor(extract(epoch FROM now()) / t.win) * t.win),
           t.n,
           to_timestamp(floor(extract(epoch FROM now()) / t.win) * t.win + t.win)
    FROM unnest(CAST(:keys AS text[]), CAST(:windows AS int[]), CAST(:hits AS int[])) AS t(key, win, n)
    ORDER BY t.key
    ON CONFLICT (key, window_start) DO UPDATE SET count = b.count + EXCLUDED.count
    RETURNING b.key, b.count, extract(epoch FROM b.expires_at - now())::float8
    """
)


class PostgresRateLimiter:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def hit(self, rules: Sequence[Rule]) -> list[Verdict]:
        tally = _tally(rules)
        if not tally:
            return []
        keys = list(tally)
        params = {
            "keys": keys,
            "windows": [tally[k][0].window for k in keys],
            "hits": [tally[k][1] for k in keys],
        }

        async def work(tx: OrmUnit) -> list[Any]:
            rows = (await tx.session.execute(_UPSERT, params)).all()
            await tx.commit()
            return list(rows)

        rows = await self.db.uow().run(work)
        return [
            Verdict(tally[key][0], int(count), max(1, math.ceil(float(seconds))))
            for key, count, seconds in rows
        ]

    async def purge(self) -> int:
        """Drop the windows that have ended (run periodically; `kapda-gql purge` may call it too)."""

        async def work(tx: OrmUnit) -> int:
            result = await tx.session.execute(text("DELETE FROM rate_limit_buckets WHERE expires_at < now()"))
            await tx.commit()
            return int(getattr(result, "rowcount", 0) or 0)

        return await self.db.uow().run(work)

    async def aclose(self) -> None:
        return None


# INCRBY, and start the window's clock on its first hit; PTTL tells the client when it ends.
_REDIS_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimiter:
    def __init__(self, url: str, *, prefix: str = "kapda:rl:") -> None:
        from redis.asyncio import Redis  # imported here: PostgreSQL deployments never need it

        self.client: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix
        self.script: Any = self.client.register_script(_REDIS_SCRIPT)

    async def hit(self, rules: Sequence[Rule]) -> list[Verdict]:
        tally = _tally(rules)
        if not tally:
            return []
        # One script call per key (not one script over all keys), so Redis Cluster may shard them.
        async with self.client.pipeline(transaction=False) as pipe:
            for key, (rule, hits) in tally.items():
                await self.script(keys=[self.prefix + key], args=[rule.window * 1000, hits], client=pipe)
            results = await pipe.execute()
        return [
            Verdict(rule, int(count), max(1, math.ceil(int(ttl) / 1000)))
            for (rule, _), (count, ttl) in zip(tally.values(), results, strict=True)
        ]

    async def aclose(self) -> None:
        await self.client.aclose()


class FailOpen:
    """Wraps a limiter: when its store fails, the request goes through and the failure is logged."""

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner

    async def hit(self, rules: Sequence[Rule]) -> list[Verdict]:
        try:
            return await self.inner.hit(rules)
        except Exception:  # any store failure: availability first, and the operator is told
            log.warning("rate-limit store unavailable; letting the request through", exc_info=True)
            return []

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_limiter(db: Database, redis_url: str | None) -> RateLimiter:
    inner: RateLimiter = RedisRateLimiter(redis_url) if redis_url else PostgresRateLimiter(db)
    return FailOpen(inner)


def strictest(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The refused verdict that frees up last (what Retry-After must say), if any was refused."""
    refused = [v for v in verdicts if not v.allowed]
    return max(refused, key=lambda v: v.retry_after) if refused else None


__all__ = [
    "FailOpen",
    "PostgresRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Rule",
    "Verdict",
    "make_limiter",
    "strictest",
]
