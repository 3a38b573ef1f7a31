from __future__ import annotations

from typing import Any


async def test_nul_bytes_are_bad_user_input_not_a_crash(api: Any) -> None:
    by_variable = await api.error(
        "query($q: String) { products(filter: {search: $q}) { totalCount } }", {"q": "a\x00b"}
    )
    assert by_variable["extensions"]["code"] == "BAD_USER_INPUT"
    by_literal = await api.error('{ products(filter: {search: "a\\u0000b"}) { totalCount } }')
    assert by_literal["extensions"]["code"] == "BAD_USER_INPUT"


async def test_uncoercible_variables_are_bad_user_input(api: Any, make_user: Any) -> None:
    customer = await make_user()
    wrong_enum = await api.error(
        "query($s: OrderStatus) { orders(status: $s) { totalCount } }", {"s": "GONE"}, token=customer.token
    )
    assert wrong_enum["extensions"]["code"] == "BAD_USER_INPUT"
    wrong_int = await api.error("query($n: Int) { products(first: $n) { totalCount } }", {"n": "x"})
    assert wrong_int["extensions"]["code"] == "BAD_USER_INPUT"
