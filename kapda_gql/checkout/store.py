# ruff: noqa: S608 (statements are built from this module's fixed fragments, the ledger's and our models' column names, never from input)
"""All of checkout's SQL: plain statements for the driver, with named values.

One style throughout: a statement is written with ``:name`` markers and turned once, at import, into
a ``$n`` statement plus the order of its names (``Query``); a call passes a mapping of named values.
Each statement runs in either kind of unit (``tx.sql``), so the hot path stays on a lean unit.
Rows become detached ORM instances (``CheckoutSession``, ``Order``) for the callers that show them.

Longer than ~400 lines for a stated reason: the rule is one store per capability, and the order
statement alone (every table an order is made of, in one round trip) is some 60 lines.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kapda_gql.checkout.named import attributes, instance, model, select_list
from kapda_gql.checkout.quote import QuoteLine
from kapda_gql.core import audit, idempotency, locks
from kapda_gql.db.models import CheckoutSession, Order
from kapda_gql.db.sql import Query
from kapda_gql.db.uow import Unit
from kapda_gql.domain import stock
from kapda_gql.domain.enums import CheckoutStatus, CommissionStatus, OrderStatus, PaymentStatus
from kapda_gql.domain.ledger import StockReason
from kapda_gql.domain.lifecycles import CHECKOUT
from kapda_gql.domain.policy import Actor
from kapda_gql.payments.gateway import GatewayPayment
from kapda_gql.stock import movements

# The constraint that makes one Razorpay payment pay for at most one thing (models.NAMING: uq_<table>_<col>).
PAYMENT_REUSED = "uq_payments_razorpay_payment_id"
# At most one open session per customer (the partial unique index of models.CheckoutSession).
OPEN_SESSION_TAKEN = "uq_checkout_sessions_open_user"
_OPEN = CheckoutStatus.OPEN.value


async def _fetchrow(tx: Unit, query: Query, **values: Any) -> Any:
    return await tx.sql.fetchrow(query.sql, *query.args(values))


_SESSION_ATTRIBUTES = attributes(CheckoutSession)
_ORDER_ATTRIBUTES = attributes(Order)
_SESSION_COLUMNS = [a for a, _ in _SESSION_ATTRIBUTES]
_ORDER_COLUMNS = [a for a, _ in _ORDER_ATTRIBUTES]
_SESSION_LIST = select_list(_SESSION_ATTRIBUTES, "s")
_ORDER_LIST = select_list(_ORDER_ATTRIBUTES, "o")


def _order_or_none(values: Sequence[Any]) -> Order | None:
    return model(Order, _ORDER_COLUMNS, values) if values[0] is not None else None  # o.id


# --- startCheckout -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartRow:
    """One cart line with what the quote needs of its variant and product."""

    variant_id: int
    product_id: int
    designer_id: int
    title: str
    sku: str
    size: str | None
    color: str | None
    quantity: int
    cart_price: int
    variant_price: int | None
    product_price: int
    product_status: str
    product_deleted_at: datetime | None
    variant_deleted_at: datetime | None
    # Sellable for this customer: on hand less what OTHER customers' open checkouts hold (its own
    # open session is replaced by this one). A first look without locks: the hold decides.
    stock: int
    # When the line's price was remembered (it lapses: pricing.remembered_price).
    priced_at: datetime


# The other customers' live holds are every live hold less this customer's own: a live hold always
# belongs to an OPEN session (whatever ends a session deletes its holds in the same transaction), and
# a customer has at most one. Read so, the first term is the index-only sum the hold itself takes
# (ix_stock_holds_variant_expires) and the second a few rows; joining every hold of a hot SKU to
# its session to check its owner cost ~5x as much with 1,500 open checkouts on it.
_CART = Query(
    """
    SELECT v.id, p.id, p.designer_id, p.title, v.sku, v.size, v.color, l.quantity, l.unit_price,
           v.price, p.price, p.status, p.deleted_at, v.deleted_at,
           v.stock - (SELECT coalesce(sum(h.quantity), 0) FROM stock_holds h
                      WHERE h.variant_id = v.id AND h.expires_at > now())
                   + (SELECT coalesce(sum(h.quantity), 0) FROM checkout_sessions hs
                      JOIN stock_holds h ON h.session_id = hs.id AND h.variant_id = v.id
                      WHERE hs.user_id = :user_id AND hs.status = :open AND h.expires_at > now()),
           l.priced_at
    FROM cart_lines l
    JOIN carts c ON c.id = l.cart_id
    JOIN variants v ON v.id = l.variant_id
    JOIN products p ON p.id = v.product_id
    WHERE c.user_id = :user_id
    ORDER BY v.id
    """
)


async def cart_rows(tx: Unit, user_id: int) -> list[CartRow]:
    values = {"user_id": user_id, "open": _OPEN}
    return [CartRow(*row) for row in await tx.sql.fetch(_CART.sql, *_CART.args(values))]


@dataclass(frozen=True, slots=True)
class Started:
    """What the startCheckout statement did: the new open session, its units held and the
    customer's earlier open session ended; or, when some line's units are not there, nothing at
    all, and each line's sellable units (``available``)."""

    session: CheckoutSession | None
    available: dict[int, int]
    # Nothing changed because another startCheckout of this customer committed its session while
    # this one waited for the lock (its holds counted as another's): run it again, replacing that one.
    raced: bool = False


