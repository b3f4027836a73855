"""Bootstrap intervals for grouped report statistics, resampling samples within each stratum.

:mod:`robustcot.analysis.stats` holds the weight-based estimators; this module lays a table's rows
out as (unit × group) matrices per stratum so that one set of replicate weights serves every group
of that stratum (all variants, both abstain settings). Weights are drawn once per stratum from a
generator seeded by the stratum's names, so an interval does not depend on which other runs are in
the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from robustcot.analysis.frame import AnalysisFrame
from robustcot.analysis.stats import (
    auroc_replicates,
    bootstrap_weights,
    percentile_interval,
    ratio_replicates,
    stratum_rng,
)

INTERVAL_COLUMNS = ["ci_low", "ci_high", "n_boot_valid", "n_boot_skipped"]


class Resampler:
    """Replicate weights per stratum of an :class:`AnalysisFrame`, drawn on first use and kept."""

    def __init__(self, frame: AnalysisFrame, n_boot: int, seed: int, level: float = 0.95) -> None:
        if n_boot < 1:
            raise ValueError(f"n_boot must be positive, got {n_boot}")
        self.frame, self.n_boot, self.seed, self.level = frame, n_boot, seed, level
        self._weights: dict[int, np.ndarray] = {}

    def weights(self, stratum: int) -> np.ndarray:
        """``(n_boot, n_units)`` multinomial counts over the stratum's samples."""
        if stratum not in self._weights:
            info = self.frame.strata.iloc[stratum]
            rng = stratum_rng(self.seed, str(info["model"]), str(info["benchmark"]))
            self._weights[stratum] = bootstrap_weights(int(info["n_units"]), self.n_boot, rng)
        return self._weights[stratum]

    def mean_intervals(self, rows: pd.DataFrame, by: Sequence[str], value: str) -> pd.DataFrame:
        """Interval of the mean of ``value`` per group of ``by`` (which must include ``stratum``).

        ``rows`` hold at most one row per (group, unit); NaN values are left out. A mean over
        units is a ratio of weighted sums, so all groups of a stratum cost two matrix products.
        """
        rows = rows[np.isfinite(rows[value].to_numpy(dtype=float))]
        return self._per_stratum(rows, by, lambda sub, codes, n_groups, w: ratio_replicates(
            *_unit_matrices(sub, codes, n_groups, self.frame.strata, value), w))

    def auroc_intervals(self, rows: pd.DataFrame, by: Sequence[str], score: str, label: str) -> pd.DataFrame:
        """Interval of the AUROC of ``score`` for boolean ``label`` per group of ``by``.

        Groups of one stratum that share the score of each unit (all variants of one abstain
        setting share the `base` row's score) are computed together from one sort.
        """
        rows = rows[np.isfinite(rows[score].to_numpy(dtype=float))]

        def replicates(sub: pd.DataFrame, codes: np.ndarray, n_groups: int, w: np.ndarray) -> np.ndarray:
            n_units = w.shape[1]
            units = sub["unit"].to_numpy()
            scores = np.full(n_units, np.nan)
            scores[units] = sub[score].to_numpy(dtype=float)
            labels = np.full((n_units, n_groups), np.nan)
            labels[units, codes] = sub[label].to_numpy(dtype=float)
            return auroc_replicates(scores, labels, w)

        share_by = [c for c in by if c not in ("variant",)]
        parts = [self._per_stratum(part, by, replicates) for _, part in rows.groupby(share_by, observed=True)]
        return pd.concat(parts, ignore_index=True) if parts else _empty(by)

    def _per_stratum(self, rows: pd.DataFrame, by: Sequence[str], replicates) -> pd.DataFrame:
        """Run ``replicates(rows_of_stratum, group_codes, n_groups, weights)`` and summarise columns."""
        if "stratum" not in by:
            raise ValueError("bootstrap groups must include the stratum")
        out = []
        for stratum, sub in rows.groupby("stratum", sort=True):
            grouped = sub.groupby(list(by), sort=False, observed=True)
            codes = grouped.ngroup().to_numpy()
            keys = grouped.size().reset_index()[list(by)]  # same first-appearance order as ngroup
            reps = replicates(sub, codes, len(keys), self.weights(int(stratum)))
            intervals = [percentile_interval(reps[:, j], self.level) for j in range(len(keys))]
            keys["ci_low"] = [i.low for i in intervals]
            keys["ci_high"] = [i.high for i in intervals]
            keys["n_boot_valid"] = [i.n_valid for i in intervals]
            keys["n_boot_skipped"] = [i.n_skipped for i in intervals]
            out.append(keys)
        return pd.concat(out, ignore_index=True) if out else _empty(by)


def _unit_matrices(rows: pd.DataFrame, codes: np.ndarray, n_groups: int, strata: pd.DataFrame,
                   value: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, presence) as ``(n_units, n_groups)`` matrices for one stratum's rows."""
    n_units = int(strata.iloc[int(rows["stratum"].iloc[0])]["n_units"])
    units = rows["unit"].to_numpy()
    values = np.zeros((n_units, n_groups))
    present = np.zeros((n_units, n_groups))
    values[units, codes] = rows[value].to_numpy(dtype=float)
    present[units, codes] = 1.0
    return values, present


def _empty(by: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*by, *INTERVAL_COLUMNS])
