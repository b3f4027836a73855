"""The working table behind every report analysis: typed rows, their `base` partner, bootstrap units.

Definitions follow :mod:`robustcot.analysis.metrics` so report numbers agree with ``summary.md``:
error rows are not *scored*; a scored row without a parsed answer counts as wrong (``right`` is
False, ``unparsed`` True); a row's `base` partner is the scored `base` row of the same model,
benchmark, sample and abstain flag.

Each (model, benchmark) is a *stratum* and each sample in it a bootstrap *unit* (0..n-1), so
resampling code can address rows by (stratum, unit) with integer arrays instead of joins. Rows are
located by integer codes throughout because string joins over a million rows would dominate the
report's run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from robustcot.analysis.metrics import BASE_VARIANT, REQUIRED_COLUMNS
from robustcot.judges.run import RESERVED
from robustcot.perturb.variants import VARIANTS

#: Judge label columns start with this prefix (``judge_rule``, ``judge_vllm_qwen_qwen3_32b`` ...).
JUDGE_PREFIX = "judge_"

#: The rule judge, present in every run.
RULE_JUDGE = "judge_rule"

#: Stand-in for a missing benchmark or category name, so that groupby keeps those rows.
UNKNOWN = "(none)"

#: Optional columns carried into the working table when present, by kind.
_TEXT_PASSTHROUGH = ("category", "uncertainty_source", "prefill_mode", "template_version", "profile", "run",
                     "judge_panel", "judge_route")
_FLOAT_COLUMNS = ("letter_mass", "p_injected")
_INDEX_COLUMNS = ("answer_index", "gold_index", "injected_index", "abstain_index")


@dataclass
class AnalysisFrame:
    """Typed rows plus index structures; build it with :func:`analysis_frame`."""

    rows: pd.DataFrame
    """One row per record, in input order, with the working columns described in the module doc."""
    strata: pd.DataFrame
    """One row per (model, benchmark): ``model``, ``benchmark``, ``n_units`` (samples)."""
    variants: list[str]
    """Variants present, `base` and the study's variants first in canonical order."""
    judges: list[str]
    """Columns of individual judges (raters): ``judge_rule`` and each LLM judge's ``judge_<name>``;
    not ``judge_panel``/``judge_route``, which summarise them."""

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.strata["model"]))

    @property
    def benchmarks(self) -> list[str]:
        return list(dict.fromkeys(self.strata["benchmark"]))

    @property
    def paired(self) -> pd.DataFrame:
        """Scored rows whose `base` partner is scored too (`base` rows included, paired with themselves)."""
        rows = self.rows
        return rows[rows["scored"] & rows["has_base"]]


def variant_order(variants) -> list[str]:
    """`base` and the study's variants in canonical order, then unknown ones as they appear."""
    present = [str(v) for v in dict.fromkeys(variants)]
    known = [v for v in (BASE_VARIANT, *VARIANTS) if v in present]
    return list(dict.fromkeys(known + present))


def analysis_frame(records: pd.DataFrame) -> AnalysisFrame:
    """The working table of ``records`` (one or several models; ``model`` must be filled).

    Raises ``ValueError`` when required columns are missing or a (model, benchmark, sample,
    variant, abstain) occurs twice.
    """
    required = [*REQUIRED_COLUMNS, "model"]
    missing = [c for c in required if c not in records.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing}")
    rows = _typed(records)
    model, benchmark = rows["model"].cat.codes.to_numpy(), rows["benchmark"].cat.codes.to_numpy()
    stratum = pd.factorize(model.astype(np.int64) * (len(rows["benchmark"].cat.categories) + 1) + benchmark)[0]
    n_ids = len(rows["sample_id"].cat.categories) + 1
    # Sorted factorisation of (stratum, sample) keeps each stratum's sample codes contiguous.
    sample_code = pd.factorize(stratum.astype(np.int64) * n_ids + rows["sample_id"].cat.codes.to_numpy(),
                               sort=True)[0]
    first = pd.Series(sample_code).groupby(stratum).min().to_numpy()
    rows["stratum"] = stratum
    rows["unit"] = sample_code - first[stratum]
    variants = variant_order(pd.unique(rows["variant"]))
    rows["variant"] = rows["variant"].cat.reorder_categories(
        variants + [c for c in rows["variant"].cat.categories if c not in variants])
    _check_unique(rows, sample_code, rows["variant"].cat.codes.to_numpy(), len(variants))
    _attach_base(rows, records, sample_code)
    strata = (rows.groupby("stratum", sort=True)
              .agg(model=("model", "first"), benchmark=("benchmark", "first"), n_units=("unit", "max"))
              .reset_index(drop=True))
    strata["n_units"] += 1
    strata["model"] = strata["model"].astype(str)
    strata["benchmark"] = strata["benchmark"].astype(str)
    judges = [c for c in records.columns
              if c == RULE_JUDGE or (c.startswith(JUDGE_PREFIX) and c not in RESERVED)]
    for judge in judges:
        rows[judge] = _category(records[judge])
    return AnalysisFrame(rows, strata, variants, judges)


