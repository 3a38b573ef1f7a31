"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def counting(runtime: Any) -> Iterator[list[str]]:
    """Every SQL statement the service sends while the block runs, in order (ORM and lean units)."""
    statements: list[str] = []
    listeners = runtime.db.listeners
    listeners.append(statements.append)
    try:
        yield statements
    finally:
        listeners.remove(statements.append)
