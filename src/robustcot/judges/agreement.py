"""How much the judges agree: strict agreement, Fleiss' κ with a bootstrap CI, rule-vs-LLM agreement.

Fleiss' κ comes from statsmodels. Its table needs every judge to rate every item, so items where
any judge's reply was unparsed are dropped (and counted); categories are fixed to
consistent / inconsistent / no_conclusion (``aggregate_raters(n_cat=3)``) so tables of different
groups have the same columns. statsmodels gives no variance, so the CI is a percentile bootstrap
over items. When every rating falls in one category, chance agreement is 1 and κ is 0/0: it is
reported as NaN with a note rather than as a number; such bootstrap replicates are counted and
left out of the CI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from robustcot.judges.labels import DECIDED

_CODE = {label: i for i, label in enumerate(DECIDED)}


@dataclass(frozen=True)
class PanelAgreement:
    """Agreement among the LLM judges over one set of items."""

    n_items: int
    """Items every judge labelled (unparsed included)."""
    n_dropped_unparsed: int
    """Items left out because at least one judge's reply was unparsed."""
    strict: float
    """Share of kept items on which all judges gave the same label (NaN when none kept)."""
    kappa: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_boot_degenerate: int
    """Bootstrap replicates with all ratings in one category (κ undefined), excluded from the CI."""
    note: str | None

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _kappa(table: np.ndarray) -> float:
    """Fleiss' κ of a (items × categories) count table; NaN when chance agreement is 1."""
    totals = table.sum(axis=0)
    p = totals / totals.sum()
    if math.isclose(float((p**2).sum()), 1.0):
        return math.nan
    return float(fleiss_kappa(table, method="fleiss"))


def panel_agreement(labels: Sequence[Sequence[str]], *, n_boot: int = 1000, seed: int = 0) -> PanelAgreement:
    """Agreement of the judges given one row of labels (one per judge) per item."""
    n_items = len(labels)
    kept = [row for row in labels if all(label in _CODE for label in row)]
    dropped = n_items - len(kept)
    nan = math.nan
    n_judges = len(labels[0]) if labels else 0
    if not kept:
        note = "no items" if n_items == 0 else "no item with every judge parsed"
        return PanelAgreement(n_items, dropped, nan, nan, nan, nan, 0, 0, note)
    strict = float(np.mean([len(set(row)) == 1 for row in kept]))
    if n_judges < 2:
        return PanelAgreement(n_items, dropped, strict, nan, nan, nan, 0, 0, "κ needs at least two judges")
    codes = np.array([[_CODE[label] for label in row] for row in kept])
    table, _ = aggregate_raters(codes, n_cat=len(DECIDED))
    kappa = _kappa(table)
    note = None
    if math.isnan(kappa):
        note = "every rating has the same label: chance agreement is 1, κ undefined"
    rng = np.random.default_rng(seed)
    reps = [_kappa(table[rng.integers(0, len(table), len(table))]) for _ in range(n_boot)]
    finite = [k for k in reps if not math.isnan(k)]
    low, high = (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))) if finite else (nan, nan)
    return PanelAgreement(n_items, dropped, strict, kappa, low, high, n_boot, len(reps) - len(finite), note)


def agreement_by_group(
    frame: pd.DataFrame, judge_columns: Sequence[str], by: Sequence[str], *, n_boot: int = 1000, seed: int = 0
) -> list[dict]:
    """:func:`panel_agreement` for each group of ``frame`` (e.g. benchmark × variant) and overall."""
    out = []
    groups = [((), frame)] if frame.empty else [((), frame), *frame.groupby(list(by), sort=True, dropna=False)]
    for values, part in groups:
        labels = part[list(judge_columns)].to_numpy().tolist()
        group = dict(zip(by, values, strict=True)) if values else dict.fromkeys(by, "all")
        out.append({**group, **panel_agreement(labels, n_boot=n_boot, seed=seed).as_dict()})
    return out


def label_agreement(left: Sequence[str], right: Sequence[str]) -> dict:
    """Share of items with equal labels, with a Wilson 95% interval (rule vs LLM on the audit)."""
    n = len(left)
    agree = sum(a == b for a, b in zip(left, right, strict=True))
    if n == 0:
        return {"n": 0, "agree": 0, "rate": None, "ci_low": None, "ci_high": None}
    low, high = proportion_confint(agree, n, alpha=0.05, method="wilson")
    return {"n": n, "agree": agree, "rate": agree / n, "ci_low": float(low), "ci_high": float(high)}
