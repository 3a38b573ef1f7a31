"""Content negotiation for the GraphQL-over-HTTP response media types."""

from __future__ import annotations

from dataclasses import dataclass

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html"


@dataclass(frozen=True, slots=True)
class _Range:
    type: str
    subtype: str
    q: float

    def specificity(self, media_type: str) -> int:
        """How closely this range names ``media_type``: 2 exactly, 1 by ``type/*``, 0 by ``*/*``, -1 not."""
        main, _, sub = media_type.partition("/")
        if self.type == main and self.subtype == sub:
            return 2
        if self.type == main and self.subtype == "*":
            return 1
        if self.type == "*" and self.subtype == "*":
            return 0
        return -1


def _ranges(accept: str) -> list[_Range]:
    ranges = []
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        main, slash, sub = kind.lower().partition("/")
        if not slash or not main or not sub:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append(_Range(main, sub, q))
    return ranges


def _quality(ranges: list[_Range], media_type: str) -> tuple[float, int]:
    """The q of the most specific range that names ``media_type`` (RFC 9110 §12.5.1), and how specific."""
    best: tuple[int, float] = (-1, 0.0)
    for item in ranges:
        specificity = item.specificity(media_type)
        if specificity > best[0]:
            best = (specificity, item.q)
    return best[1], best[0]


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither of ours (406).

    No Accept at all is a legacy client: application/json. Between the two, the higher q wins; on a
    tie the one the client named explicitly wins, and application/json when both are named only by
    a wildcard (what the specification asks of `*/*`).
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    if not ranges:
        return JSON
    graphql_q, graphql_specific = _quality(ranges, GRAPHQL_RESPONSE)
    json_q, json_specific = _quality(ranges, JSON)
    if graphql_q <= 0 and json_q <= 0:
        return None
    if graphql_q != json_q:
        return GRAPHQL_RESPONSE if graphql_q > json_q else JSON
    return GRAPHQL_RESPONSE if graphql_specific > json_specific else JSON


def prefers_html(accept: str | None) -> bool:
    """A browser navigating to the endpoint: text/html named, and ranked above our JSON types."""
    if not accept:
        return False
    ranges = _ranges(accept)
    html_q, html_specific = _quality(ranges, HTML)
    if html_q <= 0 or html_specific < 1:
        return False
    return html_q >= max(_quality(ranges, GRAPHQL_RESPONSE)[0], _quality(ranges, JSON)[0])