def _category(column: pd.Series, fill: str | None = None) -> pd.Series:
    """A string column as a categorical (nulls kept, or replaced by ``fill``).

    Categoricals group and compare by integer code; over a million rows that is the difference
    between milliseconds and seconds compared with Python string objects.
    """
    values = column.astype("category")
    if fill is not None and values.isna().any():
        values = values.cat.add_categories([fill]).fillna(fill)
    return values.reset_index(drop=True)


def _typed(records: pd.DataFrame) -> pd.DataFrame:
    """Working columns with fixed types, whatever nullable dtypes the records arrived with."""
    status = _category(records["status"])
    is_error = (status == "error").to_numpy(dtype=bool)
    correct = records["correct"].astype("boolean")
    rows = pd.DataFrame({
        "model": _category(records["model"].astype(str)),
        "benchmark": _category(records["benchmark"], UNKNOWN),
        "sample_id": _category(records["sample_id"].astype(str)),
        "variant": _category(records["variant"].astype(str)),
        "abstain": records["abstain"].astype(bool).to_numpy(),
        "status": status,
        "scored": ~is_error,
        "unparsed": (correct.isna().to_numpy() & ~is_error),
        "right": correct.fillna(False).to_numpy(dtype=bool),
        "entropy": pd.to_numeric(records["entropy"]).to_numpy(dtype=float),
        "p_correct": pd.to_numeric(records["p_correct"]).to_numpy(dtype=float),
        "quadrant": _category(records["quadrant"]),
    })
    for col in _TEXT_PASSTHROUGH:
        if col in records.columns:
            rows[col] = _category(records[col], UNKNOWN if col == "category" else None)
    if "category" not in rows.columns:
        rows["category"] = pd.Categorical([UNKNOWN] * len(rows))
    for col in _FLOAT_COLUMNS:  # always present (NaN when the run predates them) so analyses need no branches
        rows[col] = (pd.to_numeric(records[col], errors="coerce").to_numpy(dtype=float)
                     if col in records.columns else np.nan)
    for col in _INDEX_COLUMNS:
        rows[col] = _int_or_minus_one(records[col]) if col in records.columns else -1
    return rows


def _int_or_minus_one(column: pd.Series) -> np.ndarray:
    """A nullable integer column as int64 with -1 for null (indexes are never negative)."""
    return pd.to_numeric(column, errors="coerce").fillna(-1).to_numpy(dtype=np.int64)


def _check_unique(rows: pd.DataFrame, sample_code: np.ndarray, variant_code: np.ndarray, n_variants: int) -> None:
    key = (sample_code.astype(np.int64) * (n_variants + 1) + variant_code) * 2 + rows["abstain"].to_numpy()
    dup = pd.Series(key).duplicated(keep=False).to_numpy()
    if dup.any():
        first = rows.loc[dup, ["model", "benchmark", "sample_id", "variant", "abstain"]].iloc[0].tolist()
        raise ValueError(f"records hold duplicate rows for (model, benchmark, sample_id, variant, abstain) = {first}")