# What the new session's row holds that its INSERT does not send (defaults: created_at, the
# columns still empty); the rest is the caller's own values, not read back (the quote's JSON).
_SENT = (
    "id",
    "user_id",
    "amount",
    "currency",
    "lines",
    "price_adjustments",
    "shipping_address",
    "status",
    "expires_at",
)
_UNSENT = [c for c in _SESSION_COLUMNS if c not in _SENT]
_UNSENT_WIDTH = len(_UNSENT)
_CREATED = _UNSENT.index("created_at")  # always set on a new row: None when none was made
# The customer's open sessions are locked first and their holds read, then the variants (the new
# lines' and those holds'), which reads both: a locking CTE runs when its rows are first read.
_LOCK_LINES = locks.variants_part(
    "SELECT unnest(:ids::bigint[]) UNION SELECT variant_id FROM mine_holds",
    "(SELECT count(*) FROM mine_holds) >= 0",
)
_HOLD_PARTS = movements.cte(
    "hold_moved",
    "held_changed",
    reason=StockReason.HOLD,
    delta="0",
    held_delta="held_changed.quantity",
    stock_after="held_changed.stock",
    checkout_session_id=":id",
    actor_id=":actor_id",
)


def _release_movements(name: str, source: str) -> str:
    """A RELEASE movement for each hold in ``source`` (session_id, id, quantity, stock) that an
    ending session gave back, written by whoever deleted the hold row."""
    return movements.cte(
        name,
        source,
        reason=StockReason.RELEASE,
        delta="0",
        held_delta=f"-{source}.quantity",
        stock_after=f"{source}.stock",
        checkout_session_id=f"{source}.session_id",
        actor_id=":actor_id",
    )


# startCheckout in one statement, atomic on its own (no BEGIN, no COMMIT), so the hot variant rows
# are locked only while the database runs it, never across a round trip to this process. In the
# lock order: the customer's open sessions (locked as they are), then the variants. Then, with
# the lines' units counted after the lock (``held_after_lock_sql``; the customer's own live holds
# are theirs to replace), all or nothing: when every line's units are there, the open sessions
# end (CHECKOUT_EXPIRED for a payment that still comes) and their holds go back (RELEASE), the new
# session goes in (after the ended ones: the partial unique index sees them ended; a new row,
# which nobody can be waiting on but a concurrent startCheckout of this customer at the index),
# its holds with their HOLD movements, and the price-alert audit entry when there is one; when
# some line's are not, nothing changes and each line's sellable units come back.
START = Query(
    f"""
    WITH mine AS ({locks.open_sessions_part(":user_id", ":open")}
    ), mine_holds AS (
        SELECT h.session_id, h.variant_id, h.quantity, h.expires_at > now() AS live
        FROM stock_holds h WHERE h.session_id IN (SELECT id FROM mine)
    ), locked AS ({_LOCK_LINES}
    ), wanted AS (
        SELECT w.id, w.q, l.stock,
               l.stock - {stock.held_after_lock_sql("l")}
                       + (SELECT coalesce(sum(m.quantity), 0) FROM mine_holds m WHERE m.variant_id = l.id AND m.live)
               AS available
        FROM unnest(:ids::bigint[], :quantities::int[]) AS w(id, q) JOIN locked l ON l.id = w.id
    ), verdict AS (
        SELECT count(*) = :line_count AND coalesce(bool_and(q <= available), true) AS ok FROM wanted
    ), ended AS (
        UPDATE checkout_sessions SET status = :failed, failure_code = :code, failure_detail = :detail::jsonb
        WHERE id IN (SELECT id FROM mine) AND (SELECT ok FROM verdict) RETURNING id
    ), released AS (
        DELETE FROM stock_holds h WHERE h.session_id IN (SELECT id FROM ended)
        RETURNING h.session_id, h.variant_id, h.quantity
    ), released_changed AS (
        SELECT r.session_id, r.variant_id AS id, r.quantity, l.stock FROM released r JOIN locked l ON l.id = r.variant_id
    ), {_release_movements("release_moved", "released_changed")}, made AS (
        INSERT INTO checkout_sessions AS s (id, user_id, amount, currency, lines, price_adjustments,
                                            shipping_address, status, expires_at)
        SELECT :id, :user_id, :amount, :currency, :lines::jsonb, :price_adjustments::jsonb,
               :shipping_address::jsonb, :open, :expires_at
        WHERE (SELECT ok FROM verdict) AND (SELECT count(*) FROM ended) >= 0
        RETURNING {", ".join(f"s.{c}" for c in _UNSENT)}
    ), held AS (
        INSERT INTO stock_holds (session_id, variant_id, quantity, expires_at)
        SELECT :id, id, q, :expires_at FROM wanted WHERE EXISTS (SELECT 1 FROM made)
        RETURNING variant_id, quantity
    ), held_changed AS (
        SELECT held.variant_id AS id, held.quantity, wanted.stock FROM held JOIN wanted ON wanted.id = held.variant_id
    ), {_HOLD_PARTS}, audit AS (
        {audit.entry_part("CAST(:id AS text)", "made WHERE :audit_wanted::boolean")}
    )
    SELECT made.*, (SELECT array_agg(id ORDER BY id) FROM wanted), (SELECT array_agg(available ORDER BY id) FROM wanted),
           (SELECT array_agg(id) FROM mine)
    FROM (SELECT 1) AS one LEFT JOIN made ON true
    """
)
_OPEN_OF_USER = Query("SELECT id FROM checkout_sessions WHERE user_id = :user_id AND status = :open")


