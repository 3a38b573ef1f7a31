"""The GraphQL documents tests send, by what they do."""

from __future__ import annotations

ADD = "mutation($v: ID!, $q: Int!) { addToCart(input: {variantId: $v, quantity: $q}) { itemCount subtotal { amount } } }"

START = """mutation($key: String) { startCheckout(input: {shippingAddress: {name: "Asha Rao", line1: "12 MG Road",
  city: "Bengaluru", state: "Karnataka", postalCode: "560001", phone: "+91 98450 12345"}, idempotencyKey: $key}) {
  id razorpayOrderId razorpayKeyId amount { amount currency } expiresAt
  lines { variantId quantity unitPrice { amount } lineTotal { amount } }
  priceAdjustments { variantId cartPrice { amount } currentPrice { amount } chargedPrice { amount } } } }"""

CHECKOUT = """mutation($c: ID!, $o: String!, $p: String!, $s: String!, $key: String) {
  checkout(input: {checkoutId: $c, razorpayOrderId: $o, razorpayPaymentId: $p, razorpaySignature: $s, idempotencyKey: $key}) {
    id number status paymentStatus total { amount } subtotal { amount }
    items { sku productTitle size color quantity unitPrice { amount } lineTotal { amount } }
    statusHistory { from to } shippingAddress { city postalCode } } }"""

CART = """{ cart { itemCount subtotal { amount }
  items { quantity available variant { id } unitPrice { amount } addedPrice { amount } currentPrice { amount }
          lineTotal { amount } } } }"""

ADD_FULL = """mutation($v: ID!, $q: Int!) { addToCart(input: {variantId: $v, quantity: $q}) {
  itemCount items { quantity variant { id } unitPrice { amount } addedPrice { amount } } } }"""

UPDATE = """mutation($v: ID!, $q: Int!) { updateCartItem(input: {variantId: $v, quantity: $q}) {
  itemCount items { quantity variant { id } } } }"""

REMOVE = "mutation($v: ID!) { removeFromCart(variantId: $v) { itemCount items { quantity variant { id } } } }"

START_WITH = """mutation($a: AddressInput!, $key: String) { startCheckout(input: {shippingAddress: $a, idempotencyKey: $key}) {
  id razorpayOrderId amount { amount currency } lines { variantId quantity unitPrice { amount } }
  priceAdjustments { variantId cartPrice { amount } currentPrice { amount } chargedPrice { amount } } } }"""

PRODUCT_FIELDS = """
  id slug title description category status images inStock createdAt
  price { amount currency formatted }
  designer { id name }
  variants { id sku size color stock inStock price { amount } }
"""

TRANSITION = """mutation($id: ID!, $to: OrderStatus!, $note: String, $tracking: TrackingInput) {
  transitionOrder(input: {orderId: $id, to: $to, note: $note, tracking: $tracking}) {
    id status paymentStatus processingAt shippedAt deliveredAt canceledAt refundedAt
    statusHistory { from to note actor { role name } } } }"""

# What shipping an order takes with it (transitionOrder to SHIPPED).
PARCEL = {"carrier": "Delhivery", "number": "DLV123456789", "url": "https://track.example/DLV123456789"}
