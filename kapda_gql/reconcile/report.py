"""The reconcile table: one line per check, then each disagreement under its check."""

from __future__ import annotations

from kapda_gql.reconcile.checks import Result

MAX_LISTED = 50  # per check: a broken database must not print a million lines


def render(result: Result) -> str:
    width = max(len(name) for name in result.rows) if result.rows else 10
    lines = [f"{'check':<{width}}  {'result':<10}  what agreeing means"]
    for name, rows in result.rows.items():
        verdict = "ok" if not rows else f"{len(rows)} WRONG"
        lines.append(f"{name:<{width}}  {verdict:<10}  {result.what.get(name, '')}")
    for name, rows in result.rows.items():
        for row in rows[:MAX_LISTED]:
            lines.append(f"  {name}: " + " | ".join("-" if v is None else str(v) for v in row))
        if len(rows) > MAX_LISTED:
            lines.append(f"  {name}: ... and {len(rows) - MAX_LISTED} more")
    verdict = "everything agrees" if result.disagreements == 0 else f"{result.disagreements} disagreement(s)"
    lines.append(f"{verdict} ({result.seconds:.2f} s)")
    return "\n".join(lines)
