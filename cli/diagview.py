"""Printing diagnostics: `file:line:col: error: summary`, the user's own line, a caret, detail."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from nubes.engine.diag import Diagnostic, Severity
from nubes.engine.files import InputFileError, read_regular


@lru_cache(maxsize=32)
def _lines(file: str) -> list[str]:
    try:
        return read_regular(Path(file), 64 * 1024 * 1024).splitlines()
    except InputFileError:
        return []


# a value written beside a key that names a secret, and the password in a URL: never echoed back
# (masked with as many characters, so the caret still points where it did)
_SECRET_VALUE = re.compile(
    r"(?i)\b([a-z_]*(?:pass|secret|token|auth|credential|private|api_?key|access_key|dsn"
    r"|conn_?str)[a-z_]*\s*:\s*)('[^']*'|\"[^\"]*\"|[^,}\s]+)"
)
_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+:)([^@\s]+)@")


def masked_line(text: str) -> str:
    text = _SECRET_VALUE.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + "@", text)


def print_diagnostics(console: Console, diags: Iterable[Diagnostic], as_json: bool = False) -> None:
    # one expression failing in each of a thousand instances is one problem, said once
    counts: dict[tuple[object, ...], int] = {}
    unique: list[Diagnostic] = []
    for d in diags:
        key = (d.severity, d.summary, d.detail, d.where)
        if key not in counts:
            counts[key] = 0
            unique.append(d)
        counts[key] += 1
    for d in unique:
        if as_json:
            console.print_json(json.dumps({"type": "diagnostic", **d.to_json()}))
            continue
        color = "red" if d.severity is Severity.ERROR else "yellow"
        where = f"{d.where}: " if d.where else ""
        again = counts[(d.severity, d.summary, d.detail, d.where)] - 1
        more = f" (and {again:,} more like it)" if again else ""
        console.print(
            f"{escape(where)}[bold {color}]{d.severity}:[/] {escape(d.summary)}{escape(more)}"
        )
        if d.where is not None:
            lines = _lines(d.where.file)
            if 0 < d.where.line <= len(lines):
                text = masked_line(lines[d.where.line - 1])
                column = d.where.column
                if column > 160:  # show the part of a long line around the column
                    text, column = "…" + text[column - 80 :], 81
                if len(text) > 200:
                    text = text[:200] + "…"
                number = f"{d.where.line:>4}"
                console.print(f"  {number} | {escape(text)}", highlight=False)
                console.print(f"  {' ' * len(number)} | {' ' * (column - 1)}[{color}]^[/]")
        if d.detail:
            for line in d.detail.splitlines():
                console.print(f"  {escape(line)}", highlight=False)