def _attach_base(rows: pd.DataFrame, records: pd.DataFrame, sample_code: np.ndarray) -> None:
    """Add ``has_base``, ``base_right``, ``base_p_correct``, ``base_entropy`` and the letter
    probabilities read across rows: ``base_p_injected`` (the base row's probability of the option
    this row injects) and ``p_abstain`` (this row's probability of the abstain option)."""
    n = len(rows)
    unit_key = sample_code * 2 + rows["abstain"].to_numpy()
    base = np.flatnonzero((rows["variant"] == BASE_VARIANT).to_numpy() & rows["scored"].to_numpy())
    base_of = np.full(int(unit_key.max()) + 1 if n else 0, -1, dtype=np.int64)
    base_of[unit_key[base]] = np.arange(len(base))
    base_pos = base_of[unit_key] if n else np.zeros(0, dtype=np.int64)
    has_base = base_pos >= 0
    rows["has_base"] = has_base
    for col in ("right", "p_correct", "entropy"):
        values = rows[col].to_numpy()[base][np.maximum(base_pos, 0)]
        rows[f"base_{col}"] = np.where(has_base, values, False if col == "right" else np.nan)
    letter_probs = records["letter_probs"] if "letter_probs" in records.columns else None
    injected = rows["injected_index"].to_numpy()
    base_probs = None if letter_probs is None else letter_probs.iloc[base]
    need = has_base & (injected >= 0)
    rows["base_p_injected"] = np.nan
    if base_probs is not None and need.any():
        offsets, flat, lengths = flatten_probs(base_probs)
        pos, idx = base_pos[need], injected[need]
        ok = idx < lengths[pos]
        picked = np.full(len(pos), np.nan)
        picked[ok] = flat[offsets[pos[ok]] + idx[ok]]
        column = np.full(n, np.nan)
        column[need] = picked
        rows["base_p_injected"] = column
    abstain_index = rows["abstain_index"].to_numpy()
    rows["p_abstain"] = np.nan
    if letter_probs is not None and (abstain_index >= 0).any():
        rows["p_abstain"] = prob_at(letter_probs, abstain_index)


def flatten_probs(letter_probs: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Letter distributions as (start offsets, flat values, lengths); a null row has length 0.

    Arrow converts the column of per-row arrays in one call, where a Python loop over a million
    rows would take seconds.
    """
    array = pa.array(letter_probs.to_numpy(dtype=object), type=pa.list_(pa.float64()), from_pandas=True)
    offsets = array.offsets.to_numpy()
    flat = array.values.to_numpy(zero_copy_only=False)
    lengths = np.where(array.is_valid().to_numpy(zero_copy_only=False), np.diff(offsets), 0)
    return offsets[:-1], flat, lengths


def prob_at(letter_probs: pd.Series, index: np.ndarray) -> np.ndarray:
    """``letter_probs[i][index[i]]`` per row; NaN where the index is -1, out of range or probs are null."""
    offsets, flat, lengths = flatten_probs(letter_probs)
    ok = (index >= 0) & (index < lengths)
    out = np.full(len(index), np.nan)
    out[ok] = flat[offsets[ok] + index[ok]]
    return out


def report_order(frame: AnalysisFrame, table: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """``table`` sorted for reading: models and benchmarks as in the strata, then ``extra`` columns,
    variants in canonical order, abstain off first; key columns become plain strings.

    Only the key columns the table has are used.
    """
    if table.empty:
        return table
    ranks = {
        "model": {m: i for i, m in enumerate(frame.models)},
        "benchmark": {b: i for i, b in enumerate(frame.benchmarks)},
        "variant": {v: i for i, v in enumerate(frame.variants)},
    }
    keys: dict[str, pd.Series] = {}
    for col in ("model", "benchmark", *extra, "variant"):
        if col in table.columns:
            table = table.assign(**{col: table[col].astype(str)})
            keys[f"_{col}"] = table[col].map(ranks[col]) if col in ranks else table[col]
    if "abstain" in table.columns:
        keys["_abstain"] = table["abstain"].astype(bool)
    return table.assign(**keys).sort_values(list(keys), kind="stable").drop(columns=list(keys)).reset_index(drop=True)
