"""Human-readable views of :func:`~robustcot.analysis.metrics.variant_metrics`: a rich table for the
terminal and ``summary.md`` for the run directory, built from the same formatted cells so they agree.

``summary.md`` also gets a *Grouped scores* section (:func:`grouped_tables`) when the records carry
what the benchmarks' own scoring needs — CircularEval / flip group keys, CV-Bench sources, categories —
so a run can be compared with published numbers without a separate report; the study report reuses
the same tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich import box
from rich.table import Table

from robustcot.analysis.metrics import QUADRANTS, variant_metrics
from robustcot.data.adapters.open_ended import NO_LETTERS_NOTE
from robustcot.data.grouped import BREAKDOWN_COLUMNS, BY, breakdown, carried, cvbench_score, group_scores

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
    """Why a flip rate or AUROC is missing, one line per group that has a reason.

    The open-ended AUROC reason is left out: :func:`_open_note` states it once per benchmark.
    """
    with_benchmark = _with_benchmark(metrics)
    notes = []
    for _, row in metrics.iterrows():
        reasons = [f"{label}: {row[col]}" for label, col in (("flip", "flip_note"), ("AUROC", "auroc_note"))
                   if row[col] and row[col] not in ("reference variant", NO_LETTERS_NOTE)]
        if reasons:
            where = f"{row['benchmark']}/{row['variant']}" if with_benchmark else str(row["variant"])
            abstain = "abstain" if row["abstain"] else "no abstain"
            notes.append(f"{where} ({abstain}): " + "; ".join(reasons))
    return notes


#: Columns kept in the terminal table; the rest stay in summary.md, which has no width limit.
def _terminal_cells(metrics: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The few columns that fit an 80-column terminal; summary.md keeps the full set."""
    optional = {
        "benchmark": _with_benchmark(metrics),
        "abst.": bool(len(metrics) and metrics["abstain"].astype(bool).any()),
        "err": bool(len(metrics) and (metrics["n_errors"] > 0).any()),
    }
    columns = [
        ("benchmark", lambda r: MISSING if _is_missing(r["benchmark"]) else str(r["benchmark"])),
        ("variant", lambda r: str(r["variant"])),
        ("abst.", lambda r: "yes" if r["abstain"] else "no"),
        ("n", lambda r: str(r["n"])),
        ("acc. [95% CI]", _accuracy_cell),
        ("flip", lambda r: fmt_pct(r["flip_rate"])),
        ("incons.", lambda r: fmt_pct(r["share_inconsistent_correct"] + r["share_inconsistent_incorrect"])),
        ("H", lambda r: fmt_num(r["mean_entropy"], 2)),
        ("AUROC", lambda r: fmt_num(r["auroc_p_base"], 2)),
        ("unp.", lambda r: str(r["n_unparsed"])),
        ("err", lambda r: str(r["n_errors"])),
    ]
    columns = [(h, f) for h, f in columns if optional.get(h, True)]
    rows = [[f(row) for _, f in columns] for _, row in metrics.iterrows()]
    return [h for h, _ in columns], rows


def summary_table(metrics: pd.DataFrame, title: str, *, full: bool = False) -> Table:
    """The metrics as a rich table for the terminal: key columns, or every column with ``full``.

    ``incons.`` is the share of scored rows whose think concludes another option than the answer,
    ``H`` the mean letter entropy (nats), ``AUROC`` that of P_base for staying correct, ``unp.``
    the answers that could not be parsed (counted wrong).
    """
    headers, rows = _cells(metrics) if full else _terminal_cells(metrics)
    table = Table(
        title=title,
        caption="all columns, quadrants and notes: summary.md",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
    )
    for i, header in enumerate(headers):
        # numbers never wrap; on a narrow terminal the variant name folds instead
        widest = max([len(header), *(len(r[i]) for r in rows)])
        table.add_column(
            header,
            justify="left" if header in (*_TEXT_HEADERS, "abst.") else "right",
            no_wrap=header != "variant",
            min_width=min(widest, 16) if header == "variant" else widest,
        )
    for row in rows:
        table.add_row(*row)
    return table


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_headers: Set[str]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" if h in text_headers else "---:" for h in headers) + "|")
    lines += ["| " + " | ".join(_md_escape(str(c)) for c in row) + " |" for row in rows]
    return lines


