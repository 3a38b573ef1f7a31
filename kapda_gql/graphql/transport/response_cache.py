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
"""

from __future__ import annotations

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
        entry = self._entries.get(key)
        if entry is None or entry.version != version or entry.expires <= time.monotonic():
            self.misses += 1
            observability.CATALOG_CACHE_MISS.inc()
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        observability.CATALOG_CACHE_HIT.inc()
        return entry

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


__all__ = ["Entry", "ResponseCache", "shares_cache"]
