"""The demo catalog's pictures are served by the service itself, so a storefront renders them offline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from kapda_gql.devtools import demo
from kapda_gql.runtime import Runtime

PRODUCTS = "query { products(first: 100) { edges { node { title images } } } }"


async def test_every_demo_picture_answers_as_an_image(api: Any, runtime: Runtime) -> None:
    await demo.load(runtime, public_url="http://127.0.0.1:8123")
    data = await api.ok(PRODUCTS)
    products = [edge["node"] for edge in data["products"]["edges"]]
    assert len(products) >= 20

    checked = 0
    for product in products:
        assert len(product["images"]) == demo.IMAGES_PER_PRODUCT
        for url in product["images"]:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("http", "127.0.0.1:8123")
            assert parts.path.startswith("/media/demo/")
            response = await api.client.get(parts.path)  # the same app, whatever host it is reached on
            assert response.status_code == 200, url
            assert response.headers["content-type"] == "image/svg+xml"
            assert "max-age=" in response.headers["cache-control"]
            root = ElementTree.fromstring(response.content)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
            assert product["title"] in "".join(root.itertext())
            checked += 1
    assert checked == len(products) * demo.IMAGES_PER_PRODUCT


async def test_pictures_differ_and_revalidate(api: Any) -> None:
    title = demo.CATALOG[0].title
    paths = [urlsplit(u).path for u in demo.image_urls("http://x", title)]
    bodies = [(await api.client.get(p)).content for p in paths]
    first = await api.client.get(paths[0])
    again = await api.client.get(paths[0], headers={"If-None-Match": first.headers["etag"]})

    assert len(set(bodies)) == demo.IMAGES_PER_PRODUCT  # front, detail, drape: not one picture thrice
    assert first.content == bodies[0]  # the same name draws the same bytes
    assert again.status_code == 304
    assert again.content == b""


async def test_unknown_pictures_are_not_found(api: Any) -> None:
    title_slug = demo.slug(demo.CATALOG[0].title)
    for path in (
        "/media/demo/not-a-product-1.svg",
        f"/media/demo/{title_slug}-4.svg",
        f"/media/demo/{title_slug}-1.png",
        "/media/demo/..%2Fetc-1.svg",
    ):
        response = await api.client.get(path)
        assert response.status_code == 404, path
