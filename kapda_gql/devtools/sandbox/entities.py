"""The shapes of Razorpay's entities (order, payment, refund, event) and its input checks.

Plain functions over dicts: the state machine (state.py) decides when each is
made or changed, under its lock.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from typing import Any

from kapda_gql.devtools.sandbox.errors import bad_request

PAY_OUTCOMES = frozenset({"authorized", "captured", "failed"})
REFUND_STATUSES = frozenset({"processed", "pending"})
SETTLED_REFUND_STATUSES = frozenset({"processed", "failed"})
CURRENCIES = frozenset({"INR", "USD", "EUR", "GBP", "SGD", "AED"})
MIN_ORDER_AMOUNT = 100

_ID_ALPHABET = string.ascii_letters + string.digits
_ORDER_FIELDS = frozenset({"amount", "currency", "receipt", "notes", "partial_payment", "payment_capture"})


def new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))


def now() -> int:
    return int(time.time())


def new_order(body: dict[str, Any]) -> dict[str, Any]:
    """The order ``POST /v1/orders`` makes from ``body``, checked as Razorpay checks it."""
    reject_unknown_fields(body, _ORDER_FIELDS)
    amount = require_amount(body.get("amount"), minimum=MIN_ORDER_AMOUNT)
    currency = require_currency(body.get("currency"))
    receipt = body.get("receipt")
    if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
        raise bad_request("The receipt may not be greater than 40 characters.", "receipt")
    return {
        "id": new_id("order"),
        "entity": "order",
        "amount": amount,
        "amount_paid": 0,
        "amount_due": amount,
        "currency": currency,
        "receipt": receipt,
        "offer_id": None,
        "status": "created",
        "attempts": 0,
        "notes": require_notes(body.get("notes")),
        "payment_capture": bool(body.get("payment_capture", False)),
        "created_at": now(),
    }


def new_payment(order: dict[str, Any], amount: int) -> dict[str, Any]:
    return {
        "id": new_id("pay"),
        "entity": "payment",
        "amount": amount,
        "currency": order["currency"],
        "status": "created",
        "order_id": order["id"],
        "invoice_id": None,
        "international": False,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": False,
        "description": None,
        "card_id": None,
        "bank": None,
        "wallet": None,
        "vpa": None,
        "email": "customer@example.com",
        "contact": "+919900000000",
        "notes": copy.deepcopy(order["notes"]),
        "fee": None,
        "tax": None,
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "acquirer_data": {},
        "created_at": now(),
    }


def new_refund(payment: dict[str, Any], amount: int, notes: dict[str, str], status: str) -> dict[str, Any]:
    return {
        "id": new_id("rfnd"),
        "entity": "refund",
        "amount": amount,
        "currency": payment["currency"],
        "payment_id": payment["id"],
        "notes": notes,
        "receipt": None,
        "acquirer_data": {"arn": None},
        "created_at": now(),
        "batch_id": None,
        "status": status,
        "speed_processed": "normal",
        "speed_requested": "normal",
    }


def event_body(
    event_type: str,
    *,
    payment: dict[str, Any],
    order: dict[str, Any] | None = None,
    refund: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A webhook event's JSON, with copies of the entities as they are now."""
    payload: dict[str, Any] = {"payment": {"entity": copy.deepcopy(payment)}}
    contains = ["payment"]
    if order is not None:
        payload["order"] = {"entity": public_order(order)}
        contains.append("order")
    if refund is not None:
        payload["refund"] = {"entity": copy.deepcopy(refund)}
        contains.insert(0, "refund")
    return {
        "entity": "event",
        "account_id": "acc_sandbox",
        "event": event_type,
        "contains": contains,
        "payload": payload,
        "created_at": now(),
    }


def public_order(order: dict[str, Any]) -> dict[str, Any]:
    # payment_capture is an input to order creation, not part of the entity.
    return {k: copy.deepcopy(v) for k, v in order.items() if k != "payment_capture"}


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


def reject_unknown_fields(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"{', '.join(unknown)} is/are not required and should not be sent", unknown[0])


def require_amount(value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request("The amount must be an integer.", "amount")
    if value < minimum:
        raise bad_request(f"The amount must be at least {minimum}.", "amount")
    return value


def require_currency(value: Any) -> str:
    if not isinstance(value, str) or value not in CURRENCIES:
        raise bad_request("The currency provided is invalid.", "currency")
    return value


def require_notes(value: Any) -> dict[str, str]:
    if value is None or value == []:
        # PHP-style clients send [] for an empty map; Razorpay accepts it.
        return {}
    if not isinstance(value, dict) or len(value) > 15:
        raise bad_request("The notes should be a map of at most 15 keys.", "notes")
    notes: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float) or len(str(item)) > 256:
            raise bad_request("Each note must be a string of at most 256 characters.", "notes")
        notes[str(key)] = str(item)
    return notes
