"""Statistics behind the report's intervals and tests, vectorised over bootstrap replicates.

**Resampling unit.** Rows of one sample (its variants and abstain settings) are repeated measures of
the same question, so the bootstrap resamples *samples* within each (model, benchmark) stratum and
every statistic of that stratum is computed under the same replicate weights. This keeps paired
comparisons paired (base vs variant, abstain off vs on) and makes a replicate a multiplicity vector
``w`` (how often each sample was drawn) rather than a list of rows. Every statistic here is written
as a function of such weights, so ``B`` replicates become a few matrix products instead of ``B``
Python calls; a weight vector of ones gives the ordinary (point) estimate, which is how the tests
compare each function with its reference library.

**Intervals** are percentile intervals over the replicates that are defined. A replicate can be
undefined (an AUROC whose resample holds one class only, a κ whose chance agreement is 1); such
replicates are skipped, never imputed, and the number skipped is returned with the interval.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from threadpoolctl import threadpool_limits

#: Replicates processed at once; bounds the temporary (chunk × n) matrices to a few MB per 10k samples.
_CHUNK = 64


def stratum_rng(seed: int, *key: str) -> np.random.Generator:
    """A generator fixed by ``seed`` and the stratum's names, independent of processing order.

    Tables built in a different order, or from a subset of runs, keep each stratum's intervals.
    """
    digest = hashlib.sha256("\x00".join([str(seed), *key]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` multinomial counts: replicate ``b`` draws ``n`` of ``n`` units with replacement."""
    out = np.zeros((n_boot, n), dtype=np.float64)
    if n == 0:
        return out
    for lo in range(0, n_boot, _CHUNK):
        hi = min(lo + _CHUNK, n_boot)
        draws = rng.integers(0, n, size=(hi - lo, n)) + (np.arange(hi - lo)[:, None] * n)
        out[lo:hi] = np.bincount(draws.ravel(), minlength=(hi - lo) * n).reshape(hi - lo, n)
    return out


@dataclass(frozen=True)
class Interval:
    """A percentile interval over the defined replicates; ``n_skipped`` were undefined."""

    low: float
    high: float
    n_valid: int
    n_skipped: int


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> Interval:
    """Percentile interval of the finite replicates (NaN bounds when none is finite)."""
    finite = replicates[np.isfinite(replicates)]
    skipped = len(replicates) - len(finite)
    if len(finite) == 0:
        return Interval(float("nan"), float("nan"), 0, skipped)
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(float(low), float(high), len(finite), skipped)


