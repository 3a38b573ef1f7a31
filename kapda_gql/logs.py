"""Logging setup: one JSON object per line in production-style runs, readable text otherwise."""

from __future__ import annotations

import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import Any

from kapda_gql.config import Settings

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Made once: json.dumps with an argument builds an encoder per call, and every request logs a line.
_ENCODER = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second: int | None = None
        self._prefix = ""

    def _timestamp(self, created: float) -> str:
        """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, the date
        and time formatted once per second rather than once per line (the rounding is the same)."""
        fraction, whole = math.modf(created)
        micros = round(fraction * 1e6)
        second = int(whole)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(payload)


def emit(
    logger: logging.Logger,
    msg: str,
    args: tuple[Any, ...],
    where: tuple[str, int],
    fields: dict[str, Any] | None = None,
) -> None:
    """An INFO line whose text cannot hold a secret (a request's method, route and status; a
    Razorpay call that went well), made here rather than by ``logger.info``: the record
    factory's redaction (observability.install_log_redaction) has nothing to find in it, and the
    caller lookup would walk the stack to name ``where``, which the caller already knows. Every
    request logs one or two such lines. ``fields`` become record attributes, keys of the JSON."""
    if not logger.isEnabledFor(logging.INFO):
        return
    record = logging.LogRecord(logger.name, logging.INFO, where[0], where[1], msg, args, None)
    if fields:
        record.__dict__.update(fields)
    logger.handle(record)


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if settings.log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate our one-line-per-request log.
    logging.getLogger("uvicorn.access").disabled = True