def _open_note(metrics: pd.DataFrame) -> list[str]:
    """One line saying how open-ended benchmarks (marked by their AUROC note) are scored, if any."""
    names = sorted({str(b) for b in metrics.loc[metrics["auroc_note"] == NO_LETTERS_NOTE, "benchmark"]})
    if not names:
        return []
    return [
        f"Open-ended ({', '.join(names)}): accuracy is a normalised exact match of the answer text (counts: the "
        "first integer); there are no option letters, so mean H, mean P(correct) and AUROC stay empty; "
        "consistency comes from the open-ended rule judge; abstain rows are errors (no option list to extend)."
    ]


def summary_markdown(metrics: pd.DataFrame, *, header: dict[str, str], records: pd.DataFrame | None = None) -> str:
    """``summary.md``: header key/values (model, benchmark, template version...), the table, notes,
    and, given the ``records`` the metrics came from, the grouped scores they support."""
    lines = ["# robustcot summary", ""]
    lines += [f"- **{_md_escape(k)}**: {_md_escape(str(v))}" for k, v in header.items()]
    lines.append("")
    if metrics.empty:
        lines.append("No records.")
        return "\n".join(lines) + "\n"
    headers, rows = _cells(metrics)
    lines += _md_table(headers, rows, _TEXT_HEADERS)
    notes = _open_note(metrics) + _notes(metrics)
    if notes:
        lines += ["", "Notes:", ""] + [f"- {_md_escape(n)}" for n in notes]
    tables = grouped_tables(records, list(dict.fromkeys(metrics["variant"]))) if records is not None else []
    if tables:
        lines += ["", "## Grouped scores", ""]
        lines.append("The benchmarks' own scoring rules, per variant; error rows are left out (a group with one is "
                     "left out whole), unparsed answers count as wrong.")
        for table in tables:
            lines += ["", f"### {table.title}", "", table.caption, ""]
            lines += _md_table(list(table.display.columns), table.display.to_numpy().tolist(), table.text_columns)
    return "\n".join(lines) + "\n"


def write_summary(records: pd.DataFrame, path: Path, header: dict[str, str]) -> pd.DataFrame:
    """Compute :func:`variant_metrics`, write them and the grouped scores as Markdown to ``path``
    (the run's ``summary.md``) and return the metrics so the caller can print or plot without
    recomputing."""
    metrics = variant_metrics(records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary_markdown(metrics, header=header, records=records), encoding="utf-8")
    return metrics


# -- grouped scores ------------------------------------------------------------------------------

#: Display names of the group kinds of :func:`~robustcot.data.grouped.group_scores`.
_GROUP_HEADERS = {"circular": "circular", "flip": "flip", "flip_circular": "flip+circular"}

#: CV-Bench columns of :func:`~robustcot.data.grouped.cvbench_score` and their display names.
_CVBENCH_HEADERS = {"acc_ADE20K": "ADE20K", "acc_COCO": "COCO", "acc_Omni3D": "Omni3D", "acc_2d": "2D",
                    "acc_3d": "3D", "score": "score", "accuracy": "accuracy"}


@dataclass(frozen=True)
class GroupedTable:
    """One grouped-score table: raw numbers (``data``) and the formatted cells a reader sees."""

    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    caption: str
    text_columns: frozenset[str]
    """Left-aligned (non-numeric) display columns."""


def _yes_no(flag: object) -> str:
    return "yes" if bool(flag) else "no"


def _count_cell(accuracy: float, n: float, n_errors: float = 0) -> str:
    """``62.5% (8)``: accuracy and how many rows or groups it is over; errors named when there were any."""
    if _is_missing(accuracy):
        return MISSING
    errors = 0 if _is_missing(n_errors) else int(n_errors)
    return f"{fmt_pct(accuracy)} ({int(n)}{f'; {errors} left out' if errors else ''})"


def _ordered(table: pd.DataFrame, keys: Sequence[str], variants: Sequence[str]) -> pd.DataFrame:
    """Rows by model and benchmark as they first appear, then ``keys``, variants in report order."""
    order = {v: i for i, v in enumerate(variants)}
    sort: dict[str, pd.Series] = {}
    for col in ("model", "benchmark"):
        if col in table.columns:
            sort[f"_{col}"] = table[col].map({v: i for i, v in enumerate(dict.fromkeys(table[col]))})
    sort.update({f"_{k}": table[k].astype(str) for k in keys})
    sort["_variant"] = table["variant"].map(lambda v: order.get(v, len(order)))
    sort["_abstain"] = table["abstain"].astype(bool)
    return table.assign(**sort).sort_values(list(sort), kind="stable").drop(columns=list(sort)).reset_index(drop=True)