@dataclass(frozen=True, slots=True)
class NewSession:
    """What startCheckout's statement makes: the session's quote, and whether it holds its lines."""

    user_id: int
    amount: int
    currency: str
    lines: Sequence[QuoteLine]
    price_adjustments: list[dict[str, int]]
    price_alerts: list[Any]  # the adjustments worth an audit entry (quote.price_alerts)
    shipping_address: dict[str, Any]
    expires_at: datetime
    holds: bool

    def values(self, actor: Actor) -> tuple[dict[str, Any], dict[str, Any]]:
        """The new row's own values, and every value ``START`` binds (the bench runs it raw too)."""
        sent: dict[str, Any] = {
            "id": uuid.uuid4(),
            "user_id": self.user_id,
            "amount": self.amount,
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "price_adjustments": self.price_adjustments,
            "shipping_address": self.shipping_address,
            "status": _OPEN,
            "expires_at": self.expires_at,
        }
        held = self.lines if self.holds else ()
        alerts = {"lines": self.price_alerts} if self.price_alerts else None  # no entry, nothing to encode
        bound = {
            **sent,
            "lines": json.dumps(sent["lines"]),
            "price_adjustments": json.dumps(self.price_adjustments),
            "shipping_address": json.dumps(self.shipping_address),
            "ids": [x.variant_id for x in held],
            "quantities": [x.quantity for x in held],
            "line_count": len(held),
            "actor_id": actor.user_id,
            "audit_wanted": bool(self.price_alerts),
            **audit.entry_values(actor, "checkout.price_mismatch", "CheckoutSession", alerts),
            **_ENDING,
        }
        return sent, bound


async def start_session(tx: Unit, actor: Actor, new: NewSession) -> Started:
    """The ``START`` statement: replace the customer's open session with a new one holding every
    line's units (with ``holds``; else holding none), or change nothing when they are not there."""
    sent, bound = new.values(actor)
    values = list(await _fetchrow(tx, START, **bound))
    if values[_CREATED] is None:
        available = zip(values[_UNSENT_WIDTH] or (), values[_UNSENT_WIDTH + 1] or (), strict=True)
        seen = set(values[_UNSENT_WIDTH + 2] or ())
        now_open = await _OPEN_OF_USER.fetch(tx, user_id=new.user_id, open=_OPEN)
        raced = any(row[0] not in seen for row in now_open)
        return Started(None, {int(k): max(int(v), 0) for k, v in available}, raced)
    made = dict(zip(_UNSENT, values[:_UNSENT_WIDTH], strict=True))
    return Started(instance(CheckoutSession, {**sent, **made}), {})


