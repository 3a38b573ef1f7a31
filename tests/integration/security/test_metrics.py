"""12.9: /metrics in production only with KAPDA_METRICS_TOKEN; labels come from the schema only."""

from __future__ import annotations

import uuid
from typing import Any


async def test_production_serves_metrics_only_with_the_token(serve: Any, production_settings: Any) -> None:
    untokened = serve(production_settings())
    async with untokened.client() as client:
        response = await client.get("/metrics")
        assert response.status_code == 404, response.text
        assert "kapda_" not in response.text
    token = "scrape-" + uuid.uuid4().hex
    tokened = serve(production_settings(KAPDA_METRICS_TOKEN=token))
    async with tokened.client() as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "kapda_requests_total" in ok.text


async def test_made_up_meta_fields_mint_no_operation_labels(api: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    for n in range(5):
        await api.client.post("/graphql", json={"query": f"{{ __made_up_{tag}_{n} }}"})
        await api.client.post("/graphql", json={"query": f"query Name_{tag}_{n} {{ __typename }}"})
    text = (await api.client.get("/metrics")).text
    assert tag not in text
    assert 'operation="query:invalid"' in text
    assert 'operation="query:__typename"' in text
