"""Agreement between consistency judges, per model: each pair of judges and the LLM panel.

Judges are ``judge_rule`` and each LLM judge's ``judge_<name>`` column (not ``judge_panel`` or
``judge_route``, which summarise them; see docs/judges.md). For one set of judges the *items* are
the rows every judge in the set labelled (LLM judges see only the rows the cascade routed to them);
items where any label is not a decision (``unparsed``, ``unjudged``) are dropped and counted,
because Fleiss' κ needs every judge to rate every item. On the kept items:

* **strict agreement**: share of items where all judges in the set gave the same label;
* **Fleiss' κ** over the categories consistent / inconsistent / no_conclusion (the same estimator
  as statsmodels' ``fleiss_kappa``; the tests check they agree), NaN with a note when every rating
  falls in one category (chance agreement 1);
* intervals: the report's bootstrap over samples (all rows of a resampled sample move together),
  pooled over the model's benchmarks; undefined replicates are skipped and counted.

With only the rule judge there is nothing to compare, and the report says so instead of a κ.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from robustcot.analysis.frame import RULE_JUDGE, AnalysisFrame
from robustcot.analysis.resampling import Resampler
from robustcot.analysis.stats import fleiss_kappa_from_sums, fleiss_unit_sums, percentile_interval
from robustcot.judges.labels import DECIDED

NOT_ASKED = "(not asked)"

_COLUMNS = [
    "model", "judges", "n_items", "n_dropped", "strict", "strict_low", "strict_high", "kappa", "kappa_low",
    "kappa_high", "n_boot_skipped", "note",
]


def judge_sets(judges: list[str]) -> list[tuple[str, ...]]:
    """Every pair of judges, then the panel of all LLM judges when there are at least two."""
    sets = list(combinations(judges, 2))
    llm = tuple(j for j in judges if j != RULE_JUDGE)
    if len(llm) >= 2 and llm not in sets:
        sets.append(llm)
    return sets


def single_judge_note(frame: AnalysisFrame) -> str | None:
    """Why there is no agreement table, or None when there is one."""
    if len(frame.judges) >= 2:
        return None
    present = ", ".join(frame.judges) or "none"
    return (f"Only one judge labelled these runs ({present}); agreement needs two or more. "
            "Add LLM judges with `robustcot judge RUN --judge SPEC ...`.")


def agreement_table(frame: AnalysisFrame, resampler: Resampler) -> pd.DataFrame:
    """Strict agreement and Fleiss' κ per (model, judge set); empty with fewer than two judges."""
    codes = {j: _decision_codes(frame.rows[j]) for j in frame.judges}
    model = frame.rows["model"].cat.codes.to_numpy()
    out = []
    for judges in judge_sets(frame.judges):
        stacked = np.stack([codes[j] for j in judges], axis=1)
        for m, name in enumerate(frame.rows["model"].cat.categories):
            here = model == m
            if here.any():
                out.append({"model": str(name), "judges": " + ".join(judges),
                            **_agreement(stacked[here], frame.rows["stratum"].to_numpy()[here],
                                         frame.rows["unit"].to_numpy()[here], resampler)})
    table = pd.DataFrame(out, columns=_COLUMNS)
    rank = {m: i for i, m in enumerate(frame.models)}
    return table.sort_values("model", key=lambda s: s.map(rank), kind="stable").reset_index(drop=True)


def _decision_codes(labels: pd.Series) -> np.ndarray:
    """Per row: the index of the label in DECIDED, -1 for another label (unparsed...), -2 for null."""
    categories = [str(c) for c in labels.cat.categories]
    lookup = np.array([DECIDED.index(c) if c in DECIDED else -1 for c in categories] + [-2])
    return lookup[labels.cat.codes.to_numpy()]  # code -1 (null) picks the trailing -2


def _agreement(codes: np.ndarray, stratum: np.ndarray, unit: np.ndarray, resampler: Resampler) -> dict:
    """Agreement of one judge set on one model's rows (``codes``: rows × judges)."""
    n_judges = codes.shape[1]
    rated = (codes != -2).all(axis=1)
    decided = rated & (codes >= 0).all(axis=1)
    result = {"n_items": int(rated.sum()), "n_dropped": int((rated & ~decided).sum())}
    if not decided.any():
        return {**result, "note": "no item labelled by every judge" if not rated.any()
                else "no item with a decision from every judge"}
    codes, stratum, unit = codes[decided], stratum[decided], unit[decided]
    counts = np.stack([(codes == c).sum(axis=1) for c in range(len(DECIDED))], axis=1)
    agree = (counts.max(axis=1) == n_judges).astype(float)
    point = np.zeros(2 + len(DECIDED))
    replicate_sums = np.zeros((resampler.n_boot, 2 + len(DECIDED)))
    strict_sums = np.zeros((resampler.n_boot, 2))
    for s in np.unique(stratum):
        here = stratum == s
        weights = resampler.weights(int(s))
        sums = fleiss_unit_sums(counts[here], unit[here], weights.shape[1])
        point += sums.sum(axis=0)
        replicate_sums += weights @ sums
        strict_sums += weights @ np.column_stack([
            np.bincount(unit[here], weights=agree[here], minlength=weights.shape[1]),
            sums[:, 1],
        ])
    kappa = float(fleiss_kappa_from_sums(point, n_judges)[0])
    kappa_ci = percentile_interval(fleiss_kappa_from_sums(replicate_sums, n_judges), resampler.level)
    with np.errstate(invalid="ignore", divide="ignore"):
        strict_ci = percentile_interval(strict_sums[:, 0] / strict_sums[:, 1], resampler.level)
    note = "every rating has the same label: chance agreement is 1, κ undefined" if np.isnan(kappa) else ""
    return {
        **result, "strict": float(agree.mean()), "strict_low": strict_ci.low, "strict_high": strict_ci.high,
        "kappa": kappa, "kappa_low": kappa_ci.low, "kappa_high": kappa_ci.high,
        "n_boot_skipped": kappa_ci.n_skipped, "note": note,
    }


def label_table(frame: AnalysisFrame) -> pd.DataFrame:
    """Share of each label per (model, judge column), ``judge_panel`` and ``judge_route`` included.

    Null means "not asked" (an LLM judge on a row the cascade kept for the rule judge).
    """
    summaries = [c for c in ("judge_panel", "judge_route")
                 if c in frame.rows.columns and frame.rows[c].notna().any()]
    columns = [*frame.judges, *summaries]
    parts = []
    for column in columns:
        labels = frame.rows[column].cat.add_categories([NOT_ASKED]).fillna(NOT_ASKED)
        counts = labels.groupby(frame.rows["model"], observed=True).value_counts()
        counts = counts[counts > 0].rename("n").reset_index()
        counts.columns = ["model", "label", "n"]
        counts.insert(1, "column", column)
        parts.append(counts)
    if not parts:
        return pd.DataFrame(columns=["model", "column", "label", "n", "share"])
    table = pd.concat(parts, ignore_index=True)
    table[["model", "label"]] = table[["model", "label"]].astype(str)
    table["share"] = table["n"] / table.groupby(["model", "column"])["n"].transform("sum")
    return table
