"""The page machinery without a database: windows from Relay's arguments, pages from rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kapda_gql.core.pagination import Window, decode_cursor, encode_cursor, page_of, window
from kapda_gql.domain.errors import BadUserInput, QueryTooComplex


def test_window_directions_and_defaults() -> None:
    assert window() == Window(20)
    assert window(default=50) == Window(50)
    assert window(first=3, after="c") == Window(3, "c")
    assert window(last=3, before="c") == Window(3, "c", backward=True)
    assert window(before="c") == Window(20, "c", backward=True)
    assert window(last=100) == Window(100, None, backward=True)


@pytest.mark.parametrize(
    "args",
    [
        {"first": 1, "last": 1},
        {"after": "a", "before": "b"},
        {"first": 1, "before": "b"},
        {"last": 1, "after": "a"},
    ],
)
def test_mixed_directions_are_bad_input(args: dict[str, object]) -> None:
    with pytest.raises(BadUserInput):
        window(**args)  # type: ignore[arg-type]


def test_sizes_are_capped_both_ways() -> None:
    for args in ({"first": 101}, {"last": 101}):
        with pytest.raises(QueryTooComplex):
            window(**args)  # type: ignore[arg-type]
    with pytest.raises(BadUserInput):
        window(last=-1)


def test_cursor_round_trip_and_the_field_named_in_errors() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 7), [datetime, int]) == [at, 7]
    with pytest.raises(BadUserInput) as caught:
        Window(2, "nonsense", backward=True).decode([datetime, int])
    assert str(caught.value).startswith("before:")


def test_page_of_turns_a_backward_read_round() -> None:
    rows = [5, 4, 3]  # read in reverse order, one more than asked for
    page = page_of(rows, Window(2, "c", backward=True), item=str, cursor=str, beyond_cursor=True)
    assert page.items == ["4", "5"] and page.cursors == ["4", "5"]
    assert page.has_previous_page is True and page.has_next_page is True
    assert (page.start_cursor, page.end_cursor) == ("4", "5")
    forward = page_of([1, 2], Window(2), item=str, cursor=str, beyond_cursor=False)
    assert forward.items == ["1", "2"] and not forward.has_next_page and not forward.has_previous_page
    empty = page_of([], Window(0, "c"), item=str, cursor=str, beyond_cursor=True)
    assert empty.start_cursor is None and empty.has_previous_page is True


def test_cursors_keep_their_bytes() -> None:
    """Clients hold cursors: the written-out encoding is byte for byte the JSON encoder's."""
    import base64
    import json
    import random
    from datetime import timedelta, timezone

    def reference(*values: object) -> str:
        text = json.dumps(
            [v.isoformat() if isinstance(v, datetime) else v for v in values], separators=(",", ":")
        )
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    rng = random.Random(16)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))]
    for _ in range(20_000):
        at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(10**9), microseconds=rng.choice([0, rng.randrange(10**6)])
        )
        at = at.astimezone(rng.choice(zones))
        key = rng.choice([0, -1, 2**63 - 1, rng.randrange(-(2**40), 2**40)])
        rank = rng.choice([0.0, 1e-20, rng.random(), 1.5e300])
        assert encode_cursor(at, key) == reference(at, key)
        assert encode_cursor(key, key + 1) == reference(key, key + 1)
        assert encode_cursor(rank, key) == reference(rank, key)
        assert decode_cursor(encode_cursor(at, key), [datetime, int]) == [at, key]
    assert encode_cursor(7) == reference(7) and encode_cursor(True, "x") == reference(True, "x")
