"""Plain SQL with named values: ``:name`` markers rendered once to ``$n`` placeholders, rows turned
into detached ORM instances, and constraint names read out of database errors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import inspect as sa_inspect

T = TypeVar("T")
_MARK = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Query:
    """A statement with ``:name`` markers, rendered to ``$n`` placeholders (one per distinct name)."""

    sql: str
    names: tuple[str, ...]

    @staticmethod
    def of(template: str) -> Query:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return Query(_MARK.sub(number, template), tuple(names))

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The values in placeholder order; a name without a value is a KeyError, never a NULL."""
        return [values[name] for name in self.names]


def violated_constraint(error: BaseException) -> str | None:
    """The name of the constraint a database error violated, however deeply it is wrapped."""
    seen: BaseException | None = error
    while seen is not None:
        name = getattr(seen, "constraint_name", None)
        if isinstance(name, str):
            return name
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


# --- rows as models ----------------------------------------------------------------------------


def attributes(model: Any) -> list[tuple[str, str]]:
    """(attribute, column) for each mapped column of a model."""
    return [(a.key, a.columns[0].name) for a in sa_inspect(model).column_attrs]


def select_list(attributes: list[tuple[str, str]], alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for _, column in attributes)


def model(model: type[T], columns: list[str], values: Sequence[Any]) -> T:
    """A detached ORM instance from plain values (a lean unit's row), for callers that expect one."""
    return model(**dict(zip(columns, values, strict=True)))
