"""nubes: a universal cloud API and declarative reconciler.

The one import name the distribution installs. Its packages live in the repository's top-level
folders (`engine/`, `providers/`, `server/`, `cli/`), which this folder links to:

* `nubes.engine` — the reconciler core: stacks, expressions, graph, plan, state, apply. It opens
  no socket and prints nothing.
* `nubes.providers` — the drivers behind one protocol, and what they share.
* `nubes.cli` and `nubes.server` — the front ends: the command line, the REST API.
"""

__version__ = "0.1.0"
