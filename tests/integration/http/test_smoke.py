from __future__ import annotations

from typing import Any


async def test_health_and_request_id(api: Any) -> None:
    r = await api.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    r = await api.client.get("/readyz", headers={"X-Request-Id": "abc-123"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "abc-123"


async def test_products_anonymous(api: Any, make_user: Any, make_product: Any) -> None:
    designer = await make_user("DESIGNER")
    await make_product(designer.designer_id, title="Indigo Kurta")
    await make_product(designer.designer_id, title="Draft Saree", status="DRAFT")
    data = await api.ok(
        "{ products { totalCount edges { node { title designer { name } variants { sku price { formatted } } } } } }"
    )
    titles = [e["node"]["title"] for e in data["products"]["edges"]]
    assert titles == ["Indigo Kurta"]
    assert data["products"]["totalCount"] == 1
    assert data["products"]["edges"][0]["node"]["variants"][0]["price"]["formatted"] == "₹1,299.00"
