"""Pictures for the demo catalog, drawn in code and served by the service itself.

A storefront developer working offline still sees a picture for every demo
product: ``GET /media/demo/<product-slug>-<1..3>.svg`` answers a small SVG of a
garment in the product's colour, with its title. Nothing is stored; the same
name always draws the same bytes, so the answers can be cached for a long time.
Development only: the demo is never loaded in production.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kapda_gql.devtools.demo import CATALOG, IMAGES_PER_PRODUCT, MEDIA_PATH, slug

CONTENT_TYPE = "image/svg+xml"
CACHE_CONTROL = "public, max-age=86400"
_NAME = re.compile(r"^(?P<slug>[a-z0-9-]{1,80})-(?P<n>[1-9])\.svg$")
# Background and garment shades, picked per product by a stable hash of its slug.
_PALETTE = (
    ("#f3e6d8", "#b5523b"),
    ("#e3eef0", "#2f6f7e"),
    ("#f1ecd9", "#8a6d1f"),
    ("#ebe3f0", "#6b3f86"),
    ("#e6efe1", "#4d7a3a"),
    ("#f4e1e4", "#a23a55"),
    ("#e2e6f2", "#34478f"),
    ("#efe7dd", "#6d4c35"),
)
_TITLES = {slug(item.title): item.title for item in CATALOG}


def routes() -> list[Route]:
    return [Route(MEDIA_PATH + "/{name}", serve_picture, methods=["GET", "HEAD"])]


async def serve_picture(request: Request) -> Response:
    match = _NAME.match(str(request.path_params["name"]))
    if match is None or match["slug"] not in _TITLES or int(match["n"]) > IMAGES_PER_PRODUCT:
        return Response("no such demo picture\n", status_code=404, media_type="text/plain")
    body = picture(match["slug"], int(match["n"]))
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CONTENT_TYPE, headers=headers)


@lru_cache(maxsize=256)
def picture(product_slug: str, n: int) -> bytes:
    """Picture ``n`` of a product: plain, striped or dotted (front, detail, drape)."""
    shade = _PALETTE[int(hashlib.sha256(product_slug.encode()).hexdigest(), 16) % len(_PALETTE)]
    background, cloth = shade
    pattern = ""
    if n % 3 == 2:
        pattern = "".join(
            f'<rect x="150" y="{y}" width="300" height="14" fill="#ffffff" fill-opacity="0.25"/>'
            for y in range(220, 640, 42)
        )
    elif n % 3 == 0:
        pattern = "".join(
            f'<circle cx="{x}" cy="{y}" r="7" fill="#ffffff" fill-opacity="0.35"/>'
            for y in range(230, 640, 48)
            for x in range(190, 430, 48)
        )
    title = escape(_TITLES.get(product_slug, product_slug))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="800" viewBox="0 0 600 800">'
        f'<rect width="600" height="800" fill="{background}"/>'
        # A kurta: shoulders and sleeves, then a body that flares to the hem.
        '<clipPath id="g"><path d="M230 140 L370 140 L470 200 L520 330 L450 350 L430 290 '
        'L450 660 L150 660 L170 290 L150 350 L80 330 L130 200 Z"/></clipPath>'
        f'<rect width="600" height="800" fill="{cloth}" clip-path="url(#g)"/>'
        f'<g clip-path="url(#g)">{pattern}</g>'
        f'<path d="M265 140 Q300 190 335 140" fill="none" stroke="{background}" stroke-width="6"/>'
        f'<text x="300" y="730" font-family="sans-serif" font-size="30" text-anchor="middle" '
        f'fill="{cloth}">{title}</text>'
        f'<text x="300" y="770" font-family="sans-serif" font-size="18" text-anchor="middle" '
        f'fill="{cloth}" fill-opacity="0.7">Kapda demo · {n} of {IMAGES_PER_PRODUCT}</text>'
        "</svg>"
    )
    return svg.encode()
