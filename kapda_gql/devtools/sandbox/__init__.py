"""A local, in-memory stand-in for the Razorpay API, for development and tests.

It speaks enough of Razorpay's REST API (``/v1``) for the official SDK to work
against it unchanged, plus ``/sandbox`` routes that play the customer, the bank
and the test author. The pieces:

- ``state``: the state machine (orders, payments, refunds, fault knobs);
- ``entities``: the entities' shapes and Razorpay's input checks;
- ``webhooks``: events and their delivery, retried with backoff as Razorpay does;
- ``app``: the HTTP app over a state;
- ``server``: the app served on a thread (``SandboxServer``).
"""