def _group_table(records: pd.DataFrame, by: tuple[str, ...], variants: Sequence[str]) -> GroupedTable | None:
    data = group_scores(records, by)
    if data.empty:
        return None
    data = _ordered(data, (), variants)
    kinds = [k for k in _GROUP_HEADERS if k in data.columns]
    display = pd.DataFrame({
        **{c: data[c].astype(str) for c in by if c != "abstain"},
        "abstain": data["abstain"].map(_yes_no),
        "rows": data["n"].astype(str),
        "row accuracy": data["accuracy"].map(fmt_pct),
        **{_GROUP_HEADERS[k]: [_count_cell(a, n, e) for a, n, e in zip(
            data[k], data[f"n_groups_{k}"], data[f"n_groups_error_{k}"], strict=True)] for k in kinds},
    })
    return GroupedTable(
        "group_scores", "Group accuracy (every copy of a question right)", data, display,
        "circular: CircularEval, all rotations of a question right (MMBench, 3DSRBench, circular=True runs); "
        "flip: a question and its horizontally flipped twin both right (3DSRBench); flip+circular: every copy "
        "of one base question right. Cells: accuracy (scored groups; groups left out for an error row). "
        "Only benchmarks whose rows carry the group key are listed.",
        frozenset(by),
    )


def _cvbench_table(records: pd.DataFrame, by: tuple[str, ...], variants: Sequence[str]) -> GroupedTable | None:
    if not carried(records, "source") or not records["benchmark"].eq("cvbench").any():
        return None
    keys = tuple(c for c in by if c != "benchmark")
    data = _ordered(cvbench_score(records, keys), (), variants)
    display = pd.DataFrame({
        **{c: data[c].astype(str) for c in keys if c != "abstain"},
        "abstain": data["abstain"].map(_yes_no),
        **{name: data[col].map(fmt_pct) for col, name in _CVBENCH_HEADERS.items()},
    })
    return GroupedTable(
        "cvbench_score", "CV-Bench official score", data, display,
        "score = mean((acc ADE20K + acc COCO) / 2, acc Omni3D) (Cambrian-1); accuracy = plain row accuracy "
        "(what lmms-eval reports). A missing source leaves the score empty rather than averaging fewer parts.",
        frozenset(keys),
    )


def _breakdown_table(records: pd.DataFrame, column: str, by: tuple[str, ...],
                     variants: Sequence[str]) -> GroupedTable | None:
    if not carried(records, column):
        return None
    data = _ordered(breakdown(records[records[column].notna()], column, by), (column,), variants)
    index = [*(c for c in by if c not in ("variant", "abstain")), column, "abstain"]
    cells = data.assign(**{c: data[c].astype(str) for c in index if c != "abstain"},
                        abstain=data["abstain"].map(_yes_no),
                        cell=[_count_cell(a, n) for a, n in zip(data["accuracy"], data["n_scored"], strict=True)])
    wide = cells.pivot_table(index=index, columns="variant", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=[v for v in variants if v in wide.columns]).fillna(MISSING)
    wide.columns.name = None
    label = column.replace("_", " ")
    return GroupedTable(
        f"by_{column}", f"Accuracy per {label}", data, wide.reset_index(),
        f"Row accuracy (scored rows) per {label} value and variant; rows without a {label} are left out.",
        frozenset(index),
    )


def grouped_tables(records: pd.DataFrame, variants: Sequence[str], *, by_model: bool = False,
                   breakdowns: Sequence[str] = BREAKDOWN_COLUMNS) -> list[GroupedTable]:
    """The grouped scores ``records`` support, each table only when its columns carry values:
    group accuracy (circular / flip / flip+circular), the CV-Bench aggregate and per-value breakdowns.

    ``variants`` orders the variant rows and columns; ``by_model`` adds a ``model`` key (reports
    over several runs); ``breakdowns`` picks the breakdown columns (the report has its own
    per-category section).
    """
    if records.empty:
        return []
    by = ("model", *BY) if by_model else BY
    tables = [_group_table(records, by, variants), _cvbench_table(records, by, variants)]
    tables += [_breakdown_table(records, column, by, variants) for column in breakdowns]
    return [t for t in tables if t is not None]