# The Razorpay order goes on the session, and the key's answer (when there is a key) is stored, in
# one statement: atomic on its own, so it runs outside a transaction (no BEGIN, no COMMIT).
_ATTACH = Query(
    f"""
    WITH answer AS ({idempotency.ANSWER_PART})
    UPDATE checkout_sessions SET razorpay_order_id = :order_id WHERE id = :id
    """
)


async def attach_razorpay_order(
    tx: Unit,
    session_id: uuid.UUID,
    razorpay_order_id: str,
    claim: idempotency.Claim | None,
    answer: dict[str, Any],
) -> None:
    """Attach the Razorpay order to its session and answer the startCheckout key with ``answer``."""
    values = {
        "id": session_id,
        "order_id": razorpay_order_id,
        **idempotency.answer_values(claim, result=answer),
    }
    await tx.sql.execute(_ATTACH.sql, *_ATTACH.args(values))


def _from_open(target: CheckoutStatus) -> dict[str, str]:
    """The session states of a move out of OPEN, as the statements bind them (lifecycles.CHECKOUT)."""
    CHECKOUT.check(CheckoutStatus.OPEN, target)
    return {"open": CheckoutStatus.OPEN.value, target.value.lower(): target.value}


# Checked and built once, at import: the hot paths bind them on every call.
_TO_FAILED = _from_open(CheckoutStatus.FAILED)
_TO_COMPLETED = _from_open(CheckoutStatus.COMPLETED)


_SESSION = Query(f"SELECT {_SESSION_LIST} FROM checkout_sessions s WHERE s.id = :id")


async def session_by_id(tx: Unit, session_id: uuid.UUID) -> CheckoutSession | None:
    row = await _fetchrow(tx, _SESSION, id=session_id)
    return model(CheckoutSession, _SESSION_COLUMNS, list(row)) if row is not None else None


_SESSION_OF_RAZORPAY_ORDER = Query(
    f"SELECT {_SESSION_LIST} FROM checkout_sessions s WHERE s.razorpay_order_id = :order_id"
)


async def session_of_razorpay_order(tx: Unit, razorpay_order_id: str) -> CheckoutSession | None:
    row = await _fetchrow(tx, _SESSION_OF_RAZORPAY_ORDER, order_id=razorpay_order_id)
    return model(CheckoutSession, _SESSION_COLUMNS, list(row)) if row is not None else None


# --- holds (startCheckout, cancelCheckout, the sweep) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Ended:
    """Sessions that just ended (their rows locked), and the variants their holds are on."""

    session_ids: list[uuid.UUID]
    variant_ids: list[int]


@dataclass(frozen=True, slots=True)
class Released:
    """A hold that ended without a sale: its units, and whether it still held them (unexpired)."""

    session_id: uuid.UUID
    variant_id: int
    quantity: int
    live: bool


def _ended(rows: Sequence[Any]) -> Ended | None:
    if not rows:
        return None
    return Ended(sorted({r[0] for r in rows}), sorted({int(r[1]) for r in rows if r[1] is not None}))


# What ended sessions held, read by the statement that ended them. Lock order: the sessions here,
# then (locks.variants) their variants, and only then the hold rows (``release``).
_ENDED_HOLDS = " SELECT ended.id, h.variant_id FROM ended LEFT JOIN stock_holds h ON h.session_id = ended.id"
_ENDED_DETAIL = json.dumps({"code": "CHECKOUT_EXPIRED"})
_CANCEL = Query(
    f"""
    WITH ended AS (
        UPDATE checkout_sessions SET status = :failed, failure_code = :code, failure_detail = :detail::jsonb
        WHERE id = :id AND user_id = :user_id AND status = :open RETURNING id
    ){_ENDED_HOLDS}
    """
)
# The holds of ended sessions, deleted once (whoever deletes a row writes its RELEASE), after
# their variants were locked: so ``stock_after`` (on hand, which a release leaves as it is) is
# read from rows nobody else can change until we commit.
_RELEASE_PARTS = _release_movements("moved", "changed")
_RELEASE = Query(
    """
    WITH released AS (
        DELETE FROM stock_holds h WHERE h.session_id = ANY(:session_ids::uuid[])
        RETURNING h.session_id, h.variant_id, h.quantity, h.expires_at > now() AS live
    ), changed AS (
        SELECT r.session_id, r.variant_id AS id, r.quantity, r.live, v.stock
        FROM released r JOIN variants v ON v.id = r.variant_id
    ), """
    + _RELEASE_PARTS
    + " SELECT session_id, id, quantity, live FROM changed"
)


def _released(rows: Sequence[Any]) -> list[Released]:
    return [Released(r[0], int(r[1]), int(r[2]), bool(r[3])) for r in rows]


