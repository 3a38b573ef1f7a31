"""The demo catalog behind `kapda-gql serve --demo`: users, designers and ~30 products, loaded once.

Everything goes through the real services (accounts, catalog, review), so the demo obeys the
same validation and leaves the same audit trail as real use. Loading is idempotent per
product: each demo product is recognised by its first SKU, so a second run creates nothing
and an interrupted run is completed by the next one.

Longer than ~400 lines for a stated reason: most of it is the demo catalog itself (its products as
data), not logic.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from kapda_gql.auth import services as auth
from kapda_gql.catalog import manage
from kapda_gql.catalog import model as catalog
from kapda_gql.db.models import Designer, Variant
from kapda_gql.domain.enums import ProductStatus, Role
from kapda_gql.domain.policy import Actor
from kapda_gql.runtime import Runtime

log = logging.getLogger("kapda_gql.devtools.demo")

ADMIN_PASSWORD = "kapda-demo-admin"
CUSTOMER_PASSWORD = "kapda-demo-customer"
DESIGNER_PASSWORD = "kapda-demo-designer"
SKU_PREFIX = "DEMO"
#: Where `serve` listens unless told otherwise: demo pictures are served by the service itself
#: (devtools/media.py), so their URLs name its host and port.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
MEDIA_PATH = "/media/demo"
IMAGES_PER_PRODUCT = 3


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: Role
    email: str
    password: str
    name: str


ADMIN = DemoLogin(Role.ADMIN, "admin@kapda.test", ADMIN_PASSWORD, "Kapda Admin")
CUSTOMER = DemoLogin(Role.CUSTOMER, "customer@kapda.test", CUSTOMER_PASSWORD, "Priya Sharma")
# Keyed by the short name the catalog below uses; designer@kapda.test is the one to try first.
DESIGNERS: dict[str, DemoLogin] = {
    "neel": DemoLogin(Role.DESIGNER, "designer@kapda.test", DESIGNER_PASSWORD, "Neel Studio"),
    "bunkar": DemoLogin(Role.DESIGNER, "bunkar@kapda.test", DESIGNER_PASSWORD, "Bunkar Handloom Collective"),
    "ikat": DemoLogin(Role.DESIGNER, "ikat@kapda.test", DESIGNER_PASSWORD, "Pochampally Ikat House"),
    "resham": DemoLogin(Role.DESIGNER, "resham@kapda.test", DESIGNER_PASSWORD, "Resham Atelier"),
}
LOGINS: tuple[DemoLogin, ...] = (ADMIN, CUSTOMER, *DESIGNERS.values())

APPAREL = ("XS", "S", "M", "L", "XL", "XXL")
TAILORED = ("S", "M", "L", "XL")
FREE_SIZE = ("Free Size",)
# Cycled over every variant: mostly healthy stock, the odd size sold out, a few nearly gone.
STOCK_PATTERN = (12, 7, 18, 3, 9, 0, 14, 5, 22, 8, 1, 11, 6, 16, 4, 10)


@dataclass(frozen=True, slots=True)
class DemoProduct:
    designer: str
    title: str
    category: str
    rupees: int
    description: str
    colors: tuple[str, ...]
    sizes: tuple[str, ...] = APPAREL
    status: ProductStatus = ProductStatus.APPROVED
    rejection_reason: str | None = None
    sold_out: bool = False
    # Size or colour -> extra rupees for that variant (a variant price override).
    premiums: tuple[tuple[str, int], ...] = ()


CATALOG: tuple[DemoProduct, ...] = (
    # --- Neel Studio: block print, natural dyes and khadi from Bagru and Sanganer --------------
    DemoProduct(
        "neel",
        "Indigo Dabu Block-Print Kurta",
        "Kurta",
        1899,
        "Hand block-printed with dabu mud-resist and dyed in natural indigo in Bagru, Rajasthan. "
        "Straight cut, mandarin collar and side slits in soft mulmul cotton.",
        ("Indigo",),
        premiums=(("XXL", 200),),
    ),
    DemoProduct(
        "neel",
        "Sanganeri Floral Anarkali Kurta",
        "Kurta",
        2499,
        "A flared anarkali in hand block-printed Sanganeri florals on breathable cotton cambric, "
        "finished with a hand-rolled hem.",
        ("Ivory", "Rose"),
    ),
    DemoProduct(
        "neel",
        "Hand-Spun Khadi Band-Collar Shirt",
        "Shirt",
        1599,
        "Hand-spun, handwoven khadi cotton that softens with every wash. Band collar, "
        "coconut-shell buttons and a relaxed fit for Indian summers.",
        ("White", "Sage"),
    ),
    DemoProduct(
        "neel",
        "Ajrakh Printed Mul Dress",
        "Dress",
        2899,
        "Ajrakh resist-printed in Kutch with madder and indigo over sixteen stages, cut into a "
        "tiered midi dress with pockets.",
        ("Madder Red", "Indigo"),
    ),
    DemoProduct(
        "neel",
        "Kalamkari Cotton Dupatta",
        "Dupatta",
        999,
        "Pen-drawn kalamkari from Srikalahasti on light cotton, with hand-painted vegetable "
        "dyes and a tasselled edge.",
        ("Mustard", "Rust"),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "neel",
        "Indigo Shibori Stole",
        "Stole",
        799,
        "Tied, folded and dipped by hand in an indigo vat: no two shibori stoles are alike.",
        ("Indigo",),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "neel",
        "Khadi Nehru Jacket",
        "Jacket",
        3499,
        "A classic Nehru jacket in textured khadi with a bandhgala collar and welt pockets, "
        "lined in block-printed cotton.",
        ("Charcoal", "Beige"),
        status=ProductStatus.PENDING_REVIEW,
    ),
    # --- Bunkar Handloom Collective: Varanasi, Chanderi and Bengal weaves -----------------------
    DemoProduct(
        "bunkar",
        "Chanderi Silk-Cotton Saree with Zari Border",
        "Saree",
        7499,
        "Sheer chanderi silk-cotton woven on a pit loom in Madhya Pradesh, with a fine zari "
        "border and buta motifs. Comes with an unstitched blouse piece.",
        ("Peach", "Teal"),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "bunkar",
        "Banarasi Katan Silk Saree",
        "Saree",
        18999,
        "Pure katan silk from Varanasi with a kadhua-woven jaal and heavy zari pallu, "
        "about three weeks on the loom.",
        ("Crimson", "Emerald"),
        sizes=FREE_SIZE,
        premiums=(("Emerald", 1500),),
    ),
    DemoProduct(
        "bunkar",
        "Jamdani Handloom Cotton Saree",
        "Saree",
        5299,
        "Dhakai jamdani woven in Phulia with the motifs inlaid by hand, weft by weft, on a "
        "fine count cotton ground.",
        ("White", "Grey"),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "bunkar",
        "Maheshwari Silk Dupatta",
        "Dupatta",
        1799,
        "Lustrous silk-cotton Maheshwari weave from the banks of the Narmada, with a reversible zari border.",
        ("Gold", "Magenta"),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "bunkar",
        "Chanderi A-Line Kurta",
        "Kurta",
        2299,
        "Handwoven chanderi with tiny gold butis, cut A-line with a cotton lining and a keyhole neckline.",
        ("Powder Blue", "Mint"),
    ),
    DemoProduct(
        "bunkar",
        "Tussar Silk Straight Kurta",
        "Kurta",
        3899,
        "Wild tussar silk from Bhagalpur in its natural honey tone, with a hand-stitched kantha placket.",
        ("Natural",),
        premiums=(("XL", 300), ("XXL", 300)),
    ),
    DemoProduct(
        "bunkar",
        "Kota Doria Summer Saree",
        "Saree",
        3299,
        "Airy Kota doria with its signature khat checks, woven in Kaithoon, Rajasthan. "
        "The lightest saree you will own.",
        ("Lemon", "Pink"),
        sizes=FREE_SIZE,
        sold_out=True,
    ),
    DemoProduct(
        "bunkar",
        "Linen Jamdani Shirt",
        "Shirt",
        2699,
        "Handloom linen with a subtle jamdani stripe, a camp collar and a boxy fit.",
        ("White", "Navy"),
        status=ProductStatus.DRAFT,
    ),
    DemoProduct(
        "bunkar",
        "Handloom Cotton Stole with Tassels",
        "Stole",
        899,
        "Soft handloom cotton in an undyed ecru, finished with hand-knotted tassels.",
        ("Ecru",),
        sizes=FREE_SIZE,
    ),
    # --- Pochampally Ikat House: Telangana and Odisha ikat -------------------------------------
    DemoProduct(
        "ikat",
        "Pochampally Double Ikat Silk Saree",
        "Saree",
        14499,
        "Double ikat from Pochampally: warp and weft are both tie-dyed before weaving so the "
        "geometric pattern meets exactly on the loom.",
        ("Maroon", "Indigo"),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "ikat",
        "Ikat Cotton Kurta",
        "Kurta",
        1999,
        "Single ikat handloom cotton in a straight silhouette with a notched neck and three-quarter sleeves.",
        ("Black", "Red"),
    ),
    DemoProduct(
        "ikat",
        "Ikat Shirt Dress",
        "Dress",
        2599,
        "A belted shirt dress in handwoven ikat cotton with a hidden placket and side pockets.",
        ("Blue",),
    ),
    DemoProduct(
        "ikat",
        "Sambalpuri Ikat Dupatta",
        "Dupatta",
        1299,
        "Bandha-woven in Sambalpur, Odisha, with the traditional shankha and phula motifs.",
        ("Red", "Black"),
        sizes=FREE_SIZE,
    ),
    DemoProduct(
        "ikat",
        "Ikat Quilted Jacket",
        "Jacket",
        4299,
        "Hand-quilted reversible jacket: ikat cotton on one side, solid khadi on the other.",
        ("Indigo", "Mustard"),
    ),
    DemoProduct(
        "ikat",
        "Telia Rumal Ikat Stole",
        "Stole",
        1499,
        "Telia rumal double ikat, the oil-treated weave of Puttapaka, in its classic red, black and white.",
        ("Red",),
        sizes=FREE_SIZE,
        status=ProductStatus.PENDING_REVIEW,
    ),
    DemoProduct(
        "ikat",
        "Ikat Mandarin-Collar Shirt",
        "Shirt",
        1799,
        "A slim mandarin-collar shirt in fine ikat cotton.",
        ("Grey", "Indigo"),
        status=ProductStatus.REJECTED,
        rejection_reason="The product photos carry another store's watermark. Please upload your own "
        "photographs and submit again.",
    ),
    # --- Resham Atelier: occasion wear and hand embroidery --------------------------------------
    DemoProduct(
        "resham",
        "Hand-Embroidered Chanderi Lehenga Set",
        "Lehenga",
        24999,
        "A chanderi lehenga with resham and zari hand embroidery, a matching blouse and a sheer "
        "organza dupatta. Made to order in six weeks.",
        ("Blush", "Ivory"),
        sizes=TAILORED,
    ),
    DemoProduct(
        "resham",
        "Gota Patti Georgette Lehenga",
        "Lehenga",
        19499,
        "Flowing georgette lehenga with Jaipur gota patti work along a twelve-panel skirt.",
        ("Mint", "Rani Pink"),
        sizes=TAILORED,
        premiums=(("XL", 1000),),
    ),
    DemoProduct(
        "resham",
        "Bandhani Silk Lehenga",
        "Lehenga",
        16999,
        "Gajji silk tie-dyed in fine bandhani dots by artisans in Bhuj, with a mirror-work waistband.",
        ("Red",),
        sizes=TAILORED,
        sold_out=True,
    ),
    DemoProduct(
        "resham",
        "Zardozi Velvet Bandhgala Jacket",
        "Jacket",
        12999,
        "Silk velvet bandhgala with hand zardozi on the collar and cuffs, for weddings and winter evenings.",
        ("Black", "Wine"),
    ),
    DemoProduct(
        "resham",
        "Mirror-Work Cotton Kurta",
        "Kurta",
        3299,
        "Kutchi abhla mirror work hand-stitched on a yoke of soft cotton, with tassel ties.",
        ("Yellow", "Green"),
    ),
    DemoProduct(
        "resham",
        "Lucknowi Chikankari Georgette Kurta",
        "Kurta",
        2799,
        "Hand chikankari from Lucknow, shadow and phanda stitches on georgette, with a cotton slip.",
        ("White", "Pastel Pink"),
        premiums=(("XXL", 250),),
    ),
    DemoProduct(
        "resham",
        "Phulkari Embroidered Dupatta",
        "Dupatta",
        2199,
        "Punjabi phulkari darned in silk floss on khaddar, the bagh pattern covering the ground.",
        ("Orange", "Pink"),
        sizes=FREE_SIZE,
    ),
)


def _code(value: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "", value.upper()) or "X"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _sku(number: int, size: str, color: str) -> str:
    size_code = "FS" if size == FREE_SIZE[0] else _code(size)
    return f"{SKU_PREFIX}-{number:02d}-{size_code}-{_code(color)}"


def image_urls(public_url: str, title: str) -> list[str]:
    """Absolute URLs of a demo product's pictures on the service at ``public_url``."""
    base = public_url.rstrip("/") + MEDIA_PATH
    return [f"{base}/{slug(title)}-{i}.svg" for i in range(1, IMAGES_PER_PRODUCT + 1)]