def ratio_replicates(numerator: np.ndarray, denominator: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``Σ w·num / Σ w·den`` per replicate and column; NaN where the weighted denominator is 0.

    ``numerator``/``denominator`` are per-unit sums, shape ``(n,)`` or ``(n, k)`` for ``k``
    statistics sharing the weights (a mean is num = values, den = 1; a paired difference of
    proportions is num = right_variant - right_base, den = 1 per pair).
    """
    num = weights @ numerator
    den = weights @ denominator
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def auroc_replicates(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted AUROC of ``scores`` for each column of ``labels`` under each row of ``weights``.

    ``labels`` is ``(n, k)`` with 1 (positive), 0 (negative) or NaN (unit not in this comparison);
    ``weights`` is ``(B, n)``. Returns ``(B, k)``, NaN where a replicate has no positive or no
    negative weight. AUROC is P(score₊ > score₋) + ½ P(tie) with units counted by their weights,
    which equals sklearn's ``roc_auc_score(..., sample_weight=w)``.

    The label columns (one per variant) share the units and their score order, so the work is
    arranged to share one cumulative sum per replicate. With units grouped into tied score levels
    ℓ and P, N, M, A the weights of positives, negatives, unlabelled and all units of a level, the
    Mann-Whitney numerator Σℓ Pℓ(N<ℓ + ½Nℓ) expands, using N = A − P − M, into

    * Σℓ Pℓ(A<ℓ + ½Aℓ): one cumulative sum over all units, then a matrix product with every column;
    * minus ½(ΣP)²: the positives paired with themselves, in closed form;
    * minus Σ over unlabelled units of their weight times the positive weight above them (+½ tied):
      unlabelled units are few (error rows), and these sums are one sparse product.

    A replicate so costs a few passes over ``n`` for all columns together, not a sort per column.
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float).reshape(len(scores), -1)
    keep = np.flatnonzero(np.isfinite(scores))
    k = labels.shape[1]
    out = np.full((weights.shape[0], k), np.nan)
    if len(keep) == 0:
        return out
    idx = keep[np.argsort(scores[keep], kind="stable")]
    ordered = scores[idx]
    new_level = np.r_[True, ordered[1:] != ordered[:-1]]
    level_of = np.cumsum(new_level) - 1
    level_end = np.r_[np.flatnonzero(new_level)[1:], len(ordered)] - 1
    has_ties = len(level_end) < len(ordered)
    pos = (labels[idx] == 1).astype(float)
    present = (pos + (labels[idx] == 0)).astype(float)
    unlabelled = _unlabelled_terms(pos, present, level_of)
    pos_present = np.hstack([pos, present])
    chunk = min(_CHUNK, weights.shape[0])
    w_buf, c_buf, t_buf = (np.empty((chunk, len(idx))) for _ in range(3))  # reused: no page faults per chunk
    # The products here are skinny (n × 2k); a second BLAS thread only contends with the first.
    with threadpool_limits(1, user_api="blas"):
        for lo in range(0, weights.shape[0], chunk):
            h = min(chunk, weights.shape[0] - lo)
            w, cum, tmp = w_buf[:h], c_buf[:h], t_buf[:h]
            np.take(weights[lo : lo + h], idx, axis=1, out=w, mode="clip")  # clip: no output buffering
            np.cumsum(w, axis=1, out=cum)
            if has_ties:  # cum ← weight of lower levels + ½ weight of the unit's own level
                at_end = cum[:, level_end]
                at_end -= 0.5 * np.diff(at_end, axis=1, prepend=0.0)
                np.take(at_end, level_of, axis=1, out=cum, mode="clip")
            else:
                np.multiply(w, 0.5, out=tmp)
                cum -= tmp
            cum *= w
            w_pos, w_present = np.hsplit(w @ pos_present, 2)
            w_neg = w_present - w_pos
            num = cum @ pos - 0.5 * w_pos**2 - unlabelled(w)
            den = w_pos * w_neg
            out[lo : lo + h] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _unlabelled_terms(pos: np.ndarray, present: np.ndarray, level_of: np.ndarray):
    """A function of replicate weights giving, per column, Σ_unlabelled w·(positive weight above + ½ tied).

    For each column the positives are binned by where their level falls among the distinct levels
    of that column's unlabelled units (strictly between two of them, or equal to one); one sparse
    matrix maps units to bins for every column, so a chunk of replicates costs one sparse product.
    """
    n, k = pos.shape
    rows, cols, blocks = [], [], []
    offset = 0
    for j in range(k):
        missing = np.flatnonzero(present[:, j] == 0)
        if len(missing) == 0:
            continue
        levels, miss_bin = np.unique(level_of[missing], return_inverse=True)
        q = len(levels)
        positives = np.flatnonzero(pos[:, j])
        below = np.searchsorted(levels, level_of[positives], side="left")
        equal = (below < q) & (levels[np.minimum(below, q - 1)] == level_of[positives])
        rows += [positives, missing]
        cols += [offset + 2 * below + equal, offset + 2 * q + 1 + miss_bin]
        blocks.append((j, offset, q))
        offset += 3 * q + 1
    if not blocks:
        return lambda w: 0.0
    matrix = sparse.csr_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))), shape=(n, offset)
    ).T.tocsr()

    def terms(w: np.ndarray) -> np.ndarray:
        sums = (matrix @ w.T).T
        out = np.zeros((w.shape[0], k))
        for j, start, q in blocks:
            bins = sums[:, start : start + 2 * q + 1]
            above = np.cumsum(bins[:, ::-1], axis=1)[:, ::-1]  # positive weight in bins ≥ b
            tied = bins[:, 1 : 2 * q : 2]
            higher = above[:, 2 : 2 * q + 1 : 2]
            out[:, j] = (sums[:, start + 2 * q + 1 : start + 3 * q + 1] * (higher + 0.5 * tied)).sum(axis=1)
        return out

    return terms


def fleiss_unit_sums(counts: np.ndarray, unit: np.ndarray, n_units: int) -> np.ndarray:
    """Per-unit sums that Fleiss' κ is a function of: ``(n_units, 2 + n_categories)``.

    ``counts`` is ``(n_subjects, n_categories)``: how many raters put each subject in each category
    (every row sums to the same number of raters m ≥ 2); ``unit[i]`` is the bootstrap unit of
    subject ``i`` (its sample), so all rows of a resampled sample move together. Columns: summed
    per-subject agreement P_i = (Σ_j n_ij² − m) / (m(m − 1)), subject count, summed category counts.
    Sums of several strata add, which is how κ pools benchmarks under per-stratum weights.
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    if len(m) and not np.all(m == m[0]):
        raise ValueError("every subject needs the same number of ratings")
    raters = m[0] if len(m) else 0
    if raters < 2:
        raise ValueError("Fleiss' κ needs at least two ratings per subject")
    agreement = ((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))
    return np.column_stack([
        np.bincount(unit, weights=agreement, minlength=n_units),
        np.bincount(unit, minlength=n_units).astype(float),
        *(np.bincount(unit, weights=counts[:, j], minlength=n_units) for j in range(counts.shape[1])),
    ])


def fleiss_kappa_from_sums(sums: np.ndarray, raters: int) -> np.ndarray:
    """Fleiss' κ from weighted :func:`fleiss_unit_sums` (``(B, 2 + k)``, or ``(2 + k,)`` for one).

    κ = (P̄ − P̄e) / (1 − P̄e) with P̄ the mean per-subject agreement and P̄e the sum of squared
    category shares; NaN where there is no subject or P̄e = 1 (every rating in one category).
    """
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    n_subjects = sums[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bar = sums[:, 0] / n_subjects
        shares = sums[:, 2:] / (n_subjects[:, None] * raters)
        p_e = (shares**2).sum(axis=1)
        kappa = (p_bar - p_e) / (1 - p_e)
    return np.where((n_subjects > 0) & ~np.isclose(p_e, 1.0), kappa, np.nan)


def mcnemar_exact(n_base_only: int, n_variant_only: int) -> float:
    """Exact (binomial) McNemar p-value from the two discordant counts; NaN when there is none.

    Only the discordant pairs inform the test, so the concordant cells are passed as 0.
    """
    if n_base_only + n_variant_only == 0:
        return float("nan")
    return float(mcnemar([[0, n_base_only], [n_variant_only, 0]], exact=True).pvalue)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values over the finite entries (NaN stays NaN).

    A report tests every variant of every model and benchmark; without a family-wise correction
    some "significant" drops would be expected by chance alone.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method="holm")[1]
    return out