_ENDING = {"code": "CHECKOUT_EXPIRED", "detail": _ENDED_DETAIL, **_TO_FAILED}


def _ending(user_id: int, **more: Any) -> dict[str, Any]:
    return {"user_id": user_id, **_ENDING, **more}


async def cancel_session(tx: Unit, session_id: uuid.UUID, user_id: int) -> Ended | None:
    """OPEN → FAILED for the customer's own session; None when it was not open."""
    return _ended(await tx.sql.fetch(_CANCEL.sql, *_CANCEL.args(_ending(user_id, id=session_id))))


async def release(tx: Unit, ended: Ended, actor_id: int | None) -> list[Released]:
    """Delete the ended sessions' holds, each a RELEASE movement; their variants are locked."""
    values = {"session_ids": ended.session_ids, "actor_id": actor_id}
    return _released(await tx.sql.fetch(_RELEASE.sql, *_RELEASE.args(values)))


# The sweep only tidies: a lapsed hold already holds nothing for any reader. It ends such holds
# in the ledger (RELEASE), variants locked first like every other path.
_LAPSED = Query(
    "SELECT session_id, variant_id FROM stock_holds WHERE expires_at <= now() - make_interval(secs => :grace)"
    " ORDER BY expires_at LIMIT :limit"
)
_SWEEP = Query(
    """
    WITH released AS (
        DELETE FROM stock_holds h
        WHERE (h.session_id, h.variant_id) IN (SELECT * FROM unnest(:session_ids::uuid[], :variant_ids::bigint[]))
          AND h.expires_at <= now()
        RETURNING h.session_id, h.variant_id, h.quantity, false AS live
    ), changed AS (
        SELECT r.session_id, r.variant_id AS id, r.quantity, r.live, v.stock
        FROM released r JOIN variants v ON v.id = r.variant_id
    ), """
    + _RELEASE_PARTS
    + " SELECT session_id, id, quantity, live FROM changed"
)


async def sweep_lapsed_holds(tx: Unit, grace_seconds: float, limit: int) -> list[Released]:
    """End holds that lapsed ``grace_seconds`` ago (at most ``limit``), in the caller's transaction."""
    lapsed = await tx.sql.fetch(_LAPSED.sql, *_LAPSED.args({"grace": grace_seconds, "limit": limit}))
    if not lapsed:
        return []
    await locks.variants(tx, sorted({int(r[1]) for r in lapsed}))
    values = {
        "session_ids": [r[0] for r in lapsed],
        "variant_ids": [int(r[1]) for r in lapsed],
        "actor_id": None,
    }
    return _released(await tx.sql.fetch(_SWEEP.sql, *_SWEEP.args(values)))


_FAIL = Query(
    f"""
    WITH ended AS (
        UPDATE checkout_sessions SET status = :failed, failure_code = :code, failure_detail = :detail::jsonb
        WHERE id = :id AND status = :open RETURNING id
    ){_ENDED_HOLDS}
    """
)


async def fail_session(
    tx: Unit, session_id: uuid.UUID, code: str, detail: dict[str, Any], *, actor_id: int | None = None
) -> bool:
    """OPEN → FAILED with its failure kept on the row, its holds released; False when the session
    was no longer open."""
    ended = _ended(
        await tx.sql.fetch(
            _FAIL.sql,
            *_FAIL.args(
                {
                    "id": session_id,
                    "code": code,
                    "detail": json.dumps(detail),
                    **_TO_FAILED,
                }
            ),
        )
    )
    if ended is None:
        return False
    await locks.variants(tx, ended.variant_ids)
    await release(tx, ended, actor_id)
    return True


# --- the Razorpay poll (checkout/reconcile.py) ----------------------------------------------------

# Sessions to ask Razorpay about: open (or failed by expiry of a quote nobody paid in time: still
# OPEN) for over ``:age`` seconds, quotes that lapsed at most ``:recent`` seconds ago, not claimed
# by any process in the last ``:every`` seconds. The claim is a timestamp, taken with SKIP LOCKED
# so processes share the work; no row lock is held while Razorpay is asked.
_CLAIM_FOR_POLL = Query(
    """
    UPDATE checkout_sessions s SET reconciled_at = now()
    WHERE s.id IN (
        SELECT id FROM checkout_sessions
        WHERE status = :open AND razorpay_order_id IS NOT NULL
          AND created_at < now() - make_interval(secs => :age)
          AND expires_at > now() - make_interval(secs => :recent)
          AND (reconciled_at IS NULL OR reconciled_at < now() - make_interval(secs => :every))
        ORDER BY reconciled_at NULLS FIRST, created_at
        LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING s.id, s.razorpay_order_id
    """
)


