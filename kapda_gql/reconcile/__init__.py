"""``kapda-gql reconcile``: stock, money and commissions proved from one read-only snapshot.

``checks`` holds every check's SQL (read-only, run in one REPEATABLE READ READ ONLY transaction,
taking no locks) and the one question asked of Razorpay; ``report`` prints the table; ``command``
is the CLI's entry. ``kapda-gql reconcile payments`` (settling open sessions from Razorpay) lives in
its own module beside these and is wired by ``command`` too.
"""
