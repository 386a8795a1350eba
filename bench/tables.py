"""Plain-text output: Markdown tables, number formats and the raw CSV. No figure is typed by hand."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import astuple, fields

from bench.results import Sample

FAILED = "FAILED"
MISSING = "-"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A GitHub Markdown table, columns padded to line up. `align` has one of l/r/c per column (l if absent)."""
    body = [[str(cell).replace("|", "\\|").replace("\n", " ") for cell in row] for row in rows]
    for row in body:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, the table {len(headers)} columns: {row!r}")
    widths = [max(3, len(header), *(len(row[i]) for row in body)) for i, header in enumerate(headers)]
    kinds = (align or "").ljust(len(headers), "l")

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if kind == "r" else cell.center(width) if kind == "c" else cell.ljust(width)
            for cell, width, kind in zip(cells, widths, kinds, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    def rule(width: int, kind: str) -> str:
        if kind == "r":
            return "-" * (width - 1) + ":"
        if kind == "c":
            return ":" + "-" * (width - 2) + ":"
        return "-" * width

    separator = "| " + " | ".join(rule(w, k) for w, k in zip(widths, kinds, strict=True)) + " |"
    return "\n".join([line(headers), separator, *(line(row) for row in body)]) + "\n"


def seconds(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def millis(value: float | None) -> str:
    return MISSING if value is None else f"{value * 1000:.2f}"


def times(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}x"


def count(value: float | None) -> str:
    if value is None:
        return MISSING
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


CSV_COLUMNS = [f.name for f in fields(Sample)]


def samples_csv(samples: Iterable[Sample], failures: Iterable[tuple[str, str]] = ()) -> str:
    """One row per timed sample; a part that produced none is a row with ok=false and the reason."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for sample in samples:
        row = list(astuple(sample))
        row[CSV_COLUMNS.index("seconds")] = f"{sample.seconds:.6f}"
        row[CSV_COLUMNS.index("ok")] = "true" if sample.ok else "false"
        writer.writerow(["" if cell is None else cell for cell in row])
    for part, reason in failures:
        empty = dict.fromkeys(CSV_COLUMNS, "")
        empty.update({"part": part, "variant": FAILED, "ok": "false", "note": reason})
        writer.writerow([empty[column] for column in CSV_COLUMNS])
    return out.getvalue()