async def claim_for_poll(
    tx: Unit, *, age_seconds: float, recent_seconds: float, every_seconds: float, limit: int
) -> list[tuple[uuid.UUID, str]]:
    values = {
        "open": CheckoutStatus.OPEN.value,
        "age": age_seconds,
        "recent": recent_seconds,
        "every": every_seconds,
        "limit": limit,
    }
    return [(r[0], r[1]) for r in await tx.sql.fetch(_CLAIM_FOR_POLL.sql, *_CLAIM_FOR_POLL.args(values))]


# --- checkout ----------------------------------------------------------------------------------

_SESSION_AND_ORDER = Query(
    f"""
    SELECT {_SESSION_LIST}, {_ORDER_LIST}, p.razorpay_payment_id
    FROM checkout_sessions s
    LEFT JOIN orders o ON o.checkout_session_id = s.id
    LEFT JOIN payments p ON p.order_id = o.id
    WHERE s.id = :id
    """
)


async def session_and_order(
    tx: Unit, session_id: uuid.UUID
) -> tuple[CheckoutSession, Order | None, str | None] | None:
    """A session, the order it made and the Razorpay payment that paid for it, in one statement."""
    row = await _fetchrow(tx, _SESSION_AND_ORDER, id=session_id)
    if row is None:
        return None
    values = list(row)
    split = len(_SESSION_COLUMNS)
    session = model(CheckoutSession, _SESSION_COLUMNS, values[:split])
    return session, _order_or_none(values[split : split + len(_ORDER_COLUMNS)]), values[-1]


_ORDER_OF_SESSION = Query(f"SELECT {_ORDER_LIST} FROM orders o WHERE o.checkout_session_id = :id")
_ORDER_BY_NUMBER = Query(f"SELECT {_ORDER_LIST} FROM orders o WHERE o.number = :number")
_ORDER_BY_ID = Query(f"SELECT {_ORDER_LIST} FROM orders o WHERE o.id = :id")


async def order_of_session(tx: Unit, session_id: uuid.UUID) -> Order | None:
    row = await _fetchrow(tx, _ORDER_OF_SESSION, id=session_id)
    return model(Order, _ORDER_COLUMNS, list(row)) if row is not None else None


async def order_by_number(tx: Unit, number: str) -> Order | None:
    row = await _fetchrow(tx, _ORDER_BY_NUMBER, number=number)
    return model(Order, _ORDER_COLUMNS, list(row)) if row is not None else None


async def order_by_id(tx: Unit, order_id: int) -> Order | None:
    row = await _fetchrow(tx, _ORDER_BY_ID, id=order_id)
    return model(Order, _ORDER_COLUMNS, list(row)) if row is not None else None


# --- completion (the hot path: a lean unit) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosedSession:
    """What the order is made of, read back by the statement that closed the session."""

    user_id: int
    amount: int
    currency: str
    lines: list[QuoteLine]
    price_adjustments: list[Any]
    shipping_address: dict[str, Any]


_CLOSE = Query(
    """
    UPDATE checkout_sessions SET status = :completed WHERE id = :id AND status = :open
    RETURNING user_id, amount, currency, lines, price_adjustments, shipping_address
    """
)


async def close_session(tx: Unit, session_id: uuid.UUID) -> ClosedSession | None:
    """OPEN → COMPLETED, locking the session row (first in the lock order); None if not open."""
    row = await _fetchrow(tx, _CLOSE, id=session_id, **_TO_COMPLETED)
    if row is None:
        return None
    user_id, amount, currency, lines, adjustments, address = row
    return ClosedSession(
        user_id, amount, currency, [QuoteLine.from_json(x) for x in lines], adjustments, address
    )


