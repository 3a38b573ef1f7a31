"""``kapda-gql reconcile payments``: one round of the Razorpay poll, now (checkout/reconcile.py).

Its own module so that ``cli.py`` (where ``kapda-gql reconcile`` lives) only wires it in.
"""

from __future__ import annotations

import argparse
from typing import Any

from kapda_gql.checkout import reconcile


async def reconcile_payments(runtime: Any, args: argparse.Namespace) -> int:
    """Ask Razorpay about every session worth asking about, whenever it was last asked."""
    del args
    result = await reconcile.reconcile_payments(
        runtime.db.uow, runtime.gateway, every_seconds=0.0, min_age_seconds=0.0
    )
    print(
        f"sessions checked: {result.checked}  orders placed: {result.placed}  refused (refunded): "
        f"{result.refused}  not settled (retry later): {result.failed}  lapsed holds released: {result.released}"
    )
    return 1 if result.failed else 0
