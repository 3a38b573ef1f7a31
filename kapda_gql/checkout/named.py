"""Rows of checkout's plain SQL turned into detached ORM instances (named statements and constraint
names are ``kapda_gql.db.sql``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.instrumentation import manager_of_class

T = TypeVar("T")
# --- rows as models ----------------------------------------------------------------------------


def attributes(model: Any) -> list[tuple[str, str]]:
    """(attribute, column) for each mapped column of a model."""
    return [(a.key, a.columns[0].name) for a in sa_inspect(model).column_attrs]


def select_list(attributes: list[tuple[str, str]], alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for _, column in attributes)


def model(model: type[T], columns: list[str], values: Sequence[Any]) -> T:
    """A detached ORM instance from plain values (a lean unit's row), for callers that expect one."""
    return instance(model, dict(zip(columns, values, strict=True)))


def instance(model: type[T], values: dict[str, Any]) -> T:
    """An ORM instance holding ``values`` as its attributes, built the way the ORM builds a loaded
    row (a bare instance with its state, then its attribute dict), not through the mapped
    ``__init__``: that sets each attribute through the instrumentation and records it as a pending
    change, ~10x the cost, for instances nobody ever adds to a session (they are answers)."""
    manager = _managers.get(model)
    if manager is None:
        configure_mappers()  # the first instance of a class: its attributes must be instrumented
        manager = _managers[model] = manager_of_class(model)
    made: T = manager.new_instance()
    made.__dict__.update(values)
    return made


_managers: dict[type[Any], Any] = {}
