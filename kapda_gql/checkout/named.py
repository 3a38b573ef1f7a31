"""Rows of checkout's plain SQL turned into detached ORM instances (named statements and constraint
names are ``kapda_gql.db.sql``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect as sa_inspect

T = TypeVar("T")
# --- rows as models ----------------------------------------------------------------------------


def attributes(model: Any) -> list[tuple[str, str]]:
    """(attribute, column) for each mapped column of a model."""
    return [(a.key, a.columns[0].name) for a in sa_inspect(model).column_attrs]


def select_list(attributes: list[tuple[str, str]], alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for _, column in attributes)


def model(model: type[T], columns: list[str], values: Sequence[Any]) -> T:
    """A detached ORM instance from plain values (a lean unit's row), for callers that expect one."""
    return model(**dict(zip(columns, values, strict=True)))
