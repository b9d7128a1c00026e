"""The nubes reconciler core.

Stacks are loaded (`engine.stack`), their expressions evaluated (`engine.lang`), expanded into a
graph of resource instances (`engine.graph`), diffed against refreshed state (`engine.plan`) and
carried out (`engine.apply`). Problems a user can fix are `Diagnostic` values, returned beside
results; only `engine.cli` prints. Nothing in this package opens a socket or a terminal itself.
"""

__version__ = "0.1.0"
