"""The stock ledger: every change of a variant's stock is a row of ``stock_movements``.

Convention (kapda_gql.domain.ledger holds the rules; the database's CHECK repeats them):

- ``delta`` is the signed change of **on-hand** units, on hand being ``Variant.stock + held``
  (units in the warehouse not yet sold). For every variant at every moment
  ``on hand = sum(delta)``, and ``stock_after`` is that sum right after the movement.
- ``held_delta`` is the signed change of units held for checkout sessions. ``HOLD`` and ``RELEASE``
  move units between sellable and held: ``delta`` 0, ``held_delta`` ±units. So a hold that lapsed
  and was not swept yet changes nothing in the ledger (no units left the warehouse), and the sum
  stays exact at every moment; its ``RELEASE`` (or its ``SALE``) comes when someone acts on it.
- ``SALE`` has ``delta`` -units, and ``held_delta`` -units when the units came from the session's
  hold, 0 when they came from sellable stock. ``INITIAL`` ≥ 0, ``SET`` any sign (the difference to
  what was sellable, with the note), ``CANCEL_RESTOCK``/``RETURN_RESTOCK`` > 0.

A movement is written in the same transaction as the change, in one of two ways:

- ``movements.record(tx, [Movement(...)])``: one INSERT of any number of movements;
- folded into the statement that changes the stock, so hot paths keep their statement counts:
  ``movements.insert_from("changed", ...)`` is an ``INSERT ... SELECT`` from a CTE holding the
  ``UPDATE ... RETURNING`` rows (see its docstring for the whole statement).

The table is append-only: a trigger refuses UPDATE and DELETE. ``kapda-gql reconcile`` proves the
sums (kapda_gql.reconcile); ``stockMovements`` shows them (kapda_gql.stock.service).
"""
