"""The report's statistics against hand-computed cases and reference libraries (sklearn, statsmodels, scipy)."""

from __future__ import annotations

import json
from itertools import permutations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from robustcot.analysis.browser import prompt_diff, script_json
from robustcot.analysis.selective import selective_accuracy
from robustcot.analysis.stats import (
    auroc_replicates,
    bootstrap_weights,
    fleiss_kappa_from_sums,
    fleiss_unit_sums,
    holm,
    mcnemar_exact,
    percentile_interval,
    ratio_replicates,
)


def test_auroc_hand_case_with_a_tie() -> None:
    # Positives 0.35, 0.8; negatives 0.1, 0.35: wins 1 + ½ (tie) + 1 + 1 of 4 pairs.
    auc = auroc_replicates(np.array([0.1, 0.35, 0.35, 0.8]), np.array([0, 0, 1, 1]), np.ones((1, 4)))
    assert auc[0, 0] == pytest.approx(3.5 / 4)


def test_auroc_replicates_match_sklearn_sample_weights() -> None:
    rng = np.random.default_rng(1)
    n = 400
    scores = np.round(rng.normal(size=n), 1)  # many ties
    scores[:4] = np.nan
    labels = (rng.random((n, 3)) < 0.4).astype(float)
    labels[rng.random((n, 3)) < 0.1] = np.nan  # units missing from some comparisons
    weights = bootstrap_weights(n, 6, rng)
    got = auroc_replicates(scores, labels, weights)
    for b in range(6):
        for j in range(3):
            keep = np.isfinite(scores) & np.isfinite(labels[:, j])
            expected = roc_auc_score(labels[keep, j], scores[keep], sample_weight=weights[b, keep])
            assert got[b, j] == pytest.approx(expected, abs=1e-12)


def test_auroc_single_class_replicate_is_nan() -> None:
    scores = np.array([0.2, 0.9, 0.4])
    labels = np.array([0, 1, 1])
    weights = np.array([[0, 2, 1], [1, 1, 1]], dtype=float)  # first resample drew no negative
    got = auroc_replicates(scores, labels, weights)[:, 0]
    assert np.isnan(got[0])
    assert got[1] == pytest.approx(1.0)
    interval = percentile_interval(got)
    assert (interval.n_valid, interval.n_skipped) == (1, 1)


def test_bootstrap_weights_are_resamples_of_n() -> None:
    weights = bootstrap_weights(50, 300, np.random.default_rng(0))
    assert weights.shape == (300, 50)
    assert np.all(weights.sum(axis=1) == 50)
    assert np.array_equal(weights, bootstrap_weights(50, 300, np.random.default_rng(0)))
    assert weights.mean() == pytest.approx(1.0)


def test_ratio_replicates_mean_and_empty_denominator() -> None:
    values = np.array([1.0, 0.0, 1.0, 1.0])
    ones = np.ones(4)
    weights = np.array([[1, 1, 1, 1], [0, 4, 0, 0], [0, 0, 0, 0]], dtype=float)
    got = ratio_replicates(values, ones, weights)
    assert got[0] == pytest.approx(0.75)
    assert got[1] == 0.0
    assert np.isnan(got[2])


def test_percentile_bootstrap_of_a_mean_agrees_with_scipy() -> None:
    rng = np.random.default_rng(3)
    data = rng.exponential(size=200)
    ours = percentile_interval(ratio_replicates(data, np.ones_like(data), bootstrap_weights(200, 4000, rng)))
    ref = sps.bootstrap((data,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(4))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.03)


def test_fleiss_kappa_matches_statsmodels_and_duplication() -> None:
    rng = np.random.default_rng(5)
    ratings = rng.integers(0, 3, size=(60, 3))
    ratings[:30, 1] = ratings[:30, 0]  # some agreement
    table, _ = aggregate_raters(ratings, n_cat=3)
    unit = np.arange(60) // 2  # two subjects per unit
    sums = fleiss_unit_sums(table, unit, 30)
    assert fleiss_kappa_from_sums(sums.sum(axis=0), 3)[0] == pytest.approx(fleiss_kappa(table, method="fleiss"))
    # Weight 2 on unit 0 and 0 on unit 1 is the table with unit 0's subjects twice and unit 1's gone.
    weights = np.ones((1, 30))
    weights[0, 0], weights[0, 1] = 2, 0
    duplicated = np.vstack([table[:2], table[:2], table[4:]])
    assert fleiss_kappa_from_sums(weights @ sums, 3)[0] == pytest.approx(fleiss_kappa(duplicated, method="fleiss"))


def test_fleiss_kappa_undefined_when_one_category() -> None:
    table = np.array([[3, 0, 0]] * 5)
    sums = fleiss_unit_sums(table, np.arange(5), 5)
    assert np.isnan(fleiss_kappa_from_sums(sums.sum(axis=0), 3)[0])


def test_mcnemar_exact_hand_case_and_scipy() -> None:
    # b=1, c=9: two-sided exact p = 2·P(X ≤ 1), X ~ Bin(10, ½) = 2·11/1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(7, 3) == pytest.approx(sps.binomtest(3, 10, 0.5).pvalue)
    assert np.isnan(mcnemar_exact(0, 0))


def test_holm_hand_case_keeps_nan() -> None:
    got = holm(np.array([0.01, 0.04, np.nan, 0.03]))
    assert got[0] == pytest.approx(0.03)
    assert got[1] == pytest.approx(0.06)
    assert np.isnan(got[2])
    assert got[3] == pytest.approx(0.06)


def test_selective_accuracy_hand_case() -> None:
    # Sorted by confidence: 0.9 ✓, 0.8 ✗, 0.7 ✓, 0.1 ✗.
    got = selective_accuracy(np.array([0.1, 0.9, 0.7, 0.8]), np.array([0, 1, 1, 0]))
    assert got == pytest.approx([1.0, 0.5, 2 / 3, 0.5])


def test_selective_accuracy_averages_ties_like_random_tie_breaking() -> None:
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.2])
    correct = np.array([1, 1, 0, 0, 1])
    got = selective_accuracy(scores, correct)
    tied = [1, 0, 0]
    for k in range(1, 6):  # expected accuracy over every order of the tied block
        accs = []
        for perm in permutations(tied):
            order = [1, *perm, 1]
            accs.append(sum(order[:k]) / k)
        assert got[k - 1] == pytest.approx(np.mean(accs))


def test_prompt_diff_starts_the_insertion_where_a_reader_would() -> None:
    base = "<u>Is the cat left?\nA. yes<e>"
    text = "<u>Image caption: It is.\nIs the cat left?\nA. yes<e>"
    prefix, inserted, suffix = prompt_diff(base, text)
    assert inserted == "Image caption: It is.\n"
    assert base[:prefix] + inserted + base[len(base) - suffix:] == text


def test_script_json_cannot_close_its_script_element() -> None:
    payload = {"response": '</script><img src=x onerror="alert(1)">&amp;\u2028', "n": [1, None]}
    text = script_json(payload)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == payload
