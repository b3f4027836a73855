"""Accuracy under perturbation: per-variant metrics per model, paired drops, abstain effect, categories.

* **Per-variant metrics** are :func:`robustcot.analysis.metrics.variant_metrics` run per model (it
  pairs rows within one model), with a ``model`` column added: the same numbers as ``summary.md``.
* **Drop vs base** is over *pairs* (scored variant row and scored `base` row of the same sample and
  abstain flag): ``drop = acc(base) − acc(variant)`` on those pairs, so a positive drop is damage.
  Significance: exact McNemar test on the discordant pairs, Holm-adjusted over every test in the
  table; interval: paired bootstrap over samples.
* **Abstain effect** pairs each sample's row with abstain off and on for the same variant:
  ``change = acc(on) − acc(off)``, with the same test and interval; "chose abstain" is the share of
  scored abstain-on rows answering the "I'm not sure" option (Wilson interval).
* **Categories** repeat accuracy (Wilson) and the paired drop per ``category``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from robustcot.analysis.frame import UNKNOWN, AnalysisFrame, report_order
from robustcot.analysis.metrics import BASE_VARIANT, METRIC_COLUMNS, QUADRANTS, variant_metrics
from robustcot.analysis.resampling import Resampler
from robustcot.analysis.stats import holm, mcnemar_exact

UNDECIDED = "undecided"


def metrics_by_model(records: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """:func:`variant_metrics` of each model's records, stacked with a leading ``model`` column."""
    parts = []
    for model in models:
        metrics = variant_metrics(records[records["model"] == model])
        metrics.insert(0, "model", model)
        parts.append(metrics)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", *METRIC_COLUMNS])


def quadrant_shares(metrics: pd.DataFrame) -> pd.DataFrame:
    """Quadrant shares per (model, variant, abstain), pooled over benchmarks by scored-row counts."""
    share_cols = [f"share_{q}" for q in (*QUADRANTS, UNDECIDED)]
    counts = metrics[share_cols].mul(metrics["n_scored"], axis=0)
    counts[["model", "variant", "abstain", "n_scored"]] = metrics[["model", "variant", "abstain", "n_scored"]]
    pooled = counts.groupby(["model", "variant", "abstain"], sort=False).sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled[share_cols] = pooled[share_cols].div(pooled["n_scored"].where(pooled["n_scored"] > 0), axis=0)
    return pooled[["model", "variant", "abstain", "n_scored", *share_cols]]


def _paired_test_table(pairs: pd.DataFrame, by: list[str], first: str, second: str,
                       resampler: Resampler) -> pd.DataFrame:
    """Counts, accuracies, McNemar p and bootstrap interval of ``acc(first) − acc(second)`` per group.

    ``pairs`` holds one row per (group, unit) with boolean columns ``first`` and ``second``.
    """
    pairs = pairs.assign(
        _diff=pairs[first].astype(float) - pairs[second].astype(float),
        _only_first=pairs[first] & ~pairs[second],
        _only_second=~pairs[first] & pairs[second],
    )
    grouped = pairs.groupby(by, sort=False, observed=True)
    table = grouped.agg(
        n_pairs=("unit", "size"),
        n_first=(first, "sum"),
        n_second=(second, "sum"),
        n_first_only=("_only_first", "sum"),
        n_second_only=("_only_second", "sum"),
    ).reset_index()
    table["diff"] = (table["n_first"] - table["n_second"]) / table["n_pairs"]
    table["p_mcnemar"] = [mcnemar_exact(int(a), int(b)) for a, b in
                          zip(table["n_first_only"], table["n_second_only"], strict=True)]
    table["p_holm"] = holm(table["p_mcnemar"].to_numpy())
    intervals = resampler.mean_intervals(pairs, by, "_diff")
    return table.merge(intervals, on=by, how="left")


