"""Grouped scoring over a records table: circular, flip, per-category/source breakdowns, CV-Bench score.

Pure functions of a pandas DataFrame with one row per sample × variant × abstain flag (the
``records.parquet`` layout). Benchmarks publish several copies of one question — CircularEval
rotations (MMBench, 3DSRBench, generated with ``circular=True``), horizontally flipped twins
(3DSRBench) — and score a *group* right only if every copy is right. Adapters put the group keys
in ``Sample.metadata["groups"]``; :func:`record_extras` turns them (and ``source``,
``parent_category``, ``augmentation``) into record columns, which these functions read.

Conventions (the same as :mod:`robustcot.analysis.metrics`, so numbers agree across reports):

* rows with ``status == "error"`` say nothing about the model: a group containing one is left out
  of the denominator and counted in ``n_groups_error``;
* a scored row whose ``correct`` is null (no answer parsed) counts as wrong;
* a row with no group key forms a group of its own (group accuracy = row accuracy).

Columns read: ``sample_id, benchmark, variant, abstain, correct`` and, when present, ``status``
plus the grouping / breakdown column asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

#: Default keys: metrics are computed separately per benchmark, variant and abstain flag.
BY: tuple[str, ...] = ("benchmark", "variant", "abstain")
REQUIRED = ("sample_id", "benchmark", "variant", "abstain", "correct")
GROUP_NAMES = ("circular", "flip", "flip_circular")

#: Record columns this module needs beyond the core schema: name → (Arrow type, description).
#: ``robustcot.records.FIELDS`` should include them; :func:`record_extras` fills them per sample.
EXTRA_RECORD_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "source": (pa.string(), "Data source within the benchmark (CV-Bench ADE20K/COCO/Omni3D, WhatsUp subset...)."),
    "parent_category": (pa.string(), "Coarser category (3DSRBench main category, MMBench L2, CV-Bench 2D/3D...)."),
    "augmentation": (pa.string(), "Null for an original question; else `circular:k`, `flip` or `flip+circular:k`."),
    "group_circular": (pa.string(), "Rows sharing it are rotations of one question (all must be right)."),
    "group_flip": (pa.string(), "Rows sharing it are a question and its flipped twin (3DSRBench)."),
    "group_flip_circular": (pa.string(), "Rows sharing it derive from one base question (3DSRBench flip+circular)."),
}


def record_extras(sample: Any) -> dict[str, Any]:
    """The :data:`EXTRA_RECORD_FIELDS` values of one sample, from its metadata."""
    meta = getattr(sample, "metadata", {}) or {}
    groups = meta.get("groups") or {}
    out = {
        "source": meta.get("source"),
        "parent_category": meta.get("parent_category"),
        "augmentation": meta.get("augmentation"),
    }
    out.update({f"group_{name}": groups.get(name) for name in GROUP_NAMES})
    return {k: None if v is None else str(v) for k, v in out.items()}


def _prepare(records: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    missing = [c for c in (*REQUIRED, *extra) if c not in records.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing}")
    frame = records.copy()
    frame["abstain"] = frame["abstain"].astype(bool)
    status = frame["status"] if "status" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    frame["_error"] = status.eq("error").fillna(False).astype(bool)
    frame["_right"] = frame["correct"].astype("boolean").fillna(False).astype(bool)
    return frame


def row_accuracy(records: pd.DataFrame, by: Sequence[str] = BY) -> pd.DataFrame:
    """Plain accuracy per ``by`` group: ``n, n_scored, n_errors, n_correct, accuracy``."""
    frame = _prepare(records, by)
    scored = frame.assign(_scored=~frame["_error"], _hit=frame["_right"] & ~frame["_error"])
    out = scored.groupby(list(by), dropna=False, sort=True).agg(
        n=("sample_id", "size"), n_scored=("_scored", "sum"), n_correct=("_hit", "sum")
    )
    out["n_errors"] = out["n"] - out["n_scored"]
    out["accuracy"] = out["n_correct"] / out["n_scored"].where(out["n_scored"] > 0)
    return out.reset_index()[[*by, "n", "n_scored", "n_errors", "n_correct", "accuracy"]]


def group_accuracy(records: pd.DataFrame, group_col: str, by: Sequence[str] = BY) -> pd.DataFrame:
    """Share of groups (rows sharing ``group_col``) with every row right, per ``by`` group.

    Columns: ``by..., n_groups, n_groups_scored, n_groups_error, n_groups_correct, accuracy``.
    """
    frame = _prepare(records, (*by, group_col))
    frame["_group"] = frame[group_col].astype(object).where(frame[group_col].notna(), "row:" + frame["sample_id"].astype(str))
    per_group = frame.groupby([*by, "_group"], dropna=False, sort=True).agg(
        _any_error=("_error", "any"), _all_right=("_right", "all")
    )
    per_group["_scored"] = ~per_group["_any_error"]
    per_group["_hit"] = per_group["_scored"] & per_group["_all_right"]
    out = per_group.groupby(level=list(range(len(by))), dropna=False).agg(
        n_groups=("_scored", "size"), n_groups_scored=("_scored", "sum"), n_groups_correct=("_hit", "sum")
    )
    out["n_groups_error"] = out["n_groups"] - out["n_groups_scored"]
    out["accuracy"] = out["n_groups_correct"] / out["n_groups_scored"].where(out["n_groups_scored"] > 0)
    out = out.reset_index()
    out.columns = [*by, *out.columns[len(by) :]]
    return out[[*by, "n_groups", "n_groups_scored", "n_groups_error", "n_groups_correct", "accuracy"]]


def circular_accuracy(records: pd.DataFrame, by: Sequence[str] = BY) -> pd.DataFrame:
    """CircularEval: a question is right only if all its rotations are (``group_circular``)."""
    return group_accuracy(records, "group_circular", by)


def flip_accuracy(records: pd.DataFrame, by: Sequence[str] = BY) -> pd.DataFrame:
    """3DSRBench flip: a question and its flipped twin must both be right (``group_flip``)."""
    return group_accuracy(records, "group_flip", by)


def breakdown(records: pd.DataFrame, column: str, by: Sequence[str] = BY) -> pd.DataFrame:
    """Row accuracy per value of ``column`` (``category``, ``parent_category``, ``source``...)."""
    return row_accuracy(records, (*by, column))


def threedsr_scores(records: pd.DataFrame, by: Sequence[str] = BY) -> pd.DataFrame:
    """3DSRBench's four settings per ``by`` group, as VLMEvalKit and lmms-eval compute them.

    ``vanilla`` = row accuracy over all rows present; ``flip`` / ``circular`` / ``flip_circular`` =
    group accuracy over ``group_flip`` / ``group_circular`` / ``group_flip_circular``.
    """
    out = row_accuracy(records, by)[[*by, "n", "accuracy"]].rename(columns={"accuracy": "vanilla"})
    for name, col in (("flip", "group_flip"), ("circular", "group_circular"), ("flip_circular", "group_flip_circular")):
        acc = group_accuracy(records, col, by)[[*by, "accuracy"]].rename(columns={"accuracy": name})
        out = out.merge(acc, on=list(by), how="left")
    return out


#: CV-Bench sources: the 2D tasks come from ADE20K and COCO, the 3D tasks from Omni3D.
CVBENCH_2D_SOURCES = ("ADE20K", "COCO")
CVBENCH_3D_SOURCE = "Omni3D"


def cvbench_score(records: pd.DataFrame, by: Sequence[str] = ("variant", "abstain")) -> pd.DataFrame:
    """CV-Bench's official aggregate per ``by`` group: ``mean((acc_ADE20K + acc_COCO) / 2, acc_Omni3D)``.

    (Cambrian-1 App. C; lmms-eval's unused ``cv_bench_default_aggregate_results``.) Only rows of
    benchmark ``cvbench`` are used when a ``benchmark`` column exists. A missing source makes the
    score NaN rather than a mean over fewer parts, so partial runs are not mistaken for full ones.
    Columns: ``by..., acc_ADE20K, acc_COCO, acc_Omni3D, acc_2d, acc_3d, score, accuracy``
    (``accuracy`` = plain row accuracy, what lmms-eval reports).
    """
    frame = records[records["benchmark"] == "cvbench"] if "benchmark" in records.columns else records
    per_source = row_accuracy(frame, (*by, "source"))
    wide = per_source.pivot_table(index=list(by), columns="source", values="accuracy", dropna=False)
    out = pd.DataFrame(index=wide.index)
    for src in (*CVBENCH_2D_SOURCES, CVBENCH_3D_SOURCE):
        out[f"acc_{src}"] = wide[src] if src in wide.columns else float("nan")
    out["acc_2d"] = (out["acc_ADE20K"] + out["acc_COCO"]) / 2
    out["acc_3d"] = out[f"acc_{CVBENCH_3D_SOURCE}"]
    out["score"] = (out["acc_2d"] + out["acc_3d"]) / 2
    plain = row_accuracy(frame, by).set_index(list(by))["accuracy"]
    out["accuracy"] = plain.reindex(out.index)
    return out.reset_index()


#: Columns a per-value accuracy breakdown is offered for, in report order.
BREAKDOWN_COLUMNS: tuple[str, ...] = ("category", "parent_category", "source")


def carried(records: pd.DataFrame, column: str) -> bool:
    """Whether any row has a value in ``column`` (absent or all-null columns carry nothing)."""
    return column in records.columns and bool(records[column].notna().any())


def group_scores(records: pd.DataFrame, by: Sequence[str] = BY) -> pd.DataFrame:
    """Row accuracy next to every group accuracy the records support, one row per ``by`` group.

    Only benchmarks whose rows carry some ``group_<kind>`` key are scored (and counted in ``n`` /
    ``accuracy``), and a kind is scored only on the benchmarks that carry its key: NaN elsewhere,
    because a benchmark without flipped twins has no flip accuracy (group accuracy over singleton
    groups would silently repeat row accuracy). Empty when no row carries a group key.
    Columns: ``by..., n, accuracy`` then, per kind carried, ``<kind>, n_groups_<kind>,
    n_groups_error_<kind>`` (scored groups, groups left out for an error row).
    """
    kinds = [kind for kind in GROUP_NAMES if carried(records, f"group_{kind}")]
    if not kinds:
        return pd.DataFrame()
    keyed = {b for kind in kinds for b in records.loc[records[f"group_{kind}"].notna(), "benchmark"]}
    frame = records[records["benchmark"].isin(keyed)]
    out = row_accuracy(frame, by)[[*by, "n", "accuracy"]]
    for kind in kinds:
        col = f"group_{kind}"
        with_key = frame["benchmark"].isin(set(frame.loc[frame[col].notna(), "benchmark"]))
        acc = group_accuracy(frame[with_key], col, by)[[*by, "accuracy", "n_groups_scored", "n_groups_error"]]
        acc = acc.rename(columns={"accuracy": kind, "n_groups_scored": f"n_groups_{kind}",
                                  "n_groups_error": f"n_groups_error_{kind}"})
        out = out.merge(acc, on=list(by), how="left")
    return out
