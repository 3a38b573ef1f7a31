"""Relay-style keyset pages, in one place for every connection (catalog, orders, audit log).

A page is asked for forward (``first``/``after``) or backward (``last``/``before``) and comes back
in the connection's own order either way, with the cursors of its items. A cursor is the item's
sort key and id, opaque to clients; a backward page reads the order reversed from its cursor and
turns the rows round, so the same cursors and the same order serve both directions.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, tuple_
from sqlalchemy.orm import QueryableAttribute

from kapda_gql.domain.errors import BadUserInput, QueryTooComplex

MAX_PAGE = 100
MAX_BIGINT = 2**63 - 1
T = TypeVar("T")
R = TypeVar("R")

# json.dumps with separators builds a new encoder per call; a page encodes one cursor per edge.
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))


def _json(value: Any) -> str:
    """One cursor value as the JSON encoder writes it: a moment's ISO text (only digits and
    ``-:.+T``, nothing to escape) and an int written directly, anything else by the encoder."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is datetime:
        return f'"{value.isoformat()}"'
    return _CURSOR_JSON.encode(value.isoformat() if isinstance(value, datetime) else value)


def encode_cursor(*values: Any) -> str:
    """A page encodes one per edge: written without building a list for the encoder (the same
    bytes as ``_CURSOR_JSON.encode`` of the values, a unit test holds it)."""
    raw = "[" + ",".join([_json(v) for v in values]) + "]"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type], field: str = "after") -> list[Any]:
    """Opaque to clients; a cursor we did not make is BAD_USER_INPUT, never a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        out: list[Any] = []
        for value, kind in zip(values, kinds, strict=True):
            if kind is datetime:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:  # ours always carry their offset
                    raise ValueError
                out.append(moment)
            elif kind is float:
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise ValueError
                out.append(float(value))
            elif kind is int:
                # Sort keys and ids are BIGINTs: a bigger number is not ours and would fail in the driver.
                if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_BIGINT:
                    raise ValueError
                out.append(value)
            else:
                out.append(kind(value))
        return out
    except (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
        raise BadUserInput(field, "is not a valid cursor") from None


def check_page_size(first: int, limit: int = MAX_PAGE, field: str = "first") -> None:
    if first < 0:
        raise BadUserInput(field, "must not be negative")
    if first > limit:
        raise QueryTooComplex(f"{field} may be at most {limit}", limit=limit)


@dataclass(frozen=True, slots=True)
class Window:
    """Which page is asked for: ``size`` items beyond ``cursor`` in the order, or before it."""

    size: int
    cursor: str | None = None
    backward: bool = False

    @property
    def cursor_field(self) -> str:
        return "before" if self.backward else "after"

    def decode(self, kinds: Sequence[type]) -> list[Any] | None:
        return decode_cursor(self.cursor, kinds, self.cursor_field) if self.cursor else None


def window(
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    default: int = 20,
    limit: int = MAX_PAGE,
) -> Window:
    """The page asked for by Relay's four arguments: forward by default, backward with last/before."""
    errors = []
    if first is not None and last is not None:
        errors.append(("last", "give first or last, not both"))
    if after is not None and before is not None:
        errors.append(("before", "give after or before, not both"))
    if first is not None and before is not None:
        errors.append(("before", "pages before a cursor are asked for with last"))
    if last is not None and after is not None:
        errors.append(("after", "pages after a cursor are asked for with first"))
    if errors:
        raise BadUserInput(errors)
    if last is not None or before is not None:
        size = default if last is None else last
        check_page_size(size, limit, "last")
        return Window(size, before or None, backward=True)
    size = default if first is None else first
    check_page_size(size, limit, "first")
    return Window(size, after or None)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool = False

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


def page_of(
    rows: Sequence[R],
    win: Window,
    *,
    item: Callable[[R], T],
    cursor: Callable[[R], str],
    beyond_cursor: bool,
) -> Page[T]:
    """The page from rows read in the window's direction, one more than its size.

    ``beyond_cursor``: whether anything lies on the other side of the window's cursor (the rows
    at or before ``after``, at or after ``before``), which the caller reads in the same statement
    or beside it.
    """
    more = len(rows) > win.size
    kept = list(rows[: win.size])
    if win.backward:
        kept.reverse()
    return Page(
        items=[item(row) for row in kept],
        cursors=[cursor(row) for row in kept],
        has_next_page=beyond_cursor if win.backward else more,
        has_previous_page=more if win.backward else beyond_cursor,
    )


@dataclass(frozen=True, slots=True)
class Keyset:
    """An order over SQLAlchemy columns (a sort key, then the id breaking its ties), for the
    connections built with SQLAlchemy Core (orders, the audit log); the catalog writes the same
    conditions in its plain SQL."""

    columns: tuple[ColumnElement[Any] | QueryableAttribute[Any], ...]
    descending: bool

    def _ahead_is_less(self, win: Window) -> bool:
        return self.descending != win.backward

    def order_by(self, win: Window) -> list[ColumnElement[Any]]:
        """The order in which the window's rows are read (reversed for a backward page)."""
        less = self._ahead_is_less(win)
        return [c.desc() if less else c.asc() for c in self.columns]

    def ahead(self, win: Window, cursor: Sequence[Any]) -> ColumnElement[bool]:
        """The rows beyond the cursor, in the window's direction."""
        key, at = tuple_(*self.columns), tuple_(*cursor)
        return key < at if self._ahead_is_less(win) else key > at

    def behind(self, win: Window, cursor: Sequence[Any]) -> ColumnElement[bool]:
        """The rows on the cursor's other side (the cursor's own row included)."""
        key, at = tuple_(*self.columns), tuple_(*cursor)
        return key >= at if self._ahead_is_less(win) else key <= at
