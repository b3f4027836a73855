"""The sample browser's data: which rows the page embeds, and how they are packed.

**What is embedded.** A page that carried every row of a large study would not open (a million
rows with prompts and responses is gigabytes), so the browser embeds a seeded random subset of
*samples* with all their rows (every model, variant and abstain setting, so a sample can be
compared side by side), up to ``max_rows`` rows. Samples are drawn per benchmark in proportion to
its size and the same sample ids are kept for every model. When the cap bites, the page says how
many samples it shows out of how many; records.parquet keeps everything.

**How it is packed.** Columnar JSON: each field is one array, repeated strings (model, variant,
status, judge labels) are integer codes into small dictionaries, and long texts are cut at
``max_text_chars`` with a marker. A perturbed row's prompt is stored as a diff against its `base`
row's prompt (common prefix and suffix lengths plus the inserted text), which both shrinks the
page and tells the page exactly which text the perturbation inserted, so it can highlight it.

Everything from the model or the dataset is data here: the page builds its DOM with
``textContent`` from this JSON, and :func:`script_json` escapes ``<``, ``>`` and ``&`` so that no
string can close the ``<script>`` element that carries it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustcot.analysis.frame import RULE_JUDGE, AnalysisFrame
from robustcot.analysis.metrics import BASE_VARIANT

#: Prompts that share less than this fraction with their base prompt are stored whole.
_MIN_SHARED = 0.5


@dataclass(frozen=True)
class BrowserSelection:
    """Which rows the page embeds, in page order, and how many samples exist in total."""

    rows: np.ndarray
    """Positions in the records (and analysis rows), grouped by card, variants in report order."""
    n_samples: int
    n_samples_total: int
    n_rows_total: int


def select_rows(frame: AnalysisFrame, max_rows: int, seed: int) -> BrowserSelection:
    """A seeded, benchmark-proportional choice of samples whose rows fit in ``max_rows``."""
    rows = frame.rows
    keys = pd.DataFrame({"benchmark": rows["benchmark"].astype(str), "sample_id": rows["sample_id"].astype(str)})
    per_sample = keys.value_counts(sort=False).rename("n_rows").reset_index()
    per_sample = per_sample.sort_values(["benchmark", "sample_id"], ignore_index=True)
    rng = np.random.default_rng(seed)
    per_sample["draw"] = rng.random(len(per_sample))
    rank = per_sample.groupby("benchmark")["draw"].rank(method="first")
    per_sample["order"] = rank / per_sample.groupby("benchmark")["draw"].transform("size")
    per_sample = per_sample.sort_values(["order", "draw"], ignore_index=True)
    chosen = per_sample[per_sample["n_rows"].cumsum() <= max_rows]
    picked = keys.merge(chosen[["benchmark", "sample_id"]].assign(_keep=True), how="left",
                        on=["benchmark", "sample_id"])["_keep"].fillna(False).to_numpy(dtype=bool)
    positions = np.flatnonzero(picked)
    sub = rows.iloc[positions]
    order = np.lexsort((
        sub["abstain"].to_numpy(),
        sub["variant"].cat.codes.to_numpy(),
        sub["sample_id"].astype(str).to_numpy(),
        sub["benchmark"].cat.codes.to_numpy(),
        sub["model"].cat.codes.to_numpy(),
    ))
    return BrowserSelection(positions[order], len(chosen), len(per_sample), len(rows))


def browser_payload(frame: AnalysisFrame, records: pd.DataFrame, selection: BrowserSelection,
                    thumbnails: dict[tuple[str, str], str], max_text_chars: int, page_size: int) -> dict[str, Any]:
    """The JSON object the page's script reads (see the module doc for the layout)."""
    rows = frame.rows.iloc[selection.rows]
    recs = records.iloc[selection.rows]
    n = len(rows)
    cards = pd.DataFrame({"model": rows["model"].astype(str).to_numpy(),
                          "benchmark": rows["benchmark"].astype(str).to_numpy(),
                          "sample_id": rows["sample_id"].astype(str).to_numpy()})
    card = cards.ne(cards.shift()).any(axis=1).cumsum().to_numpy() - 1 if n else np.zeros(0, dtype=int)
    samples = cards.drop_duplicates(["benchmark", "sample_id"]).reset_index(drop=True)
    sample_index = {(b, s): i for i, (b, s) in enumerate(zip(samples["benchmark"], samples["sample_id"], strict=True))}
    dicts: dict[str, list[str]] = {}
    columns: dict[str, list] = {
        "card": card.tolist(),
        "sample": [sample_index[(b, s)] for b, s in zip(cards["benchmark"], cards["sample_id"], strict=True)],
        "abstain": rows["abstain"].astype(int).tolist(),
        "correct": _correct_codes(rows),
        "answer": rows["answer_index"].tolist(),
        "gold": rows["gold_index"].tolist(),
        "injected": rows["injected_index"].tolist(),
        "abstain_index": rows["abstain_index"].tolist(),
        "entropy": _rounded(rows["entropy"]),
        "p_correct": _rounded(rows["p_correct"]),
        "probs": _probs(recs),
        "prefill": _texts(recs, "prefill", max_text_chars),
        "response": _texts(recs, "response", max_text_chars),
        "answer_text": _texts(recs, "answer_text", max_text_chars),
        "error": _texts(recs, "error", max_text_chars),
        "options": _texts_list(recs, "options", max_text_chars),
    }
    for name in ("model", "benchmark", "variant", "status", "quadrant", "category"):
        dicts[name], columns[name] = _codes(rows[name])
    columns["prompt"] = _prompts(rows, recs, max_text_chars)
    judges = [j for j in frame.judges]
    if "judge_panel" in rows.columns and rows["judge_panel"].notna().any():
        judges.append("judge_panel")
    for judge in judges:
        dicts[judge], columns[judge] = _codes(rows[judge])
    return {
        "n": n,
        "page_size": page_size,
        "n_samples": selection.n_samples,
        "n_samples_total": selection.n_samples_total,
        "n_rows_total": selection.n_rows_total,
        "max_text_chars": max_text_chars,
        "judges": judges,
        "rule_judge": RULE_JUDGE,
        "variants": frame.variants,
        "dicts": dicts,
        "cols": columns,
        "samples": {"benchmark": samples["benchmark"].tolist(), "sample_id": samples["sample_id"].tolist()},
        "thumbs": [thumbnails.get((b, s)) for b, s in zip(samples["benchmark"], samples["sample_id"], strict=True)],
    }