def _spec(number: int, item: DemoProduct, stock_offset: int, public_url: str) -> catalog.ProductSpec:
    premiums = dict(item.premiums)
    variants: list[catalog.VariantSpec] = []
    for color in item.colors:
        for size in item.sizes:
            extra = premiums.get(size, premiums.get(color))
            stock = 0 if item.sold_out else STOCK_PATTERN[(stock_offset + len(variants)) % len(STOCK_PATTERN)]
            variants.append(
                catalog.VariantSpec(
                    sku=_sku(number, size, color),
                    size=size,
                    color=color,
                    price=(item.rupees + extra) * 100 if extra is not None else None,
                    stock=stock,
                )
            )
    return catalog.ProductSpec(
        title=item.title,
        description=item.description,
        category=item.category,
        price=item.rupees * 100,
        images=image_urls(public_url, item.title),
        variants=variants,
    )


async def _ensure_accounts(runtime: Runtime) -> dict[str, int]:
    """Creates the missing demo users; returns designer ids by the catalog's designer keys."""
    results = await asyncio.gather(
        *(
            auth.ensure_user(
                runtime.db.uow(), email=login.email, password=login.password, name=login.name, role=login.role
            )
            for login in LOGINS
        )
    )
    for login, (user, _) in zip(LOGINS, results, strict=True):
        if user.role != login.role.value:
            log.warning("demo user %s already exists as %s, not %s", login.email, user.role, login.role.value)
    user_ids = {key: results[LOGINS.index(login)][0].id for key, login in DESIGNERS.items()}
    async with runtime.db.uow().orm(read=True) as tx:
        rows = (
            await tx.session.execute(
                select(Designer.user_id, Designer.id).where(Designer.user_id.in_(user_ids.values()))
            )
        ).all()
    designer_by_user = {user_id: designer_id for user_id, designer_id in rows}
    missing = [DESIGNERS[key].email for key, uid in user_ids.items() if uid not in designer_by_user]
    if missing:
        raise RuntimeError(f"demo users without a designer profile: {', '.join(missing)}")
    return {key: designer_by_user[uid] for key, uid in user_ids.items()}


