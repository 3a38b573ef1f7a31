"""The shared response cache: whole answers of all-public catalog queries, kept in the worker.

Who shares: anonymous callers and customers see the catalog alike, so they share one answer per
request (document hash, operation, variables, extensions). Designers and admins see drafts and
rejection reasons and always read live. What is kept: answers with no errors whose every root
field is public (``caching.is_public``, the same test as HTTP caching), as bytes.

Freshness: an answer is kept with the catalog version it was computed at (read before it ran)
and served only while a fresh read of the version (``CatalogClock``) still says that, so a
content, price, status or setStock change committed anywhere is never served after its commit.
Stock moved by sales and holds does not move the version: every answer also expires
``KAPDA_CATALOG_CACHE_SECONDS`` after it was computed. Memory: entries are weighed by their bytes
and the least recently used go first past ``KAPDA_CATALOG_CACHE_BYTES``.

One computation per answer: a request that misses while the same answer (same key, same catalog
version) is already being computed waits for it (``Pending``) instead of running it again, so an
expired page read by many connections at once is recomputed once, not once per connection. The
waiter's own fresh read of the version is what lets it use that answer, exactly as for a kept one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from kapda_gql import observability
from kapda_gql.config import Settings
from kapda_gql.core.catalog_version import CatalogClock
from kapda_gql.db.uow import Database
from kapda_gql.domain.enums import Role
from kapda_gql.graphql.transport.request import GraphQLRequest

# What an entry costs beyond its body: the key's strings, the entry object, the map's slot.
ENTRY_OVERHEAD = 256
# An answer bigger than this share of the whole cache is never kept: one would evict many.
LARGEST_SHARE = 8
# How many documents' "public or not" verdicts are remembered (a verdict is a few bytes).
VERDICTS = 4096

Key = tuple[Hashable, ...]


@dataclass(slots=True)
class Entry:
    body: bytes
    etag: str
    version: int
    expires: float
    weight: int
    # What the access log and metrics name the request by, as the run that made it did.
    operation: str | None = None
    operation_name: str | None = None


@dataclass(slots=True)
class Pending:
    """A miss being computed: what to keep its answer under, and the future its waiters await."""

    key: Key
    version: int
    started: float
    flight: asyncio.Future[Entry | None] | None = None


def shares_cache(role: Role | None) -> bool:
    """Anonymous callers and customers see the same catalog; designers and admins do not."""
    return role is None or role is Role.CUSTOMER


class ResponseCache:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.seconds = settings.catalog_cache_seconds
        self.max_bytes = settings.catalog_cache_bytes
        self.enabled = self.seconds > 0 and self.max_bytes > 0
        self.clock = CatalogClock(db)
        self.total = 0
        self.version: int | None = None
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._flights: dict[Key, Pending] = {}
        # Per document: whether its answers are public. Unknown documents are tried once.
        self._verdicts: OrderedDict[Key, bool] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def aclose(self) -> None:
        await self.clock.aclose()

    @staticmethod
    def key_of(request: GraphQLRequest) -> Key | None:
        """Everything in the request that can change its answer; None when it cannot be a key."""
        try:
            variables = json.dumps(request.variables, sort_keys=True, separators=(",", ":"))
            extensions = json.dumps(request.extensions, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
        query = request.query
        document = hashlib.sha256(query.encode()).hexdigest() if query is not None else None
        return (document, request.operation_name, variables, extensions)

    @staticmethod
    def _document_of(key: Key) -> Key:
        return key[0], key[1], key[3]

    def may_be_public(self, key: Key) -> bool:
        return self._verdicts.get(self._document_of(key), True)

    def judged(self, key: Key, public: bool) -> None:
        document = self._document_of(key)
        self._verdicts[document] = public
        self._verdicts.move_to_end(document)
        while len(self._verdicts) > VERDICTS:
            self._verdicts.popitem(last=False)

    async def fresh_version(self) -> int:
        """The catalog's version now; entries of any older version are dropped on sight."""
        version = await self.clock.now()
        if version != self.version:
            self.version = version
            self._entries.clear()
            self.total = 0
        return version

    def peek(self, key: Key) -> bool:
        """Whether an unexpired entry is kept under ``key`` (of whatever version; nothing counted)."""
        entry = self._entries.get(key)
        return entry is not None and entry.expires > time.monotonic()

    def get(self, key: Key, version: int) -> Entry | None:
        """The entry kept for ``key`` at ``version`` if unexpired (the caller counts the outcome)."""
        entry = self._entries.get(key)
        if entry is None or entry.version != version or entry.expires <= time.monotonic():
            return None
        self._entries.move_to_end(key)
        return entry

    def count(self, *, hit: bool) -> None:
        """One lookup's outcome: a hit is an answer served without running it (kept, or waited
        for while another request computed it); a miss is a request that ran it."""
        if hit:
            self.hits += 1
            observability.CATALOG_CACHE_HIT.inc()
        else:
            self.misses += 1
            observability.CATALOG_CACHE_MISS.inc()

    async def join(self, key: Key, version: int) -> Entry | None:
        """The answer being computed for ``key`` at ``version``, once it is; None when nothing is
        being computed, or it kept nothing (an error, not public, the catalog moved)."""
        flight = self._flights.get(key)
        if flight is None or flight.version != version or flight.flight is None or flight.flight.done():
            return None
        return await asyncio.shield(flight.flight)

    def begin(self, key: Key, version: int, started: float) -> Pending:
        """This request computes the answer; later misses of the same key and version wait for it."""
        pending = Pending(key, version, started)
        current = self._flights.get(key)
        if current is None or current.version != version or current.flight is None or current.flight.done():
            pending.flight = asyncio.get_running_loop().create_future()
            self._flights[key] = pending
        return pending

    def settle(self, pending: Pending) -> None:
        """The computation is over, however it ended: its waiters get the entry it kept, or None."""
        flight = pending.flight
        if flight is None or flight.done():
            return
        entry = self._entries.get(pending.key)
        flight.set_result(entry if entry is not None and entry.version == pending.version else None)
        if self._flights.get(pending.key) is pending:
            del self._flights[pending.key]

    def put(
        self,
        key: Key,
        version: int,
        body: bytes,
        etag: str,
        *,
        computed_at: float,
        operation: str | None = None,
        operation_name: str | None = None,
    ) -> None:
        """Keep an answer computed at ``computed_at`` (monotonic) from catalog ``version``."""
        if version != self.version:
            return  # the catalog moved while it ran: the answer may be older than the version
        weight = len(body) + len(etag) + sum(len(str(part)) for part in key) + ENTRY_OVERHEAD
        if weight * LARGEST_SHARE > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.total -= old.weight
        self._entries[key] = Entry(
            body, etag, version, computed_at + self.seconds, weight, operation, operation_name
        )
        self.total += weight
        while self.total > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.total -= dropped.weight


__all__ = ["Entry", "Pending", "ResponseCache", "shares_cache"]
