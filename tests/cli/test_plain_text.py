"""The plain text of a plan line written to a file or a pipe is exactly what rich's markup
parser would give (tags dropped, escapes undone), computed without it."""

from __future__ import annotations

import random

from rich.errors import MarkupError
from rich.markup import escape
from rich.text import Text

from nubes.cli.render import plain_text


def test_plain_text_matches_richs_markup_parser() -> None:
    lines = [
        "[bold]Plan:[/] 1 to add",
        escape('  + name = "web[0]" [x] \\[y]'),
        "\\\\[bold]two backslashes[/]",
        "\\[not a tag]",
        "[#ff0000]red[/]",
        ":cloud: stays text",
        "",
    ]
    chooser = random.Random(7)
    lines += ["".join(chooser.choice("ab[]/\\#@=: ") for _ in range(chooser.randint(0, 14)))
              for _ in range(20_000)]  # fmt: skip
    compared = 0
    for line in lines:
        try:
            expected = Text.from_markup(line, emoji=False).plain
        except MarkupError:
            continue  # no line nubes writes is malformed markup
        assert plain_text(line) == expected, line
        compared += 1
    assert compared > 10_000
