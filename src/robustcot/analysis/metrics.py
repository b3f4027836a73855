"""Per-variant metrics from a records table: accuracy, flips against `base`, quadrants, uncertainty, AUROC.

Definitions (they decide what every report number means, so they live here, next to the code):

* **Scored rows.** Rows whose ``status`` is ``error`` (bad image, generation failure) say nothing about
  the model, so they are left out of every denominator and counted in ``n_errors``.
* **Unparsed answers count as wrong.** A scored row whose ``correct`` is null (no answer could be
  parsed) is a model that failed to answer; it is wrong in accuracy, flips and AUROC labels, and is
  counted in ``n_unparsed`` so the reader can see how much of the error rate it explains.
* **Accuracy** is ``n_correct / n_scored`` with a 95% Wilson interval (statsmodels).
* **Flips** pair each row with the `base` row of the same benchmark, sample and abstain flag, keeping
  pairs where neither row is an error. ``flip_rate`` is the share of pairs whose correctness differs;
  ``flip_to_wrong`` the share of pairs where base was correct and the variant is wrong (same
  denominator, so ``flip_rate - flip_to_wrong`` is the share repaired). For `base` itself both are NaN:
  a variant compared with itself is no perturbation, and a 0 would read as "perfectly robust".
* **Quadrant shares** are over scored rows; ``share_undecided`` holds rows whose quadrant is null
  (think without conclusion, unjudged), so the five shares sum to 1.
* **Mean H / mean P(correct)** average scored rows where the value is present (uncertainty may be
  missing, e.g. for API backends).
* **AUROC** scores each pair by the `base` row's P(correct) or −H and asks how well that ranks
  "correct under this variant" (label over all pairs, not only base-correct ones; unparsed = wrong).
  A label with one class or fewer than two usable pairs gives NaN and a reason in ``auroc_note``;
  sklearn's version-dependent single-class behaviour is never reached.
* **Open-ended benchmarks** (rows with ``task == "open"``, when the column exists) have no option
  letters: accuracy, flips and quadrants are computed as above from ``correct`` (normalised match)
  and the open rule judge, while mean H, mean P(correct) and both AUROCs are NaN and ``auroc_note``
  says why. A benchmark is open or not as a whole, so open rows never share a group with letter rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from robustcot.data.adapters.open_ended import NO_LETTERS_NOTE

BASE_VARIANT = "base"

#: The four judged quadrants, in report order.
QUADRANTS = ("consistent_correct", "consistent_incorrect", "inconsistent_correct", "inconsistent_incorrect")

#: Columns of the records table this module reads.
REQUIRED_COLUMNS = (
    "sample_id", "benchmark", "variant", "abstain", "status", "correct", "entropy", "p_correct", "quadrant",
)

_PAIR_KEYS = ["benchmark", "sample_id", "abstain"]
_ROW_KEYS = ["benchmark", "sample_id", "variant", "abstain"]


@dataclass(frozen=True)
class VariantMetrics:
    """Metrics of one (benchmark, variant, abstain) group; one row of :func:`variant_metrics`."""

    benchmark: str | None
    variant: str
    abstain: bool
    n: int
    n_scored: int
    n_errors: int
    n_unparsed: int
    n_correct: int
    accuracy: float
    acc_low: float
    acc_high: float
    n_paired: int
    flip_rate: float
    flip_to_wrong: float
    flip_note: str
    share_consistent_correct: float
    share_consistent_incorrect: float
    share_inconsistent_correct: float
    share_inconsistent_incorrect: float
    share_undecided: float
    n_uncertainty: int
    mean_entropy: float
    mean_p_correct: float
    n_auroc: int
    auroc_p_base: float
    auroc_neg_entropy: float
    auroc_note: str


METRIC_COLUMNS = [f.name for f in fields(VariantMetrics)]


def auroc_or_nan(labels: pd.Series | np.ndarray, scores: pd.Series | np.ndarray) -> tuple[float, str]:
    """AUROC of ``scores`` for boolean ``labels`` over rows where both are present, or NaN and why.

    The degenerate cases are decided here rather than by sklearn, whose single-class behaviour has
    changed between versions (error, then 0.0 with a warning, then NaN).
    """
    frame = pd.DataFrame(
        {
            "y": pd.array(np.asarray(labels, dtype=object), dtype="boolean"),
            "s": np.asarray(scores, dtype=float),
        }
    ).dropna()
    if len(frame) < 2:
        return float("nan"), f"{len(frame)} usable row(s), need at least 2"
    n_pos = int(frame["y"].sum())
    if n_pos == len(frame):
        return float("nan"), "single class: all correct"
    if n_pos == 0:
        return float("nan"), "single class: all wrong"
    return float(roc_auc_score(frame["y"].astype(bool), frame["s"].astype(float))), ""


def variant_metrics(records: pd.DataFrame) -> pd.DataFrame:
    """One row of :class:`VariantMetrics` per (benchmark, variant, abstain); see the module docstring.

    Rows are ordered by benchmark, then `base` first and other variants in order of first appearance,
    then abstain off before on.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing}")
    if records.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    duplicated = records.duplicated(_ROW_KEYS, keep=False)
    if duplicated.any():
        first = records.loc[duplicated, _ROW_KEYS].iloc[0].tolist()
        raise ValueError(f"records hold duplicate rows for (benchmark, sample_id, variant, abstain) = {first}")

    frame = _with_base(_normalise(records))
    has_base = bool((frame["variant"] == BASE_VARIANT).any())
    order = {v: i for i, v in enumerate(_variant_order(frame["variant"]))}
    groups = frame.groupby(["benchmark", "variant", "abstain"], dropna=False, sort=False)
    rows = [_group_metrics(key, group, has_base) for key, group in groups]
    open_names = open_benchmarks(records)
    rows = [replace(m, auroc_note=NO_LETTERS_NOTE) if m.benchmark in open_names else m for m in rows]
    rows.sort(key=lambda m: (str(m.benchmark), order[m.variant], m.abstain))
    return pd.DataFrame([asdict(m) for m in rows], columns=METRIC_COLUMNS)


