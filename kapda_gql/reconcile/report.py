"""The reconcile table: one line per check, then each disagreement under its check.

Notes (``Result.notes``) are printed the same way but are never disagreements: their verdict says
``noted`` and their rows are marked ``(note)``.
"""

from __future__ import annotations

from typing import Any

from kapda_gql.reconcile.checks import Result

MAX_LISTED = 50  # per check: a broken database must not print a million lines


def render(result: Result) -> str:
    names = [*result.rows, *result.notes]
    width = max(len(name) for name in names) if names else 10
    lines = [f"{'check':<{width}}  {'result':<10}  what agreeing means"]
    for name, rows in result.rows.items():
        verdict = "ok" if not rows else f"{len(rows)} WRONG"
        lines.append(f"{name:<{width}}  {verdict:<10}  {result.what.get(name, '')}")
    for name, rows in result.notes.items():
        verdict = f"{len(rows)} noted" if rows else "none"
        lines.append(f"{name:<{width}}  {verdict:<10}  {result.what.get(name, '')}")
    for name, rows in result.rows.items():
        lines.extend(_listed(name, rows))
    for name, rows in result.notes.items():
        lines.extend(_listed(f"{name} (note)", rows))
    verdict = "everything agrees" if result.disagreements == 0 else f"{result.disagreements} disagreement(s)"
    lines.append(f"{verdict} ({result.seconds:.2f} s)")
    return "\n".join(lines)


def _listed(label: str, rows: list[tuple[Any, ...]]) -> list[str]:
    lines = [
        f"  {label}: " + " | ".join("-" if v is None else str(v) for v in row) for row in rows[:MAX_LISTED]
    ]
    if len(rows) > MAX_LISTED:
        lines.append(f"  {label}: ... and {len(rows) - MAX_LISTED} more")
    return lines