def script_json(payload: dict[str, Any]) -> str:
    """JSON safe inside ``<script type="application/json">``: no character can end the element.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e``, ``\\u0026`` (still the same JSON string
    values), and so do the line separators U+2028/U+2029 for older parsers.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _codes(values: pd.Series) -> tuple[list[str], list[int]]:
    """(dictionary, codes) of a label column; null is -1."""
    as_text = values.astype(object).where(values.notna(), None)
    codes, uniques = pd.factorize(as_text, use_na_sentinel=True)
    return [str(u) for u in uniques], codes.tolist()


def _correct_codes(rows: pd.DataFrame) -> list[int]:
    """1 correct, 0 wrong, 2 unparsed (scored, no answer), 3 error (not scored)."""
    code = np.where(rows["right"], 1, 0)
    code = np.where(rows["unparsed"], 2, code)
    code = np.where(~rows["scored"], 3, code)
    return code.tolist()


def _rounded(values: pd.Series, digits: int = 4) -> list[float | None]:
    return [None if not math.isfinite(v) else round(v, digits) for v in values.to_numpy(dtype=float)]


def _probs(records: pd.DataFrame) -> list[list[float] | None]:
    if "letter_probs" not in records.columns:
        return [None] * len(records)
    out = []
    for value in records["letter_probs"].to_numpy(dtype=object):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        else:
            out.append([round(float(p), 4) for p in value])
    return out


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" … [{len(text) - limit:,} more characters in records.parquet]"


def _texts(records: pd.DataFrame, column: str, limit: int) -> list[str | None]:
    if column not in records.columns:
        return [None] * len(records)
    return [None if not isinstance(v, str) else _cut(v, limit) for v in records[column].to_numpy(dtype=object)]


def _texts_list(records: pd.DataFrame, column: str, limit: int) -> list[list[str] | None]:
    if column not in records.columns:
        return [None] * len(records)
    out = []
    for value in records[column].to_numpy(dtype=object):
        out.append(None if value is None or isinstance(value, float) else [_cut(str(v), limit) for v in value])
    return out


def _prompts(rows: pd.DataFrame, records: pd.DataFrame, limit: int) -> list:
    """Per row: the full prompt (a string), or ``[base_row, prefix_len, inserted, suffix_len]``.

    The base row is the embedded `base` row of the same card and abstain flag. The diff is
    normalised to start as early as possible (a caption "Image caption: …\\nIs …" inserted before
    "Is …" would otherwise start one character late, after the shared "I").
    """
    prompts = [v if isinstance(v, str) else None for v in records["prompt"].to_numpy(dtype=object)] \
        if "prompt" in records.columns else [None] * len(rows)
    variant = rows["variant"].astype(str).to_numpy()
    keys = list(zip(rows["model"].astype(str), rows["benchmark"].astype(str), rows["sample_id"].astype(str),
                    rows["abstain"], strict=True))
    base_at = {k: i for i, (k, v) in enumerate(zip(keys, variant, strict=True)) if v == BASE_VARIANT}
    out: list = []
    for i, (key, text) in enumerate(zip(keys, prompts, strict=True)):
        ref = base_at.get(key)
        base = prompts[ref] if ref is not None else None
        if text is None or base is None or ref == i:
            out.append(None if text is None else _cut(text, limit))
            continue
        prefix, inserted, suffix = prompt_diff(base, text)
        if prefix + suffix < _MIN_SHARED * len(text) or len(base) > limit:
            out.append(_cut(text, limit))
        else:
            out.append([ref, prefix, _cut(inserted, limit), suffix])
    return out


def prompt_diff(base: str, text: str) -> tuple[int, str, int]:
    """(prefix length, inserted text, suffix length) with ``text = base[:p] + inserted + base[len(base)-s:]``.

    The insertion is slid left as far as the texts allow, so it starts where a human would say it
    starts.
    """
    prefix = _shared_length(base, text, from_end=False)
    suffix = _shared_length(base[prefix:], text[prefix:], from_end=True)
    end = len(text) - suffix
    if len(text) - prefix - suffix > 0 and len(base) - prefix - suffix == 0:
        while prefix > 0 and text[prefix - 1] == text[end - 1]:
            prefix -= 1
            end -= 1
            suffix += 1
    return prefix, text[prefix:end], suffix


def _shared_length(a: str, b: str, *, from_end: bool) -> int:
    """Length of the common prefix (or suffix) of ``a`` and ``b``, by bisection on C-level slice
    comparisons: prompts are thousands of characters and a per-character Python loop over every
    embedded row would take seconds."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        same = a[len(a) - mid:] == b[len(b) - mid:] if from_end else a[:mid] == b[:mid]
        lo, hi = (mid, hi) if same else (lo, mid - 1)
    return lo
