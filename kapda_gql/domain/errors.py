"""The one error hierarchy of the service.

Services raise these; the GraphQL and REST layers turn them into API error
codes in exactly one place (``kapda_gql.graphql.errors``). Each class carries
its API code so the mapping cannot drift from the hierarchy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a client is allowed to see."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        self.message = message or self.default_message
        self.extensions: dict[str, Any] = extensions
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form, used to replay an error for a repeated idempotent request."""
        return {"code": self.code, "message": self.message, "extensions": self.extensions}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> DomainError:
        cls = _BY_CODE.get(str(data.get("code")), DomainError)
        err = cls.__new__(cls)
        DomainError.__init__(err, str(data.get("message")), **dict(data.get("extensions") or {}))
        return err


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    default_message = "Authentication required"


class Forbidden(DomainError):
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this"


class NotFound(DomainError):
    code = "NOT_FOUND"
    default_message = "Not found"


class BadUserInput(DomainError):
    code = "BAD_USER_INPUT"
    default_message = "Invalid input"

    def __init__(self, fields: Sequence[tuple[str, str]] | str, message: str | None = None) -> None:
        pairs = [(fields, message or "is invalid")] if isinstance(fields, str) else list(fields)
        text = message if message and not isinstance(fields, str) else None
        super().__init__(
            text or "; ".join(f"{f}: {m}" for f, m in pairs),
            fields=[{"field": f, "message": m} for f, m in pairs],
        )


class EmailTaken(DomainError):
    code = "EMAIL_TAKEN"
    default_message = "An account with this e-mail already exists"


class InvalidCredentials(DomainError):
    code = "INVALID_CREDENTIALS"
    default_message = "Wrong e-mail or password"


class AccountSuspended(DomainError):
    code = "ACCOUNT_SUSPENDED"
    default_message = "This account is suspended"


class ProductUnavailable(DomainError):
    code = "PRODUCT_UNAVAILABLE"
    default_message = "This product is not available"


class InsufficientStock(DomainError):
    code = "INSUFFICIENT_STOCK"
    default_message = "Not enough stock"


class CartEmpty(DomainError):
    code = "CART_EMPTY"
    default_message = "The cart is empty"


class CheckoutExpired(DomainError):
    code = "CHECKOUT_EXPIRED"
    default_message = "This checkout has expired or was already used"


class PaymentVerificationFailed(DomainError):
    code = "PAYMENT_VERIFICATION_FAILED"
    default_message = "The payment signature does not verify"


class PaymentNotCaptured(DomainError):
    code = "PAYMENT_NOT_CAPTURED"
    default_message = "The payment is not authorized or captured"


class PaymentAmountMismatch(DomainError):
    code = "PAYMENT_AMOUNT_MISMATCH"
    default_message = "The amount paid differs from the checkout total"


class PaymentGatewayUnavailable(DomainError):
    """Razorpay did not answer in time or answered with a server error; safe to retry."""

    code = "PAYMENT_GATEWAY_UNAVAILABLE"
    default_message = "The payment gateway is not reachable; please retry"


class PaymentGatewayRejected(DomainError):
    """Razorpay refused the request (4xx); retrying the same request will not help."""

    code = "PAYMENT_GATEWAY_ERROR"
    default_message = "The payment gateway rejected the request"


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "This idempotency key was already used for a different request"


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"
    default_message = "This order status change is not allowed"


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    default_message = "Too many requests; retry later"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, retryAfter=retry_after)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """The database did not answer in time or at all. Retrying is safe: whatever a request had done was
    either committed or rolled back, and its idempotency key answers a retry with the committed result."""

    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is briefly unavailable; retry shortly"
    retry_after_seconds: ClassVar[int] = 2

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, retryAfter=self.retry_after_seconds)


class QueryTooComplex(DomainError):
    code = "QUERY_TOO_COMPLEX"
    default_message = "The query is too complex"


class PersistedQueryNotFound(DomainError):
    # Apollo's links match this exact message (or the code) to send the document and retry.
    code = "PERSISTED_QUERY_NOT_FOUND"
    default_message = "PersistedQueryNotFound"


class PersistedQueryNotSupported(DomainError):
    code = "PERSISTED_QUERY_NOT_SUPPORTED"
    default_message = "PersistedQueryNotSupported"


_BY_CODE: dict[str, type[DomainError]] = {}


def _register(cls: type[DomainError]) -> None:
    _BY_CODE[cls.code] = cls
    for sub in cls.__subclasses__():
        _register(sub)


_register(DomainError)
