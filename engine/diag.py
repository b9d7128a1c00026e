"""Diagnostics: problems the user can fix, with where they were written.

Diagnostics are collected and returned beside a result (`result, diags`), never raised through
the user. Only the CLI (and later the server) renders them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class SourceRange:
    """A position in a source file; line and column count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    summary: str
    detail: str = ""
    where: SourceRange | None = None
    address: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"severity": str(self.severity), "summary": self.summary}
        if self.detail:
            out["detail"] = self.detail
        if self.where is not None:
            out["file"] = self.where.file
            out["line"] = self.where.line
            out["column"] = self.where.column
        if self.address is not None:
            out["address"] = self.address
        return out


def error(
    summary: str, detail: str = "", where: SourceRange | None = None, address: str | None = None
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, summary, detail, where, address)


def warning(
    summary: str, detail: str = "", where: SourceRange | None = None, address: str | None = None
) -> Diagnostic:
    return Diagnostic(Severity.WARNING, summary, detail, where, address)


@dataclass
class Diagnostics:
    """An ordered collection of diagnostics."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        self.items.append(diag)

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        self.items.extend(diags)

    def error(
        self,
        summary: str,
        detail: str = "",
        where: SourceRange | None = None,
        address: str | None = None,
    ) -> None:
        self.items.append(error(summary, detail, where, address))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


class DiagnosticsError(Exception):
    """Carries diagnostics out of deep code to the boundary that returns them."""

    def __init__(self, diags: Iterable[Diagnostic]) -> None:
        self.diags = list(diags)
        super().__init__("; ".join(d.summary for d in self.diags))