def open_benchmarks(records: pd.DataFrame) -> set[str]:
    """Benchmarks with open-ended rows (``task == "open"``); none when the column predates them."""
    if "task" not in records.columns:
        return set()
    return {str(b) for b in records.loc[records["task"].eq("open").fillna(False).astype(bool), "benchmark"].dropna()}


def _normalise(records: pd.DataFrame) -> pd.DataFrame:
    """Typed working columns: ``is_error``, ``unparsed`` and ``right`` (correct, unparsed = False)."""
    frame = records.loc[:, list(REQUIRED_COLUMNS)].copy()
    frame["abstain"] = frame["abstain"].astype(bool)
    frame["is_error"] = frame["status"].eq("error").fillna(False).astype(bool)
    correct = frame["correct"].astype("boolean")
    frame["unparsed"] = correct.isna() & ~frame["is_error"]
    frame["right"] = correct.fillna(False).astype(bool)
    frame["entropy"] = pd.to_numeric(frame["entropy"]).astype(float)
    frame["p_correct"] = pd.to_numeric(frame["p_correct"]).astype(float)
    return frame


def _with_base(frame: pd.DataFrame) -> pd.DataFrame:
    """Attach the scored `base` row of the same benchmark/sample/abstain flag as ``base_*`` columns."""
    base = frame[(frame["variant"] == BASE_VARIANT) & ~frame["is_error"]]
    base = base[[*_PAIR_KEYS, "right", "p_correct", "entropy"]].rename(
        columns={"right": "base_right", "p_correct": "base_p_correct", "entropy": "base_entropy"}
    )
    base["has_base"] = True
    merged = frame.merge(base, on=_PAIR_KEYS, how="left")
    merged["has_base"] = merged["has_base"].fillna(False).astype(bool)
    return merged


