"""What one running service holds: settings, database, payment gateway. Built by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kapda_gql.config import Settings
from kapda_gql.db.uow import Database
from kapda_gql.payments.gateway import PaymentGateway


@dataclass
class Runtime:
    settings: Settings
    db: Database
    gateway: PaymentGateway
    # Optional collaborators added by the hardening layer (rate limiter, metrics) without new fields here.
    extras: dict[str, Any] = field(default_factory=dict)
