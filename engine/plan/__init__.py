"""Plans: the closed set of actions, the differ, and plan files.

Guarantees: a plan is computed from the refreshed state and the stack alone; apply carries it out
without re-diffing; a saved plan is refused when the state or stack changed since.
"""

from typing import Any

from engine.diag import Diagnostics
from engine.drivers import Drivers
from engine.plan.differ import PlanOptions, plan
from engine.plan.model import Action, Change, Drift, OutputChange, Plan
from engine.stack.model import Stack
from engine.state.local import LocalBackend


def plan_from_backend(
    stack: Stack,
    variables: dict[str, Any],
    backend: LocalBackend,
    drivers: Drivers,
    options: PlanOptions | None = None,
) -> tuple[Plan | None, Diagnostics]:
    """Plan against what a backend holds: its state, and first what its journal says an
    interrupted apply left unfinished. Every command that plans goes through here."""
    return plan(
        stack,
        variables,
        backend.read(),
        drivers,
        options or PlanOptions(),
        backend.journal.intents(),
    )


__all__ = [
    "Action",
    "Change",
    "Drift",
    "OutputChange",
    "Plan",
    "PlanOptions",
    "plan",
    "plan_from_backend",
]
