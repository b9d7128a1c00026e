"""Apply: the executor that carries out a plan, its operation order, and progress hooks.

Guarantees: operations run in dependency order, up to `parallelism` at once; a failure skips only
what depends on it; state is written after every completed operation.
"""

from nubes.engine.apply.events import Event, EventHooks, event
from nubes.engine.apply.executor import ApplyOptions, ApplyResult, apply
from nubes.engine.apply.hooks import Hooks, NoHooks, Op, OpKind

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "Event",
    "EventHooks",
    "Hooks",
    "NoHooks",
    "Op",
    "OpKind",
    "apply",
    "event",
]
