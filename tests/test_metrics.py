"""Per-variant metrics checked against hand counts and textbook formulas."""

from __future__ import annotations

import math
from itertools import product
from statistics import NormalDist

import pandas as pd
import pytest

from robustcot.analysis.metrics import METRIC_COLUMNS, auroc_or_nan, variant_metrics
from robustcot.records import COLUMNS, record_key


def make_records(rows: list[dict]) -> pd.DataFrame:
    """A records table with every schema column; unspecified fields get neutral defaults."""
    full = []
    for row in rows:
        r = dict.fromkeys(COLUMNS)
        r.update(benchmark="bench", variant="base", abstain=False, status="ok")
        r.update(row)
        r["key"] = record_key(r["sample_id"], r["variant"], r["abstain"])
        full.append(r)
    return pd.DataFrame(full, columns=COLUMNS)


def only(metrics: pd.DataFrame, variant: str, abstain: bool = False) -> pd.Series:
    selected = metrics[(metrics["variant"] == variant) & (metrics["abstain"] == abstain)]
    assert len(selected) == 1
    return selected.iloc[0]


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval, written out from the formula."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def pairwise_auroc(labels: list[bool], scores: list[float]) -> float:
    """P(score_pos > score_neg) + ½ P(tie), by counting every positive/negative pair."""
    pos = [s for y, s in zip(labels, scores, strict=True) if y]
    neg = [s for y, s in zip(labels, scores, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_accuracy_and_wilson_interval_match_formula() -> None:
    correct = [True] * 7 + [False] * 3
    m = only(variant_metrics(make_records([{"sample_id": f"s{i}", "correct": c} for i, c in enumerate(correct)])), "base")
    assert (m["n"], m["n_scored"], m["n_correct"]) == (10, 10, 7)
    assert m["accuracy"] == pytest.approx(0.7)
    low, high = wilson(7, 10)
    assert m["acc_low"] == pytest.approx(low)
    assert m["acc_high"] == pytest.approx(high)
    assert m["acc_low"] < 0.7 < m["acc_high"]


def test_errors_leave_denominator_and_unparsed_count_as_wrong() -> None:
    rows = [{"sample_id": f"ok{i}", "correct": True} for i in range(6)]
    rows += [{"sample_id": f"np{i}", "correct": None, "status": "no_answer_tag"} for i in range(2)]
    rows += [{"sample_id": f"err{i}", "correct": None, "status": "error", "error": "bad image"} for i in range(2)]
    m = only(variant_metrics(make_records(rows)), "base")
    assert (m["n"], m["n_scored"], m["n_errors"], m["n_unparsed"]) == (10, 8, 2, 2)
    assert m["accuracy"] == pytest.approx(6 / 8)
    low, high = wilson(6, 8)
    assert (m["acc_low"], m["acc_high"]) == (pytest.approx(low), pytest.approx(high))


def test_flip_rate_pairs_with_base_by_sample() -> None:
    base = [True, True, True, False, False]
    pert = [True, False, False, True, False]  # flips: s1, s2 (to wrong), s3 (to right)
    rows = [{"sample_id": f"s{i}", "correct": c} for i, c in enumerate(base)]
    rows += [{"sample_id": f"s{i}", "variant": "wrong_think", "correct": c} for i, c in enumerate(pert)]
    rows.append({"sample_id": "s5", "correct": True})
    rows.append({"sample_id": "s5", "variant": "wrong_think", "status": "error"})  # no pair: variant error
    rows.append({"sample_id": "s6", "variant": "wrong_think", "correct": False})  # no pair: no base row
    rows.append({"sample_id": "s7", "status": "error"})
    rows.append({"sample_id": "s7", "variant": "wrong_think", "correct": True})  # no pair: base error
    metrics = variant_metrics(make_records(rows))

    m = only(metrics, "wrong_think")
    assert m["n_paired"] == 5
    assert m["flip_rate"] == pytest.approx(3 / 5)
    assert m["flip_to_wrong"] == pytest.approx(2 / 5)
    assert m["flip_note"] == ""

    b = only(metrics, "base")
    assert math.isnan(b["flip_rate"]) and math.isnan(b["flip_to_wrong"])
    assert b["flip_note"] == "reference variant"


def test_unparsed_variant_answer_counts_as_flip_to_wrong() -> None:
    rows = [
        {"sample_id": "a", "correct": True},
        {"sample_id": "a", "variant": "stop_think", "correct": None, "status": "unparseable"},
    ]
    m = only(variant_metrics(make_records(rows)), "stop_think")
    assert (m["flip_rate"], m["flip_to_wrong"], m["n_unparsed"]) == (1.0, 1.0, 1)


def test_abstain_groups_are_separate_and_pair_within_flag() -> None:
    rows = []
    for abstain, base_ok in ((False, True), (True, False)):
        rows.append({"sample_id": "a", "abstain": abstain, "correct": base_ok})
        rows.append({"sample_id": "a", "abstain": abstain, "variant": "wrong_caption", "correct": False})
    metrics = variant_metrics(make_records(rows))
    assert len(metrics) == 4
    assert only(metrics, "wrong_caption", False)["flip_rate"] == 1.0
    assert only(metrics, "wrong_caption", True)["flip_rate"] == 0.0
    assert only(metrics, "base", False)["accuracy"] == 1.0
    assert only(metrics, "base", True)["accuracy"] == 0.0


def test_auroc_matches_pairwise_count_with_ties() -> None:
    p_base = [0.9, 0.8, 0.8, 0.3, 0.3, 0.1]
    h_base = [0.2, 0.5, 0.5, 0.9, 0.7, 1.1]
    labels = [True, True, False, True, False, False]
    rows = []
    for i, (p, h, y) in enumerate(zip(p_base, h_base, labels, strict=True)):
        rows.append({"sample_id": f"s{i}", "correct": True, "p_correct": p, "entropy": h})
        rows.append({"sample_id": f"s{i}", "variant": "wrong_think", "correct": y, "p_correct": 0.5, "entropy": 3.0})
    m = only(variant_metrics(make_records(rows)), "wrong_think")
    # Positives 0.9, 0.8, 0.3 against negatives 0.8, 0.3, 0.1: 3 + 2.5 + 1.5 wins of 9 pairs.
    assert m["auroc_p_base"] == pytest.approx(7 / 9)
    assert m["auroc_p_base"] == pytest.approx(pairwise_auroc(labels, p_base))
    assert m["auroc_neg_entropy"] == pytest.approx(pairwise_auroc(labels, [-h for h in h_base]))
    assert m["n_auroc"] == 6
    assert m["auroc_note"] == ""
    # The variant's own uncertainty is averaged, not the base row's.
    assert (m["mean_entropy"], m["mean_p_correct"]) == (pytest.approx(3.0), pytest.approx(0.5))


def test_auroc_single_class_is_nan_with_note() -> None:
    rows = []
    for i, p in enumerate([0.9, 0.4, 0.6]):
        rows.append({"sample_id": f"s{i}", "correct": True, "p_correct": p, "entropy": 1 - p})
        rows.append({"sample_id": f"s{i}", "variant": "stop_think", "correct": True})
    metrics = variant_metrics(make_records(rows))
    for variant in ("base", "stop_think"):
        m = only(metrics, variant)
        assert math.isnan(m["auroc_p_base"]) and math.isnan(m["auroc_neg_entropy"])
        assert m["auroc_note"] == "single class: all correct"


def test_auroc_without_base_uncertainty_is_nan() -> None:
    rows = [
        {"sample_id": "a", "correct": True},
        {"sample_id": "b", "correct": False},
        {"sample_id": "a", "variant": "wrong_think", "correct": True},
        {"sample_id": "b", "variant": "wrong_think", "correct": False},
    ]
    m = only(variant_metrics(make_records(rows)), "wrong_think")
    assert math.isnan(m["auroc_p_base"])
    assert m["n_auroc"] == 0
    assert "0 usable" in m["auroc_note"]
    assert math.isnan(m["mean_entropy"]) and m["n_uncertainty"] == 0


def test_auroc_or_nan_guards() -> None:
    assert auroc_or_nan([True, False], [0.2, 0.1]) == (1.0, "")
    value, note = auroc_or_nan([False, False, None], [0.1, 0.2, 0.3])
    assert math.isnan(value) and note == "single class: all wrong"
    value, note = auroc_or_nan([True, False], [0.5, float("nan")])
    assert math.isnan(value) and note.startswith("1 usable")


def test_missing_base_gives_nan_with_notes() -> None:
    rows = [{"sample_id": f"s{i}", "variant": "wrong_think", "correct": i % 2 == 0, "p_correct": 0.5} for i in range(4)]
    m = only(variant_metrics(make_records(rows)), "wrong_think")
    assert m["accuracy"] == 0.5
    assert math.isnan(m["flip_rate"]) and math.isnan(m["auroc_p_base"])
    assert m["flip_note"] == m["auroc_note"] == "no base variant in records"


def test_quadrant_shares_over_scored_rows() -> None:
    quadrants = ["consistent_correct"] * 3 + ["inconsistent_incorrect", None, None]
    rows = [{"sample_id": f"s{i}", "correct": True, "quadrant": q} for i, q in enumerate(quadrants)]
    rows.append({"sample_id": "err", "status": "error"})
    m = only(variant_metrics(make_records(rows)), "base")
    assert m["share_consistent_correct"] == pytest.approx(3 / 6)
    assert m["share_inconsistent_incorrect"] == pytest.approx(1 / 6)
    assert m["share_consistent_incorrect"] == 0.0
    assert m["share_undecided"] == pytest.approx(2 / 6)
    shares = [c for c in METRIC_COLUMNS if c.startswith("share_")]
    assert m[shares].sum() == pytest.approx(1.0)


def test_unknown_quadrant_label_raises() -> None:
    with pytest.raises(ValueError, match="maybe"):
        variant_metrics(make_records([{"sample_id": "a", "correct": True, "quadrant": "maybe"}]))


def test_mean_uncertainty_skips_missing_values() -> None:
    rows = [
        {"sample_id": "a", "correct": True, "entropy": 0.2, "p_correct": 0.9},
        {"sample_id": "b", "correct": False, "entropy": 0.6, "p_correct": 0.3},
        {"sample_id": "c", "correct": False},
        {"sample_id": "d", "status": "error", "entropy": 9.0, "p_correct": 0.0},
    ]
    m = only(variant_metrics(make_records(rows)), "base")
    assert m["n_uncertainty"] == 2
    assert m["mean_entropy"] == pytest.approx(0.4)
    assert m["mean_p_correct"] == pytest.approx(0.6)


def test_benchmarks_grouped_and_never_paired_across() -> None:
    rows = [
        {"sample_id": "a", "benchmark": "one", "correct": True},
        {"sample_id": "a", "benchmark": "one", "variant": "stop_think", "correct": True},
        {"sample_id": "a", "benchmark": "two", "correct": False},
        {"sample_id": "a", "benchmark": "two", "variant": "stop_think", "correct": False},
    ]
    metrics = variant_metrics(make_records(rows))
    assert list(zip(metrics["benchmark"], metrics["variant"], strict=True)) == [
        ("one", "base"), ("one", "stop_think"), ("two", "base"), ("two", "stop_think"),
    ]
    assert (metrics.loc[metrics["variant"] == "stop_think", "flip_rate"] == 0.0).all()


def test_rows_ordered_base_first_then_appearance() -> None:
    rows = [
        {"sample_id": "a", "variant": "wrong_think", "correct": True},
        {"sample_id": "a", "variant": "stop_think", "abstain": True, "correct": True},
        {"sample_id": "a", "variant": "stop_think", "correct": True},
        {"sample_id": "a", "correct": True},
    ]
    metrics = variant_metrics(make_records(rows))
    assert list(zip(metrics["variant"], metrics["abstain"], strict=True)) == [
        ("base", False), ("wrong_think", False), ("stop_think", False), ("stop_think", True),
    ]


def test_empty_records_give_empty_table_with_columns() -> None:
    metrics = variant_metrics(make_records([]))
    assert metrics.empty
    assert list(metrics.columns) == METRIC_COLUMNS


def test_bad_input_is_rejected() -> None:
    records = make_records([{"sample_id": "a", "correct": True}])
    with pytest.raises(ValueError, match="quadrant"):
        variant_metrics(records.drop(columns=["quadrant"]))
    with pytest.raises(ValueError, match="duplicate"):
        variant_metrics(pd.concat([records, records]))