async def _existing_skus(runtime: Runtime, skus: Sequence[str]) -> set[str]:
    async with runtime.db.uow().orm(read=True) as tx:
        return set((await tx.session.execute(select(Variant.sku).where(Variant.sku.in_(skus)))).scalars())


async def _create(
    runtime: Runtime, actor: Actor, designer_id: int, item: DemoProduct, spec: catalog.ProductSpec
) -> None:
    product = await manage.create_product(runtime.db.uow(), actor, spec, designer_id=designer_id)
    if item.status is ProductStatus.DRAFT:
        return
    await manage.submit_product(runtime.db.uow(), actor, product.id)
    if item.status is ProductStatus.APPROVED:
        await manage.review_product(runtime.db.uow(), actor, product.id, catalog.ReviewDecision.APPROVE, None)
    elif item.status is ProductStatus.REJECTED:
        await manage.review_product(
            runtime.db.uow(), actor, product.id, catalog.ReviewDecision.REJECT, item.rejection_reason
        )


async def load(runtime: Runtime, public_url: str = DEFAULT_PUBLIC_URL) -> list[DemoLogin]:
    """Loads what is missing of the demo (nothing on a second run) and returns its logins.

    ``public_url`` is the service's own address, which its pictures' URLs name.
    """
    if runtime.settings.production:
        # The demo admin's password is printed in the docs: it must never guard real data.
        raise RuntimeError("refusing to load the demo (users with published passwords) in production")
    designers = await _ensure_accounts(runtime)
    actor = Actor.system_actor("demo")
    specs: list[catalog.ProductSpec] = []
    offset = 0
    for number, item in enumerate(CATALOG, start=1):
        specs.append(_spec(number, item, offset, public_url))
        offset += 5  # shifts the stock pattern so products do not all look alike
    present = await _existing_skus(runtime, [spec.variants[0].sku for spec in specs])
    created = 0
    # One after another, so "newest first" lists the catalog in a stable order.
    for item, spec in zip(CATALOG, specs, strict=True):
        if spec.variants[0].sku in present:
            continue
        await _create(runtime, actor, designers[item.designer], item, spec)
        created += 1
    log.info("demo catalog: %d product(s) created, %d already there", created, len(CATALOG) - created)
    return list(LOGINS)


def describe(logins: list[DemoLogin]) -> str:
    """The block `serve --demo` prints: who can log in, and how."""
    width = max((len(login.email) for login in logins), default=0)
    lines = ["Demo data is loaded. Log in as (demo passwords, for local use only):"]
    for login in logins:
        lines.append(
            f"  {login.role.value.title():<9} {login.email:<{width}}  {login.password:<20}  {login.name}"
        )
    example = next(
        (login for login in logins if login.role is Role.CUSTOMER), logins[0] if logins else CUSTOMER
    )
    lines.append(
        "Get a token with the `login` mutation, e.g. mutation { login(input: "
        f'{{email: "{example.email}", password: "{example.password}"}}) {{ token }} }}, '
        "then send `Authorization: Bearer <token>`."
    )
    return "\n".join(lines)
