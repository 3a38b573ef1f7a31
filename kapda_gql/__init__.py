"""Kapda Co. marketplace backend: GraphQL API over PostgreSQL with Razorpay payments."""

__version__ = "0.1.0"
