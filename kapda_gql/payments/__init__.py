"""Payments: the Razorpay gateway adapter and a local Razorpay-compatible sandbox."""

from kapda_gql.payments.gateway import GatewayOrder, GatewayPayment, GatewayRefund, PaymentGateway

__all__ = ["GatewayOrder", "GatewayPayment", "GatewayRefund", "PaymentGateway"]
