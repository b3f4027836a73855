"""Human-readable views of :func:`~robustcot.analysis.metrics.variant_metrics`: a rich table for the
terminal and ``summary.md`` for the run directory, built from the same formatted cells so they agree.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rich.table import Table

from robustcot.analysis.metrics import QUADRANTS, variant_metrics

MISSING = "–"

#: Left-aligned columns; every other column holds a number.
_TEXT_HEADERS = {"benchmark", "variant", "abstain"}

#: Short headers for the quadrant shares (✓ correct, ✗ incorrect).
_QUADRANT_HEADERS = {
    "consistent_correct": "cons ✓",
    "consistent_incorrect": "cons ✗",
    "inconsistent_correct": "incons ✓",
    "inconsistent_incorrect": "incons ✗",
}


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_pct(value: float | None) -> str:
    """A share as a percentage with one decimal, or the dash for a missing value."""
    return MISSING if _is_missing(value) else f"{100 * value:.1f}%"


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A plain number with ``digits`` decimals, or the dash for a missing value."""
    return MISSING if _is_missing(value) else f"{value:.{digits}f}"


def _accuracy_cell(row: pd.Series) -> str:
    if _is_missing(row["accuracy"]):
        return MISSING
    return f"{fmt_pct(row['accuracy'])} [{100 * row['acc_low']:.1f}, {100 * row['acc_high']:.1f}]"


def _with_benchmark(metrics: pd.DataFrame) -> bool:
    return metrics["benchmark"].nunique(dropna=False) > 1


def _cells(metrics: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted rows; the benchmark column appears only when there is more than one."""
    with_benchmark = _with_benchmark(metrics)
    headers = [
        *(["benchmark"] if with_benchmark else []),
        "variant", "abstain", "n", "accuracy [95% CI]", "flip rate", "flip → wrong",
        *(_QUADRANT_HEADERS[q] for q in QUADRANTS), "undecided",
        "mean H", "mean P(correct)", "AUROC P_base", "AUROC −H", "errors", "unparsed",
    ]
    rows = []
    for _, row in metrics.iterrows():
        rows.append([
            *([MISSING if _is_missing(row["benchmark"]) else str(row["benchmark"])] if with_benchmark else []),
            str(row["variant"]),
            "yes" if row["abstain"] else "no",
            str(row["n"]),
            _accuracy_cell(row),
            fmt_pct(row["flip_rate"]),
            fmt_pct(row["flip_to_wrong"]),
            *(fmt_pct(row[f"share_{q}"]) for q in QUADRANTS),
            fmt_pct(row["share_undecided"]),
            fmt_num(row["mean_entropy"]),
            fmt_num(row["mean_p_correct"]),
            fmt_num(row["auroc_p_base"]),
            fmt_num(row["auroc_neg_entropy"]),
            str(row["n_errors"]),
            str(row["n_unparsed"]),
        ])
    return headers, rows


def _notes(metrics: pd.DataFrame) -> list[str]:
    """Why a flip rate or AUROC is missing, one line per group that has a reason."""
    with_benchmark = _with_benchmark(metrics)
    notes = []
    for _, row in metrics.iterrows():
        reasons = [f"{label}: {row[col]}" for label, col in (("flip", "flip_note"), ("AUROC", "auroc_note"))
                   if row[col] and row[col] != "reference variant"]
        if reasons:
            where = f"{row['benchmark']}/{row['variant']}" if with_benchmark else str(row["variant"])
            abstain = "abstain" if row["abstain"] else "no abstain"
            notes.append(f"{where} ({abstain}): " + "; ".join(reasons))
    return notes


#: Columns kept in the terminal table; the rest stay in summary.md, which has no width limit.
TERMINAL_HEADERS = (
    "benchmark", "variant", "abstain", "n", "accuracy [95% CI]", "flip rate",
    *(_QUADRANT_HEADERS[q] for q in QUADRANTS), "mean H", "mean P(correct)", "AUROC P_base", "errors", "unparsed",
)


def summary_table(metrics: pd.DataFrame, title: str, *, full: bool = False) -> Table:
    """The metrics as a rich table for the terminal (the key columns unless ``full``)."""
    headers, rows = _cells(metrics)
    keep = [i for i, h in enumerate(headers) if full or h in TERMINAL_HEADERS]
    table = Table(title=title)
    for i in keep:
        header = headers[i]
        table.add_column(header, justify="left" if header in _TEXT_HEADERS else "right", no_wrap=header in ("variant", "accuracy [95% CI]"))
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


def summary_markdown(metrics: pd.DataFrame, *, header: dict[str, str]) -> str:
    """``summary.md``: header key/values (model, benchmark, template version...), the table, notes."""
    lines = ["# robustcot summary", ""]
    lines += [f"- **{_md_escape(k)}**: {_md_escape(str(v))}" for k, v in header.items()]
    lines.append("")
    if metrics.empty:
        lines.append("No records.")
        return "\n".join(lines) + "\n"
    headers, rows = _cells(metrics)
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join("---" if h in _TEXT_HEADERS else "---:" for h in headers) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    notes = _notes(metrics)
    if notes:
        lines += ["", "Notes:", ""] + [f"- {_md_escape(n)}" for n in notes]
    return "\n".join(lines) + "\n"


def write_summary(records: pd.DataFrame, path: Path, header: dict[str, str]) -> pd.DataFrame:
    """Compute :func:`variant_metrics`, write them as Markdown to ``path`` (the run's
    ``summary.md``) and return them so the caller can print or plot without recomputing."""
    metrics = variant_metrics(records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary_markdown(metrics, header=header), encoding="utf-8")
    return metrics
