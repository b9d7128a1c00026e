"""Plans: the closed set of actions, the differ, and plan files.

Guarantees: a plan is computed from the refreshed state and the stack alone; apply carries it out
without re-diffing; a saved plan is refused when the state or stack changed since.
"""

from engine.plan.differ import PlanOptions, plan
from engine.plan.model import Action, Change, Drift, OutputChange, Plan

__all__ = ["Action", "Change", "Drift", "OutputChange", "Plan", "PlanOptions", "plan"]
