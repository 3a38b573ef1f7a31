"""Data flows one way (HTTP → GraphQL/REST → service → unit of work → database), and the folders say
so: each layer imports only what lies below it. Read from the source, so a wrong import fails here
before it is ever run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kapda_gql"
WEB = (
    "strawberry",
    "starlette",
    "uvicorn",
    "graphql",
    "kapda_gql.graphql",
    "kapda_gql.rest",
    "kapda_gql.http",
)
RULES: dict[str, tuple[str, ...]] = {
    # the rules: plain Python, no database and no web
    "domain": ("sqlalchemy", "asyncpg", "kapda_gql.db", *WEB),
    # services and their stores never see HTTP or GraphQL types
    "auth": WEB,
    "catalog": WEB,
    "cart": WEB,
    "checkout": WEB,
    "orders": WEB,
    "payments": WEB,
    "stock": WEB,
    "reconcile": WEB,
    "core": ("kapda_gql.graphql", "kapda_gql.rest", "kapda_gql.http", "strawberry"),
    "db": ("kapda_gql.graphql", "kapda_gql.rest", "kapda_gql.http", "strawberry", "starlette"),
    # the ASGI middleware depends on nothing in the GraphQL layer
    "http": ("kapda_gql.graphql",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(RULES))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"kapda_gql/{layer} has no modules"
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if any(name == banned or name.startswith(banned + ".") for banned in RULES[layer])
    ]
    assert wrong == []
