"""Persisted queries in Apollo's protocol: ``extensions.persistedQuery = {version: 1, sha256Hash}``.

``apq``: a hash the store knows stands for its document; an unknown one is
PERSISTED_QUERY_NOT_FOUND, and the client sends the document with the hash, which is registered
once it parsed and validated. The store is shared by every worker and replica (PostgreSQL, or
Redis when configured); a small in-process map sits in front of it, safe because an entry is
content-addressed and so never changes. In PostgreSQL each entry says when it was last used
(looked up from the store, registered again, or served from a worker's map: that one at most
once per ``TOUCH_SECONDS``), and `kapda-gql purge` drops those unused for
``KAPDA_PERSISTED_QUERY_DAYS``.

``trusted``: only the operations of Apollo's persisted-query manifest are served, by hash or by
their exact text; anything else is PERSISTED_QUERY_NOT_FOUND. ``off``: a hash is
PERSISTED_QUERY_NOT_SUPPORTED.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from kapda_gql.config import ConfigError, Settings
from kapda_gql.db.uow import Database, OrmUnit
from kapda_gql.domain.errors import PersistedQueryNotFound, PersistedQueryNotSupported
from kapda_gql.graphql.transport.request import GraphQLRequest, bad_request

log = logging.getLogger("kapda_gql.persisted_queries")

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
MANIFEST_FORMAT = "apollo-persisted-query-manifest"
# Documents bigger than this are served but never registered: the store is for real clients' operations.
MAX_REGISTERED_CHARS = 100_000
LOCAL_ENTRIES = 1_000
# How often a worker that serves a hash from its own map tells the store it is still in use: far
# more often than the purge's period (days), far less than once per request.
TOUCH_SECONDS = 3600.0


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class Store(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, document: str) -> None: ...

    async def touch(self, sha256: str) -> None: ...

    async def aclose(self) -> None: ...


# A lookup is a use: it moves last_used_at in the same statement.
_GET = text("UPDATE persisted_queries SET last_used_at = now() WHERE sha256 = :sha256 RETURNING document")
_PUT = text(
    "INSERT INTO persisted_queries (sha256, document) VALUES (:sha256, :document)"
    " ON CONFLICT (sha256) DO UPDATE SET last_used_at = now()"
)
_TOUCH = text("UPDATE persisted_queries SET last_used_at = now() WHERE sha256 = :sha256")


class PostgresStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, sha256: str) -> str | None:
        async def work(tx: OrmUnit) -> str | None:
            value = (await tx.session.execute(_GET, {"sha256": sha256})).scalar_one_or_none()
            await tx.commit()
            return None if value is None else str(value)

        return await self.db.uow().run(work)

    async def put(self, sha256: str, document: str) -> None:
        async def work(tx: OrmUnit) -> None:
            await tx.session.execute(_PUT, {"sha256": sha256, "document": document})
            await tx.commit()

        await self.db.uow().run(work)

    async def touch(self, sha256: str) -> None:
        async def work(tx: OrmUnit) -> None:
            await tx.session.execute(_TOUCH, {"sha256": sha256})
            await tx.commit()

        await self.db.uow().run(work)

    async def aclose(self) -> None:
        return None


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "kapda:pq:") -> None:
        from redis.asyncio import Redis  # imported here: PostgreSQL deployments never need it

        self.client: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix

    async def get(self, sha256: str) -> str | None:
        value = await self.client.get(self.prefix + sha256)
        return None if value is None else bytes(value).decode()

    async def put(self, sha256: str, document: str) -> None:
        await self.client.set(self.prefix + sha256, document.encode(), nx=True)

    async def touch(self, sha256: str) -> None:
        return None  # Redis keeps what it keeps (its own eviction policy); `purge` is PostgreSQL's

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True)
class Manifest:
    """The trusted operations, by their manifest id and by the hash of their text."""

    by_hash: Mapping[str, str]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(f"KAPDA_TRUSTED_DOCUMENTS: cannot read {path}: {error}") from None
        if (
            not isinstance(data, dict)
            or data.get("format") != MANIFEST_FORMAT
            or data.get("version") != 1
            or not isinstance(data.get("operations"), list)
        ):
            raise ConfigError(f"KAPDA_TRUSTED_DOCUMENTS: {path} is not an {MANIFEST_FORMAT} (version 1) file")
        by_hash: dict[str, str] = {}
        for operation in data["operations"]:
            body = operation.get("body") if isinstance(operation, dict) else None
            if not isinstance(body, str):
                raise ConfigError(f"KAPDA_TRUSTED_DOCUMENTS: an operation in {path} has no body")
            by_hash[sha256_of(body)] = body
            ident = operation.get("id")
            if isinstance(ident, str) and _SHA256.match(ident):
                by_hash[ident.lower()] = body
        return cls(by_hash)


class PersistedQueries:
    """Resolves a request's document from its persistedQuery extension, per the configured mode."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.mode = settings.persisted_queries
        self.manifest: Manifest | None = None
        self.store: Store | None = None
        if self.mode == "trusted":
            assert settings.trusted_documents is not None  # config refuses trusted without a manifest
            self.manifest = Manifest.load(settings.trusted_documents)
        elif self.mode == "apq":
            self.store = RedisStore(settings.redis_url) if settings.redis_url else PostgresStore(db)
        # sha256 -> (document, when this worker last told the store it is in use: monotonic)
        self._local: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._touching: set[asyncio.Task[None]] = set()

    async def resolve(self, request: GraphQLRequest) -> str | None:
        """Fill in ``request.query``; the hash to register after a good run (apq), if any."""
        persisted = (request.extensions or {}).get("persistedQuery")
        if persisted is None:
            if self.manifest is not None and (
                request.query is None or sha256_of(request.query) not in self.manifest.by_hash
            ):
                raise PersistedQueryNotFound()
            return None
        if self.mode == "off":
            raise PersistedQueryNotSupported()
        sha256 = _checked_hash(persisted)
        if request.query is not None:
            if sha256_of(request.query) != sha256:
                raise bad_request("provided sha does not match query")
            if self.manifest is not None and sha256 not in self.manifest.by_hash:
                raise PersistedQueryNotFound()
            # Registered again (a client that lost the hash): the store learns it is still used.
            return sha256 if self.store is not None and sha256 not in self._local else None
        request.query = await self._lookup(sha256)
        return None

    async def _lookup(self, sha256: str) -> str:
        if self.manifest is not None:
            found = self.manifest.by_hash.get(sha256)
            if found is None:
                raise PersistedQueryNotFound()
            return found
        local = self._local.get(sha256)
        if local is not None:
            self._local.move_to_end(sha256)
            document, touched = local
            if time.monotonic() - touched > TOUCH_SECONDS:
                self._local[sha256] = (document, time.monotonic())
                self._touch_later(sha256)
            return document
        assert self.store is not None
        stored = await self.store.get(sha256)
        if stored is None:
            raise PersistedQueryNotFound()
        self._remember(sha256, stored)
        return stored

    async def register(self, sha256: str, document: str) -> None:
        """After the document parsed and validated: a bad document is never stored."""
        if self.store is None or len(document) > MAX_REGISTERED_CHARS:
            return
        try:
            await self.store.put(sha256, document)
        except Exception:  # the answer is already good; the client sends the text again next time
            log.warning("persisted-query store unavailable; %s not registered", sha256, exc_info=True)
            return
        self._remember(sha256, document)

    def _touch_later(self, sha256: str) -> None:
        """In the background: the request it came with need not wait for the write."""
        assert self.store is not None
        task = asyncio.ensure_future(self._touch(self.store, sha256))
        self._touching.add(task)
        task.add_done_callback(self._touching.discard)

    @staticmethod
    async def _touch(store: Store, sha256: str) -> None:
        try:
            await store.touch(sha256)
        except Exception:  # the next touch (or registration) tries again
            log.warning("persisted-query store unavailable; %s not marked used", sha256, exc_info=True)

    def _remember(self, sha256: str, document: str) -> None:
        self._local[sha256] = (document, time.monotonic())
        self._local.move_to_end(sha256)
        while len(self._local) > LOCAL_ENTRIES:
            self._local.popitem(last=False)

    async def aclose(self) -> None:
        if self._touching:
            await asyncio.gather(*self._touching, return_exceptions=True)
        if self.store is not None:
            await self.store.aclose()


def _checked_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise bad_request("`extensions.persistedQuery` must be an object")
    if persisted.get("version") != 1:
        raise bad_request("Unsupported persisted query version: only version 1 is served")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise bad_request("`extensions.persistedQuery.sha256Hash` must be 64 hexadecimal digits")
    return sha256.lower()


__all__ = ["Manifest", "PersistedQueries", "PostgresStore", "RedisStore", "sha256_of"]
