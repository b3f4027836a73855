"""Letter uncertainty under perturbation, and how well base-prompt confidence predicts robustness.

* **Uncertainty table**, per (model, benchmark, variant, abstain) over scored rows with a letter
  distribution: mean/median entropy H (nats), mean P(correct), the raw letter mass before
  renormalising (mean, and share below 0.5: a template that does not lead to a letter token
  shows here), and, for variants that inject an option, the *shift* of probability onto it:
  ``p_injected − base_p_injected``, where the second term is the `base` row's probability of the
  same option (``letter_probs[injected_index]`` of the base row). A positive shift means the
  injected text moved mass onto the option it asserts; its interval is a paired bootstrap.
* **AUROC** of P_base (the `base` row's P(correct)) and of −H_base for "correct under the variant",
  over the pairs of :mod:`robustcot.analysis.metrics` (unparsed = wrong). The point estimates are
  those of :func:`~robustcot.analysis.metrics.variant_metrics`; the intervals resample samples.
  Replicates whose resample holds one class only are skipped and counted (``n_boot_skipped``);
  when the pairs themselves hold one class the AUROC is undefined and the table says why.
* **ROC curves** (for the figures) are pooled per (model, benchmark, variant, score), abstain off,
  and interpolated onto a fixed false-positive-rate grid so a figure does not carry 10⁵ points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from robustcot.analysis.frame import AnalysisFrame, report_order
from robustcot.analysis.metrics import BASE_VARIANT
from robustcot.analysis.resampling import Resampler

#: The two base-prompt confidence scores: (table label, base column, sign).
SCORES = (("P_base", "base_p_correct", 1.0), ("−H_base", "base_entropy", -1.0))

#: False-positive-rate grid of the stored ROC curves.
ROC_GRID = np.linspace(0.0, 1.0, 101)

LOW_MASS = 0.5


def uncertainty_table(frame: AnalysisFrame, resampler: Resampler) -> pd.DataFrame:
    """Entropy, P(correct), letter mass and injected-option shift per group; see the module doc."""
    rows = frame.rows[frame.rows["scored"]]
    rows = rows.assign(
        shift=rows["p_injected"] - rows["base_p_injected"],
        low_mass=np.where(rows["letter_mass"].notna(), rows["letter_mass"] < LOW_MASS, np.nan),
    )
    rows = rows.assign(shift_up=np.where(rows["shift"].notna(), rows["shift"] > 0, np.nan))
    by = ["stratum", "model", "benchmark", "variant", "abstain"]
    grouped = rows.groupby(by, sort=False, observed=True)
    table = grouped.agg(
        n_uncertainty=("entropy", "count"),
        mean_entropy=("entropy", "mean"),
        median_entropy=("entropy", "median"),
        mean_p_correct=("p_correct", "mean"),
        mean_letter_mass=("letter_mass", "mean"),
        share_low_mass=("low_mass", "mean"),
        n_shift=("shift", "count"),
        mean_p_injected=("p_injected", "mean"),
        mean_base_p_injected=("base_p_injected", "mean"),
        mean_shift=("shift", "mean"),
        share_shift_up=("shift_up", "mean"),
    ).reset_index()
    intervals = resampler.mean_intervals(rows[[*by, "unit", "shift"]], by, "shift")
    table = table.merge(intervals.rename(columns={"ci_low": "shift_low", "ci_high": "shift_high"}),
                        on=by, how="left")
    return report_order(frame, table)[[
        "model", "benchmark", "variant", "abstain", "n_uncertainty", "mean_entropy", "median_entropy",
        "mean_p_correct", "mean_letter_mass", "share_low_mass", "n_shift", "mean_p_injected",
        "mean_base_p_injected", "mean_shift", "shift_low", "shift_high", "share_shift_up",
    ]]


def auroc_table(frame: AnalysisFrame, metrics: pd.DataFrame, resampler: Resampler) -> pd.DataFrame:
    """AUROC of each base score with its bootstrap interval, one row per group and score."""
    pairs = frame.paired
    by = ["stratum", "model", "benchmark", "variant", "abstain"]
    counts = pairs.groupby(by, sort=False, observed=True).agg(
        n_pos=("right", "sum"), n_pairs=("right", "size")).reset_index()
    parts = []
    for label, column, sign in SCORES:
        scored = pairs[[*by, "unit", "right"]].assign(score=sign * pairs[column])
        usable = scored[np.isfinite(scored["score"])]
        n_usable = usable.groupby(by, sort=False, observed=True).size().rename("n_usable").reset_index()
        intervals = resampler.auroc_intervals(usable, by, "score", "right")
        part = counts.merge(n_usable, on=by, how="left").merge(intervals, on=by, how="left")
        part["score"] = label
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["n_usable"] = table["n_usable"].fillna(0).astype(int)
    table["n_neg"] = table["n_pairs"] - table["n_pos"]
    point = metrics.melt(
        id_vars=["model", "benchmark", "variant", "abstain", "auroc_note"],
        value_vars=["auroc_p_base", "auroc_neg_entropy"], var_name="score", value_name="auroc",
    )
    point["score"] = point["score"].map({"auroc_p_base": SCORES[0][0], "auroc_neg_entropy": SCORES[1][0]})
    keys = ["model", "benchmark", "variant", "abstain", "score"]
    for col in ("model", "benchmark", "variant"):
        table[col] = table[col].astype(str)
        point[col] = point[col].astype(str)
    table = table.merge(point, on=keys, how="left")
    table = report_order(frame, table, extra=["score"])
    return table[[
        "model", "benchmark", "variant", "abstain", "score", "n_pairs", "n_usable", "n_pos", "n_neg", "auroc",
        "ci_low", "ci_high", "n_boot_valid", "n_boot_skipped", "auroc_note",
    ]]


def roc_curves(frame: AnalysisFrame) -> pd.DataFrame:
    """Interpolated ROC curves, abstain off: columns model, benchmark, variant, score, fpr, tpr."""
    pairs = frame.paired
    pairs = pairs[~pairs["abstain"]]
    out = []
    for (model, benchmark, variant), group in pairs.groupby(["model", "benchmark", "variant"], sort=False,
                                                            observed=True):
        for label, column, sign in SCORES:
            score = sign * group[column].to_numpy(dtype=float)
            keep = np.isfinite(score)
            y = group["right"].to_numpy()[keep]
            if keep.sum() < 2 or y.all() or not y.any():
                continue
            fpr, tpr, _ = roc_curve(y, score[keep])
            out.append(pd.DataFrame({
                "model": str(model), "benchmark": str(benchmark), "variant": str(variant), "score": label,
                "fpr": ROC_GRID, "tpr": np.interp(ROC_GRID, fpr, tpr),
            }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["model", "benchmark", "variant", "score", "fpr", "tpr"])


def distribution_summary(frame: AnalysisFrame, column: str) -> pd.DataFrame:
    """Box-plot statistics (quartiles, 5th/95th percentiles, mean, n) of ``column`` per (model, variant), abstain off.

    Computed with grouped quantiles so a figure of a million rows draws from a few numbers per box.
    """
    rows = frame.rows[frame.rows["scored"] & ~frame.rows["abstain"]]
    if column == "shift":
        rows = rows.assign(shift=rows["p_injected"] - rows["base_p_injected"])
        rows = rows[rows["variant"] != BASE_VARIANT]
    values = rows[["model", "variant", column]].dropna()
    if values.empty:
        return pd.DataFrame(columns=["model", "variant", "q05", "q25", "q50", "q75", "q95", "mean", "n"])
    grouped = values.groupby(["model", "variant"], sort=False, observed=True)[column]
    quantiles = grouped.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    quantiles.columns = ["q05", "q25", "q50", "q75", "q95"]
    table = quantiles.join(grouped.mean().rename("mean")).join(grouped.size().rename("n")).reset_index()
    return report_order(frame, table)
