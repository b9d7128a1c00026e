"""Printing a stack's outputs, with what is sensitive hidden."""

from __future__ import annotations

from typing import Any

from nubes.cli import render
from nubes.cli.session import out_console
from nubes.engine.sensitive import Sensitivity
from nubes.engine.state import OutputState


def shown_outputs(outputs: dict[str, OutputState], hidden: Sensitivity) -> dict[str, OutputState]:
    return {k: OutputState(v.value, hidden.output(k, v.sensitive)) for k, v in outputs.items()}


def print_outputs(outputs: dict[str, Any]) -> None:
    if not outputs:
        return
    console = out_console()
    console.print("\nOutputs:\n")
    width = max(len(k) for k in outputs)
    for name, o in outputs.items():
        console.print(
            f"{name.ljust(width)} = {render.value_text(o.value, o.sensitive)}",
            highlight=False,
            markup=False,
        )
