"""Plans: the closed set of actions, the differ, and plan files.

Guarantees: a plan is computed from the refreshed state and the stack alone; apply carries it out
without re-diffing; a saved plan is refused when the state or stack changed since.
"""

from typing import Any

from nubes.engine.diag import Diagnostics, warning
from nubes.engine.drivers import Drivers
from nubes.engine.plan.differ import PlanOptions, plan
from nubes.engine.plan.model import Action, Change, Drift, OutputChange, Plan
from nubes.engine.stack.model import Stack
from nubes.engine.state.backend import Backend


def plan_from_backend(
    stack: Stack,
    variables: dict[str, Any],
    backend: Backend,
    drivers: Drivers,
    options: PlanOptions | None = None,
    recover: bool = True,
) -> tuple[Plan | None, Diagnostics]:
    """Plan against what a backend holds: its state, and first what its journal says an
    interrupted apply left unfinished. Every command that plans goes through here, holding the
    state lock (shared at least), so the journal it recovers is never a live apply's.

    `recover=False` is a plan taken without the lock: it leaves the journal alone and says so."""
    intents = backend.journal.intents()
    if recover:
        return plan(stack, variables, backend.read(), drivers, options or PlanOptions(), intents)
    result, diags = plan(stack, variables, backend.read(), drivers, options or PlanOptions())
    if intents:
        diags.add(
            warning(
                f"the journal holds {len(intents)} unfinished operation(s) of an apply that is "
                "running or was interrupted",
                "this plan was made without the state lock (--lock=false), so it does not "
                "resolve them and may propose what they already did; plan with the lock to "
                "see their outcome",
            )
        )
    return result, diags


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