_ORDER_PENDING = OrderStatus.PENDING.value
_CAPTURED = PaymentStatus.CAPTURED.value
_COMMISSION_PENDING = CommissionStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class NewOrder:
    """Every value the order statement writes, by name."""

    number: str
    session_id: uuid.UUID
    session: ClosedSession
    payment: GatewayPayment
    at: datetime
    actor: Actor
    note: str

    def values(self) -> dict[str, Any]:
        s, p, lines = self.session, self.payment, self.session.lines
        return {
            "number": self.number,
            "user_id": s.user_id,
            "session_id": self.session_id,
            "order_status": _ORDER_PENDING,
            "payment_status": _CAPTURED,
            "commission_status": _COMMISSION_PENDING,
            "total": s.amount,
            "currency": s.currency,
            "address": json.dumps(s.shipping_address),
            "adjustments": json.dumps(s.price_adjustments),
            "at": self.at,
            "actor_id": self.actor.user_id,
            "note": self.note,
            "razorpay_payment_id": p.id,
            "razorpay_order_id": p.order_id or "",
            "paid_amount": p.amount,
            "paid_currency": p.currency,
            "variant_ids": [x.variant_id for x in lines],
            "product_ids": [x.product_id for x in lines],
            "designer_ids": [x.designer_id for x in lines],
            "titles": [x.title for x in lines],
            "skus": [x.sku for x in lines],
            "sizes": [x.size for x in lines],
            "colors": [x.color for x in lines],
            "unit_prices": [x.unit_price for x in lines],
            "quantities": [x.quantity for x in lines],
            "line_totals": [x.line_total for x in lines],
        }


# Everything an order is made of, in one statement (one round trip while the session row is
# locked); PostgreSQL checks the foreign keys between these CTEs at the end of the statement. The
# first status-history row, the audit entry and the idempotency key's answer ride along, each the
# named part of its own module. Commission = line total x designer rate in basis points, rounded
# half up: the rule of Money.share.
PLACE_ORDER = Query(
    f"""
    WITH o AS (
        INSERT INTO orders (number, user_id, checkout_session_id, status, payment_status, subtotal, total,
                            currency, shipping_address, price_adjustments, created_at, updated_at)
        VALUES (:number, :user_id, :session_id, :order_status, :payment_status, :total, :total, :currency,
                :address::jsonb, :adjustments::jsonb, :at, :at)
        RETURNING {select_list(_ORDER_ATTRIBUTES, "orders")}
    ), history AS (
        INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note, at)
        SELECT o.id, NULL, :order_status, :actor_id, :note, :at FROM o
    ), items AS (
        INSERT INTO order_items (order_id, variant_id, product_id, designer_id, product_title, sku, size, color,
                                 unit_price, quantity, line_total)
        SELECT o.id, u.* FROM o, unnest(
            :variant_ids::bigint[], :product_ids::bigint[], :designer_ids::bigint[], :titles::text[],
            :skus::text[], :sizes::text[], :colors::text[], :unit_prices::bigint[],
            :quantities::int[], :line_totals::bigint[]) AS u
        RETURNING id, order_id, designer_id, line_total
    ), commissions AS (
        INSERT INTO commissions (order_item_id, order_id, designer_id, rate_bps, amount, status)
        SELECT items.id, items.order_id, items.designer_id, d.commission_rate_bps,
               (items.line_total * d.commission_rate_bps + 5000) / 10000, :commission_status
        FROM items JOIN designers d ON d.id = items.designer_id
    ), payment AS (
        INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, order_id, amount,
                              currency, status)
        SELECT :razorpay_payment_id, :razorpay_order_id, :session_id, o.id, :paid_amount, :paid_currency,
               :payment_status FROM o
    ), cart AS (
        DELETE FROM cart_lines
        WHERE cart_id = (SELECT id FROM carts WHERE user_id = :user_id) AND variant_id = ANY(:variant_ids::bigint[])
    ), audit AS (
        {audit.entry_part("o.id::text", "o")}
    ), answer AS (
        {idempotency.ANSWER_PART}
    )
    SELECT * FROM o
    """
)


def order_args(new: NewOrder, claim: idempotency.Claim | None, answer: dict[str, Any]) -> list[Any]:
    """PLACE_ORDER's values: the order's own, the audit entry's and the key's answer, by name."""
    created = {
        "number": new.number,
        "total": new.session.amount,
        "razorpayPaymentId": new.payment.id,
        "items": len(new.session.lines),
    }
    values = {
        **new.values(),
        **audit.entry_values(new.actor, "order.created", "Order", created),
        **idempotency.answer_values(claim, result=answer),
    }
    return PLACE_ORDER.args(values)


async def place_order(
    tx: Unit, new: NewOrder, claim: idempotency.Claim | None, answer: dict[str, Any]
) -> Order:
    row = await tx.sql.fetchrow(PLACE_ORDER.sql, *order_args(new, claim, answer))
    assert row is not None  # the INSERT ... RETURNING of one row
    return model(Order, _ORDER_COLUMNS, list(row))


@dataclass(frozen=True, slots=True)
class Sale:
    """What a sale's movements belong to."""

    order_id: int
    session_id: uuid.UUID
    actor_id: int | None


