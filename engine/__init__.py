"""The nubes reconciler core.

Stacks are loaded (`nubes.engine.stack`), their expressions evaluated (`.lang`), expanded into a
graph of resource instances (`.graph`), diffed against refreshed state (`.plan`) and carried out
(`.apply`). Problems a user can fix are `Diagnostic` values, returned beside results; the front
ends (`nubes.cli`, `nubes.server`) print and serve them. Nothing in this package opens a socket or
a terminal itself.
"""