def drop_table(frame: AnalysisFrame, resampler: Resampler) -> pd.DataFrame:
    """Paired accuracy drop of every non-base variant; see the module docstring."""
    pairs = frame.paired
    pairs = pairs[pairs["variant"] != BASE_VARIANT]
    by = ["stratum", "model", "benchmark", "variant", "abstain"]
    table = _paired_test_table(pairs[[*by, "unit", "right", "base_right"]], by, "base_right", "right", resampler)
    table = table.rename(columns={
        "n_first": "n_base_correct", "n_second": "n_variant_correct", "n_first_only": "n_base_only",
        "n_second_only": "n_variant_only", "diff": "drop",
    })
    table["acc_base"] = table["n_base_correct"] / table["n_pairs"]
    table["acc_variant"] = table["n_variant_correct"] / table["n_pairs"]
    return report_order(frame, table)[[
        "model", "benchmark", "variant", "abstain", "n_pairs", "acc_base", "acc_variant", "drop", "ci_low",
        "ci_high", "n_base_only", "n_variant_only", "p_mcnemar", "p_holm",
    ]]


def abstain_table(frame: AnalysisFrame, resampler: Resampler) -> pd.DataFrame:
    """Effect of the abstain option per (model, benchmark, variant); empty without abstain rows."""
    rows = frame.rows[frame.rows["scored"]]
    on, off = rows[rows["abstain"]], rows[~rows["abstain"]]
    if on.empty or off.empty:
        return pd.DataFrame()
    keys = ["stratum", "model", "benchmark", "variant", "unit"]
    pairs = off[[*keys, "right"]].merge(on[[*keys, "right"]], on=keys, suffixes=("_off", "_on"))
    by = ["stratum", "model", "benchmark", "variant"]
    table = _paired_test_table(pairs, by, "right_on", "right_off", resampler)
    table = table.rename(columns={"diff": "change", "n_first_only": "n_on_only", "n_second_only": "n_off_only"})
    table["acc_off"] = table["n_second"] / table["n_pairs"]
    table["acc_on"] = table["n_first"] / table["n_pairs"]
    chose = on.assign(chose=(on["answer_index"] == on["abstain_index"]) & (on["abstain_index"] >= 0))
    stats = chose.groupby(by, sort=False, observed=True).agg(
        n_abstain_rows=("chose", "size"), n_chose_abstain=("chose", "sum"), mean_p_abstain=("p_abstain", "mean"),
    ).reset_index()
    low, high = proportion_confint(stats["n_chose_abstain"], stats["n_abstain_rows"], alpha=0.05, method="wilson")
    stats["chose_abstain"] = stats["n_chose_abstain"] / stats["n_abstain_rows"]
    stats["chose_low"], stats["chose_high"] = low, high
    answered = chose[~chose["chose"]].groupby(by, sort=False, observed=True)["right"].mean()
    stats = stats.merge(answered.rename("acc_on_answered").reset_index(), on=by, how="left")
    table = table.merge(stats, on=by, how="left")
    return report_order(frame, table)[[
        "model", "benchmark", "variant", "n_pairs", "acc_off", "acc_on", "change", "ci_low", "ci_high",
        "n_on_only", "n_off_only", "p_mcnemar", "p_holm", "n_abstain_rows", "chose_abstain", "chose_low",
        "chose_high", "mean_p_abstain", "acc_on_answered",
    ]]


def category_table(frame: AnalysisFrame) -> pd.DataFrame:
    """Accuracy (Wilson) and paired drop per (model, benchmark, category, variant), abstain off.

    Empty when no row has a category.
    """
    rows = frame.rows
    if (rows["category"] == UNKNOWN).all():
        return pd.DataFrame()
    rows = rows[rows["scored"] & ~rows["abstain"]]
    by = ["model", "benchmark", "category", "variant"]
    table = rows.groupby(by, sort=False, observed=True).agg(
        n_scored=("right", "size"), n_correct=("right", "sum"),
    ).reset_index()
    low, high = proportion_confint(table["n_correct"], table["n_scored"], alpha=0.05, method="wilson")
    table["accuracy"] = table["n_correct"] / table["n_scored"]
    table["acc_low"], table["acc_high"] = low, high
    pairs = rows[rows["has_base"]]
    drop = (pairs["base_right"].astype(float) - pairs["right"].astype(float)).groupby(
        [pairs[c] for c in by], sort=False, observed=True).mean()
    table = table.merge(drop.rename("drop").reset_index(), on=by, how="left")
    table.loc[table["variant"] == BASE_VARIANT, "drop"] = np.nan
    return report_order(frame, table, extra=["category"])
