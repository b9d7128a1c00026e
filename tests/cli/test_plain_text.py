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


def test_escape_and_values_match_rich_and_json() -> None:
    """The quick paths (nothing to escape; a string quoted without json.dumps' dispatch) give
    exactly what rich's escape and json.dumps give."""
    import json

    from nubes.cli.render import _compact
    from nubes.cli.render import escape as quick_escape

    chooser = random.Random(11)
    alphabet = "ab[]/\\#@=: é\u2028\"'"
    texts = ["".join(chooser.choice(alphabet) for _ in range(chooser.randint(0, 12)))
             for _ in range(20_000)]  # fmt: skip
    for text in texts:
        assert quick_escape(text) == escape(text), text
        assert _compact(text) == json.dumps(text), text
    for value in (None, True, False, 0, -3, 2.5, 10**20, [1, "a", None], {"k": [True]}):
        assert _compact(value) == json.dumps(value, separators=(", ", ": ")), value
