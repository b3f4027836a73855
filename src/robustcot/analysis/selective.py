"""Selective prediction: answer only the samples the model was most confident about on the base prompt.

For each (model, benchmark, variant, score), abstain off, the pairs of
:mod:`robustcot.analysis.metrics` are ranked by the `base` row's confidence (P_base or −H_base),
most confident first. Keeping the top fraction *c* (the coverage) and abstaining on the rest gives
a selective accuracy; its complement is the selective risk, and the risk–coverage curve traces it
for every *c*. A confidence that predicts robustness keeps risk low at low coverage.

Definitions:

* the kept count at coverage *c* is ``ceil(c · n)``;
* samples tied in confidence are kept or dropped together in expectation: the accuracy at a cut
  that falls inside a tied block counts that block at its mean accuracy (what random tie-breaking
  gives on average), so the result does not depend on row order;
* AURC is the mean selective risk over the kept counts 1..n (area under the risk–coverage curve
  with steps of 1/n); lower is better, and ``1 − accuracy`` at full coverage is its no-skill level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from robustcot.analysis.frame import AnalysisFrame, report_order
from robustcot.analysis.predictive import SCORES

DEFAULT_COVERAGES = (0.5, 0.8, 0.9)
CURVE_POINTS = 101


def selective_accuracy(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Selective accuracy after keeping the k most confident, for k = 1..n (ties averaged).

    Returns an array of length n (empty for no usable pair); NaN scores must be removed first.
    """
    scores = np.asarray(scores, dtype=float)
    correct = np.asarray(correct, dtype=float)
    n = len(scores)
    if n == 0:
        return np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], correct[order]
    cum = np.r_[0.0, np.cumsum(y)]
    new_level = np.r_[True, s[1:] != s[:-1]]
    start = np.flatnonzero(new_level)
    end = np.r_[start[1:], n]
    level_of = np.cumsum(new_level) - 1
    k = np.arange(1, n + 1)
    lvl = level_of[k - 1]
    lo, hi = start[lvl], end[lvl]
    block_mean = (cum[hi] - cum[lo]) / (hi - lo)
    return (cum[lo] + (k - lo) * block_mean) / k


def selective_table(frame: AnalysisFrame, coverages: Sequence[float] = DEFAULT_COVERAGES
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, curves): accuracy at each coverage and AURC per group; curves on a coverage grid."""
    pairs = frame.paired
    pairs = pairs[~pairs["abstain"]]
    rows, curves = [], []
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)[1:]
    for (model, benchmark, variant), group in pairs.groupby(["model", "benchmark", "variant"], sort=False,
                                                            observed=True):
        for label, column, sign in SCORES:
            score = sign * group[column].to_numpy(dtype=float)
            keep = np.isfinite(score)
            acc = selective_accuracy(score[keep], group["right"].to_numpy()[keep])
            n = len(acc)
            row = {"model": str(model), "benchmark": str(benchmark), "variant": str(variant), "score": label,
                   "n_pairs": n, "accuracy": acc[-1] if n else np.nan,
                   "aurc": float(np.mean(1 - acc)) if n else np.nan}
            for c in coverages:
                row[f"acc_at_{round(100 * c)}"] = acc[max(math.ceil(c * n), 1) - 1] if n else np.nan
            rows.append(row)
            if n:
                kept = np.maximum(np.ceil(grid * n).astype(int), 1)
                curves.append(pd.DataFrame({"model": str(model), "benchmark": str(benchmark),
                                            "variant": str(variant), "score": label, "coverage": grid,
                                            "risk": 1 - acc[kept - 1]}))
    table = report_order(frame, pd.DataFrame(rows), extra=["score"]) if rows else pd.DataFrame()
    curve_frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["model", "benchmark", "variant", "score", "coverage", "risk"])
    return table, curve_frame