def _variant_order(variants: pd.Series) -> list[str]:
    """`base` first, then the others as they first appear, so tables follow the run's own order."""
    seen = list(dict.fromkeys(variants.tolist()))
    return sorted(seen, key=lambda v: v != BASE_VARIANT)


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")


def _group_metrics(key: tuple, group: pd.DataFrame, has_base: bool) -> VariantMetrics:
    """All metrics of one group, whose rows already carry their `base` partner's columns."""
    benchmark, variant, abstain = key
    scored = group[~group["is_error"]]
    n_scored = len(scored)
    n_correct = int(scored["right"].sum())
    if n_scored:
        acc_low, acc_high = proportion_confint(n_correct, n_scored, alpha=0.05, method="wilson")
    else:
        acc_low = acc_high = float("nan")

    quadrant = scored["quadrant"]
    unknown = set(quadrant.dropna()) - set(QUADRANTS)
    if unknown:
        raise ValueError(f"unknown quadrant label(s) {sorted(unknown)} in variant {variant!r}")
    shares = {q: _share(int((quadrant == q).sum()), n_scored) for q in QUADRANTS}

    pairs = scored[scored["has_base"]]
    base_right = pairs["base_right"].astype(bool)
    flip_rate, flip_to_wrong, flip_note = _flips(variant, has_base, pairs["right"], base_right)
    auroc_p, note_p = auroc_or_nan(pairs["right"], pairs["base_p_correct"])
    auroc_h, note_h = auroc_or_nan(pairs["right"], -pairs["base_entropy"])
    usable = pairs[["base_p_correct", "base_entropy"]].notna().any(axis=1)

    return VariantMetrics(
        benchmark=None if pd.isna(benchmark) else str(benchmark),
        variant=str(variant),
        abstain=bool(abstain),
        n=len(group),
        n_scored=n_scored,
        n_errors=int(group["is_error"].sum()),
        n_unparsed=int(scored["unparsed"].sum()),
        n_correct=n_correct,
        accuracy=_share(n_correct, n_scored),
        acc_low=float(acc_low),
        acc_high=float(acc_high),
        n_paired=len(pairs),
        flip_rate=flip_rate,
        flip_to_wrong=flip_to_wrong,
        flip_note=flip_note,
        **{f"share_{q}": s for q, s in shares.items()},
        share_undecided=_share(int(quadrant.isna().sum()), n_scored),
        n_uncertainty=int(scored["entropy"].notna().sum()),
        mean_entropy=float(scored["entropy"].mean()),
        mean_p_correct=float(scored["p_correct"].mean()),
        n_auroc=int(usable.sum()),
        auroc_p_base=auroc_p,
        auroc_neg_entropy=auroc_h,
        auroc_note=_auroc_note(has_base, note_p, note_h),
    )


def _flips(variant: str, has_base: bool, right: pd.Series, base_right: pd.Series) -> tuple[float, float, str]:
    """(flip_rate, flip_to_wrong, note) over the scored pairs with `base`."""
    if not has_base:
        return float("nan"), float("nan"), "no base variant in records"
    if variant == BASE_VARIANT:
        return float("nan"), float("nan"), "reference variant"
    if right.empty:
        return float("nan"), float("nan"), "no sample scored in both base and this variant"
    flipped = int((right != base_right).sum())
    to_wrong = int((base_right & ~right).sum())
    return flipped / len(right), to_wrong / len(right), ""


def _auroc_note(has_base: bool, note_p: str, note_h: str) -> str:
    """One note for both AUROCs, naming the score only when the two reasons differ."""
    if not has_base:
        return "no base variant in records"
    if note_p == note_h:
        return note_p
    return "; ".join(f"{name}: {note}" for name, note in (("P_base", note_p), ("−H", note_h)) if note)
