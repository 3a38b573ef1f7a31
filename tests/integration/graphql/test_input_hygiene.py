from __future__ import annotations

from typing import Any

from tests.support.documents import ADD

START = """mutation($name: String!) { startCheckout(input: {shippingAddress: {name: $name, line1: "12 MG Road",
  city: "Bengaluru", state: "Karnataka", postalCode: "560001", phone: "+91 98450 12345"}}) { id } }"""


async def test_nul_bytes_are_bad_user_input_not_a_crash(api: Any, make_user: Any, make_product: Any) -> None:
    by_variable = await api.error(
        "query($q: String) { products(filter: {search: $q}) { totalCount } }", {"q": "a\x00b"}
    )
    assert by_variable["extensions"]["code"] == "BAD_USER_INPUT"
    by_literal = await api.error('{ products(filter: {search: "a\\u0000b"}) { totalCount } }')
    assert by_literal["extensions"]["code"] == "BAD_USER_INPUT"
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id)
    await api.ok(ADD, {"v": product["variant_ids"][0], "q": 1}, token=customer.token)
    address = await api.error(START, {"name": "Asha\x00"}, token=customer.token)
    assert address["extensions"]["code"] == "BAD_USER_INPUT"
    assert address["extensions"]["fields"] == [
        {"field": "shippingAddress.name", "message": "must not contain control characters"}
    ]


async def test_uncoercible_variables_are_bad_user_input(api: Any, make_user: Any) -> None:
    customer = await make_user()
    wrong_enum = await api.error(
        "query($s: OrderStatus) { orders(status: $s) { totalCount } }", {"s": "GONE"}, token=customer.token
    )
    assert wrong_enum["extensions"]["code"] == "BAD_USER_INPUT"
    wrong_int = await api.error("query($n: Int) { products(first: $n) { totalCount } }", {"n": "x"})
    assert wrong_int["extensions"]["code"] == "BAD_USER_INPUT"
    too_big = await api.error(
        "query($n: Int) { products(filter: {minPrice: $n}) { totalCount } }", {"n": 10**12}
    )
    assert too_big["extensions"]["code"] == "BAD_USER_INPUT"


async def test_audit_filter_refuses_control_characters(api: Any, make_user: Any) -> None:
    admin = await make_user("ADMIN")
    error = await api.error(
        "query($f: AuditFilter) { auditLog(filter: $f) { totalCount } }",
        {"f": {"targetType": "\x00"}},
        token=admin.token,
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"][0]["field"] == "filter.targetType"


async def test_data_postgres_cannot_store_is_bad_user_input_even_when_unchecked(runtime: Any) -> None:
    """The safety net in the one error mapping: a NUL that reaches PostgreSQL is the client's mistake."""
    from graphql import GraphQLError
    from sqlalchemy import text

    from kapda_gql.graphql.errors import error_code, format_error

    try:
        async with runtime.db.uow().orm() as uow:
            await uow.session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
    except Exception as exc:
        wrapped = GraphQLError("boom", original_error=exc, path=["x"])
    assert error_code(wrapped) == "BAD_USER_INPUT"
    body = format_error(wrapped, request_id="r1", production=True)
    assert body["extensions"]["code"] == "BAD_USER_INPUT"
    assert "SELECT" not in body["message"]