# After locks.variants (so the snapshot sees every committed hold), the session's holds end and
# its units are sold, if what is on hand less OTHER sessions' live holds covers them: a hold still
# live always does; one that lapsed takes the stock again only if it is there. The deleted holds
# stay visible to this statement's own snapshot, hence ``<> :session_id``. Each line is a SALE
# movement (kapda_gql.stock): from the hold when the session still had one (lapsed or not: the
# ledger keeps a hold until it is released or sold), else from sellable stock.
_SELL_HELD = Query(
    """
    WITH mine AS (
        DELETE FROM stock_holds WHERE session_id = :session_id RETURNING variant_id, quantity
    ), wanted AS (
        SELECT w.id, w.q, v.stock - (SELECT coalesce(sum(h.quantity), 0) FROM stock_holds h
                                     WHERE h.variant_id = v.id AND h.expires_at > now()
                                       AND h.session_id <> :session_id) AS available
        FROM unnest(:ids::bigint[], :quantities::int[]) AS w(id, q) JOIN variants v ON v.id = w.id
    ), changed AS (
        UPDATE variants v SET stock = v.stock - wanted.q FROM wanted
        WHERE v.id = wanted.id AND NOT EXISTS (SELECT 1 FROM wanted WHERE q > available)
        RETURNING v.id, v.stock, wanted.q,
                  CASE WHEN EXISTS (SELECT 1 FROM mine WHERE mine.variant_id = v.id) THEN -wanted.q ELSE 0 END
                  AS held_delta
    ), """
    + movements.cte(
        "moved",
        "changed",
        reason=StockReason.SALE,
        delta="-changed.q",
        held_delta="changed.held_delta",
        stock_after="changed.stock",
        order_id=":order_id",
        checkout_session_id=":session_id",
        actor_id=":actor_id",
    )
    + """
    SELECT id, q, available, (SELECT count(*) FROM changed) FROM wanted ORDER BY id
    """
)


async def sell_held(tx: Unit, lines: Sequence[QuoteLine], sale: Sale) -> dict[int, int] | None:
    """End the session's holds and sell its lines; None when sold, else each variant's sellable units."""
    rows = await tx.sql.fetch(
        _SELL_HELD.sql,
        *_SELL_HELD.args(
            {
                "session_id": sale.session_id,
                "ids": [x.variant_id for x in lines],
                "quantities": [x.quantity for x in lines],
                "order_id": sale.order_id,
                "actor_id": sale.actor_id,
            }
        ),
    )
    if rows and int(rows[0][3]) == len(lines):
        return None
    return {int(r[0]): max(int(r[2]), 0) for r in rows}


# --- closed elsewhere, and compensation -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndedSession:
    """How a session that someone else closed ended, and whether this payment is recorded already."""

    status: str
    failure_code: str | None
    failure_detail: dict[str, Any] | None
    order: Order | None
    payment_recorded: bool


_ENDED = Query(
    f"""
    SELECT s.status, s.failure_code, s.failure_detail,
           EXISTS (SELECT 1 FROM payments WHERE razorpay_payment_id = :payment_id), {_ORDER_LIST}
    FROM checkout_sessions s LEFT JOIN orders o ON o.checkout_session_id = s.id
    WHERE s.id = :id
    """
)


async def ended_session(tx: Unit, session_id: uuid.UUID, razorpay_payment_id: str) -> EndedSession:
    row = await _fetchrow(tx, _ENDED, id=session_id, payment_id=razorpay_payment_id)
    assert row is not None  # a session is never deleted while a payment for it is being settled
    status, code, detail, recorded, *order = list(row)
    return EndedSession(status, code, detail, _order_or_none(order), bool(recorded))


_PAYMENT_RECORDED = Query("SELECT id FROM payments WHERE razorpay_payment_id = :payment_id")


async def payment_recorded(tx: Unit, razorpay_payment_id: str) -> bool:
    return await _fetchrow(tx, _PAYMENT_RECORDED, payment_id=razorpay_payment_id) is not None


_RECORD_PAYMENT = Query(
    """
    INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, order_id, amount,
                          currency, status)
    VALUES (:payment_id, :order_id, :session_id, NULL, :amount, :currency, :status)
    RETURNING id
    """
)


async def record_stray_payment(tx: Unit, session_id: uuid.UUID, payment: GatewayPayment) -> int:
    """A captured payment that made no order, recorded so that it is refunded exactly once."""
    row = await _fetchrow(
        tx,
        _RECORD_PAYMENT,
        payment_id=payment.id,
        order_id=payment.order_id or "",
        session_id=session_id,
        amount=payment.amount,
        currency=payment.currency,
        status=_CAPTURED,
    )
    return int(row[0])
