"""Razorpay-shaped API errors, raised by the state machine and answered by the app."""

from __future__ import annotations

from typing import Any

NOT_FOUND = "The id provided does not exist"


class SandboxError(Exception):
    """A Razorpay-shaped API error."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        code: str = "BAD_REQUEST_ERROR",
        field: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code
        self.field = field
        self.metadata = metadata or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "description": self.description,
            "source": "NA",
            "step": "NA",
            "reason": "NA",
            "metadata": self.metadata,
        }
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def bad_request(description: str, field: str | None = None) -> SandboxError:
    return SandboxError(400, description, field=field)


def not_found() -> SandboxError:
    return SandboxError(404, NOT_FOUND)
