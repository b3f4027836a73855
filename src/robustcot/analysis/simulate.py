"""Realistic random records, so the analysis and the report can be tested and benchmarked without a model.

The generator follows the study's mechanics rather than drawing every column independently, because
independent columns would leave the analyses with nothing to find: each sample has a difficulty and
a letter distribution (softmax of option logits), the answer is drawn from that distribution (so
P(correct) predicts correctness and AUROC is informative), injected text moves logit mass onto the
injected option (more for think than for caption, less with a repair cue), and the abstain toggle
adds a low-prior "I'm not sure" option. Parse failures, error rows, rows without uncertainty and
judges that disagree appear at small rates so that every code path meets them.

Everything is vectorised over rows with one seeded generator: a million rows take seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from robustcot.perturb import templates as T
from robustcot.perturb.variants import SPECS, VARIANTS
from robustcot.records import COLUMNS, SCHEMA

#: Logit added to the injected option, per variant (negative values act on the gold option).
_INJECTION_STRENGTH = {
    "wrong_think": 2.6,
    "wrong_think_but": 1.3,
    "wrong_caption": 1.9,
    "wrong_caption_disclaimer": 1.0,
    "correct_think": 1.6,
    "correct_caption": 1.1,
}
_STOP_THINK_PENALTY = 0.6
_CATEGORIES = ("left_right", "above_below", "count", "colour", "size")
_JUDGE_LABELS = np.array(["consistent", "inconsistent", "no_conclusion"], dtype=object)
_LETTERS = np.array([chr(ord("A") + i) for i in range(26)], dtype=object)


def simulate_records(
    *,
    models: Sequence[str] = ("hf:org/model-a", "hf:org/model-b"),
    benchmarks: Sequence[str] = ("bench-x", "bench-y"),
    n_samples: int = 50,
    variants: Sequence[str] = VARIANTS,
    abstain: bool = True,
    llm_judges: Sequence[str] = (),
    seed: int = 0,
    error_rate: float = 0.005,
    unparsed_rate: float = 0.03,
    missing_uncertainty_rate: float = 0.01,
) -> pd.DataFrame:
    """Records for every model × benchmark × sample × variant × abstain flag, in the schema's columns.

    ``judge_rule`` is always filled. ``llm_judges`` names ``judge_<name>`` columns as a judging pass
    writes them (docs/judges.md): about half the judgeable rows go to the LLM judges (route ``llm``,
    plus a 10% ``audit`` of the rest), each judge agrees with the rule label 90% of the time and
    fails to parse 2% of the time, ``judge_panel`` is their plurality vote (``tie`` on a shared top)
    on ``llm`` rows and the rule label elsewhere, and ``consistent``/``quadrant`` follow the panel.
    Model ``i`` gets ability ``1.2 - 0.6 i`` so models differ; samples keep their difficulty,
    gold and wrong option across models and variants, as real paired runs do.
    """
    rng = np.random.default_rng(seed)
    flags = [False, True] if abstain else [False]
    n_m, n_b, n_v, n_f = len(models), len(benchmarks), len(variants), len(flags)

    # Per (benchmark, sample): options, gold, wrong, difficulty, category.
    n_units = n_b * n_samples
    n_opts = rng.integers(2, 5, size=n_units)
    gold = (rng.random(n_units) * n_opts).astype(int)
    shift = 1 + (rng.random(n_units) * (n_opts - 1)).astype(int)
    wrong = (gold + shift) % n_opts
    difficulty = rng.normal(0.0, 1.0, size=n_units)
    category = np.array(_CATEGORIES, dtype=object)[rng.integers(len(_CATEGORIES), size=n_units)]

    # Row grid: model × benchmark × sample × variant × flag (flag fastest).
    m_idx, u_idx, v_idx, f_idx = (a.ravel() for a in np.meshgrid(
        np.arange(n_m), np.arange(n_units), np.arange(n_v), np.arange(n_f), indexing="ij"))
    n = len(m_idx)
    variant = np.array(variants, dtype=object)[v_idx]
    flag = np.array(flags)[f_idx]
    k = n_opts[u_idx]
    k_shown = k + flag
    g, w = gold[u_idx], wrong[u_idx]

    injected = np.full(n, -1)
    strength = np.zeros(n)
    for name, value in _INJECTION_STRENGTH.items():
        if name in SPECS and name in variants:
            rows = variant == name
            injected[rows] = np.where(SPECS[name].target == "wrong", w[rows], g[rows])
            strength[rows] = value

    width = int(k_shown.max())
    cols = np.arange(width)
    logits = rng.normal(0.0, 0.8, size=(n, width))
    ability = 1.2 - 0.6 * m_idx
    logits[np.arange(n), g] += ability - difficulty[u_idx] + 1.0 - _STOP_THINK_PENALTY * (variant == "stop_think")
    has_inj = injected >= 0
    logits[np.flatnonzero(has_inj), injected[has_inj]] += strength[has_inj] * (1.0 - 0.2 * m_idx[has_inj])
    abstain_index = np.where(flag, k, -1)
    logits[np.flatnonzero(flag), k[flag]] -= 1.5
    logits[cols[None, :] >= k_shown[:, None]] = -np.inf
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)

    answer = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    answer = np.minimum(answer, k_shown - 1)
    status = np.full(n, "ok", dtype=object)
    draw = rng.random(n)
    is_error = draw < error_rate
    unparsed = ~is_error & (draw < error_rate + unparsed_rate)
    status[unparsed] = "no_answer_tag"
    status[is_error] = "error"
    parsed = ~is_error & ~unparsed
    correct = pd.array(np.where(parsed, answer == g, False), dtype="boolean")
    correct[~parsed] = pd.NA

    has_unc = ~is_error & (rng.random(n) >= missing_uncertainty_rate)
    entropy = -np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0).sum(axis=1)
    p_correct = probs[np.arange(n), g]
    p_injected = np.where(has_inj, probs[np.arange(n), np.maximum(injected, 0)], np.nan)
    letter_probs = np.empty(n, dtype=object)
    letter_probs[:] = [row[:kk] for row, kk in zip(probs, k_shown, strict=True)]
    letter_probs[~has_unc] = None

    labels = _judge_labels(rng, llm_judges, variant, parsed, n)
    first = labels["judge_panel"] if llm_judges else labels["judge_rule"]
    consistent = pd.array(np.where(first == "consistent", True, False), dtype="boolean")
    consistent[(first != "consistent") & (first != "inconsistent")] = pd.NA
    quadrant = np.full(n, None, dtype=object)
    decided = ~pd.isna(consistent) & parsed
    cons_word = np.where(consistent.fillna(False).to_numpy(dtype=bool), "consistent", "inconsistent")
    corr_word = np.where(correct.fillna(False).to_numpy(dtype=bool), "correct", "incorrect")
    quadrant[decided] = cons_word[decided] + "_" + corr_word[decided]

    sample_id = np.array([f"s{i:06d}" for i in range(n_samples)], dtype=object)[u_idx % n_samples]
    benchmark = np.array(benchmarks, dtype=object)[u_idx // n_samples]
    letters = _LETTERS[answer]
    texts = _texts(variant, flag, k_shown, letters, _LETTERS[np.maximum(injected, 0)], has_inj, parsed, sample_id)

    frame = pd.DataFrame({
        "key": sample_id + "|" + variant + "|" + flag.astype(int).astype(str).astype(object),
        "sample_id": sample_id,
        "benchmark": benchmark,
        "category": category[u_idx],
        "variant": variant,
        "abstain": flag,
        "n_options": k_shown.astype("int32"),
        "gold_index": g.astype("int32"),
        "wrong_index": w.astype("int32"),
        "injected_index": _nullable_int(injected, has_inj),
        "abstain_index": _nullable_int(abstain_index, flag),
        **texts,
        "status": status,
        "answer_index": _nullable_int(answer, parsed),
        "correct": correct,
        "letter_probs": letter_probs,
        "letter_mass": np.where(has_unc, rng.beta(20, 1.5, size=n), np.nan),
        "entropy": np.where(has_unc, entropy, np.nan),
        "p_correct": np.where(has_unc, p_correct, np.nan),
        "p_injected": np.where(has_unc, p_injected, np.nan),
        "uncertainty_source": np.where(has_unc, "generation", None),
        "uncertainty_note": np.where(has_unc | is_error, None, "no letter token was generated"),
        "think_conclusion_index": _nullable_int(answer, decided),
        "consistent": consistent,
        "quadrant": quadrant,
        "n_prompt_tokens": rng.integers(200, 400, size=n).astype("int32"),
        "n_completion_tokens": rng.integers(20, 300, size=n).astype("int32"),
        "latency_s": rng.gamma(2.0, 0.2, size=n),
        "error": np.where(is_error, "generation failed: RuntimeError: simulated", None),
        "profile": "default",
        "template_version": T.TEMPLATE_VERSION,
        "model": np.array(models, dtype=object)[m_idx],
        "question": "Where is the red circle relative to the square in " + sample_id + "?",
        "options": _option_lists(k_shown, flag),
        **labels,
    })
    frame.loc[is_error, ["response", "think", "answer_text"]] = None
    for col in COLUMNS:  # columns this generator does not model yet stay null, as in old runs
        if col not in frame.columns:
            frame[col] = None
    return frame[[*COLUMNS, *(c for c in frame.columns if c not in COLUMNS)]]


def _nullable_int(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    """An Int32 column holding ``values`` where ``present`` and null elsewhere."""
    return pd.arrays.IntegerArray(np.where(present, values, 0).astype("int32"), ~present)


def _judge_labels(rng: np.random.Generator, llm_judges: Sequence[str], variant: np.ndarray,
                  parsed: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """``judge_rule``, and with LLM judges their columns, ``judge_panel`` and ``judge_route``.

    Injected-think variants are judged inconsistent more often, as happens when a model continues
    wrong reasoning but still answers correctly.
    """
    p_incons = np.where(np.isin(variant, ["wrong_think", "wrong_think_but"]), 0.3, 0.1)
    draw = rng.random(n)
    rule = np.where(draw < p_incons, "inconsistent",
                    np.where(draw < p_incons + 0.05, "no_conclusion", "consistent")).astype(object)
    rule[~parsed] = "unjudged"
    out: dict[str, np.ndarray] = {"judge_rule": rule}
    if not llm_judges:
        return out
    route_draw = rng.random(n)
    route = np.where(~parsed, "none", np.where(route_draw < 0.5, "llm",
                                                np.where(route_draw < 0.55, "audit", "rule"))).astype(object)
    asked = (route == "llm") | (route == "audit")
    votes = np.zeros((n, len(_JUDGE_LABELS)), dtype=int)
    for judge in llm_judges:
        labels = rule.copy()
        flip = rng.random(n) < 0.1
        labels[flip] = _JUDGE_LABELS[rng.integers(len(_JUDGE_LABELS), size=int(flip.sum()))]
        labels[rng.random(n) < 0.02] = "unparsed"
        labels[~asked] = None
        for j, label in enumerate(_JUDGE_LABELS):
            votes[:, j] += labels == label
        out[f"judge_{judge}"] = labels
    top = votes.max(axis=1)
    panel = _JUDGE_LABELS[votes.argmax(axis=1)].astype(object)
    panel[(votes == top[:, None]).sum(axis=1) > 1] = "tie"
    panel[top == 0] = "unparsed"
    out["judge_panel"] = np.where(route == "llm", panel, rule).astype(object)
    out["judge_route"] = route
    return out


def _option_lists(n_shown: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """The ``options`` column: option texts as shown, one list per row (shared between equal rows)."""
    width = int(n_shown.max())
    table = np.empty((width + 1, 2), dtype=object)
    for k in range(width + 1):
        for f in (0, 1):
            table[k, f] = [f"option {i + 1}" for i in range(k - f)] + ([T.ABSTAIN_OPTION] if f else [])
    return table[n_shown, flag.astype(int)]


def _option_block(n_shown: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """The options as the prompt lists them ("A. option 1" ...), the abstain option last when shown."""
    lists = _option_lists(np.arange(int(n_shown.max()) + 1).repeat(2), np.tile([False, True], int(n_shown.max()) + 1))
    blocks = np.array(["\n".join(f"{_LETTERS[i]}. {o}" for i, o in enumerate(opts)) for opts in lists], dtype=object)
    return blocks[n_shown * 2 + flag.astype(int)]


def _texts(variant: np.ndarray, flag: np.ndarray, n_shown: np.ndarray, letters: np.ndarray,
           injected_letters: np.ndarray, has_inj: np.ndarray, parsed: np.ndarray,
           sample_id: np.ndarray) -> dict[str, np.ndarray]:
    """Prompt, prefill, response, think and answer text with the study's templates spliced in."""
    spec = [SPECS.get(v) for v in variant]
    is_caption = np.array([s is not None and s.channel == "caption" for s in spec])
    is_think = np.array([s is not None and s.channel == "think" for s in spec])
    is_stop = np.array([s is not None and s.stop for s in spec])
    cue = np.array([s is not None and s.cue for s in spec])
    claim = "The answer is option " + injected_letters
    disclaimer = np.where(cue, T.CAPTION_DISCLAIMER, "").astype(object)
    caption = np.where(is_caption, "Image caption: " + claim + disclaimer + "." + T.CAPTION_SEPARATOR, "")
    caption = caption.astype(object)
    options = _option_block(n_shown, flag)
    prompt = ("<|im_start|>user\n<image>" + caption + "Where is the red circle relative to the square in "
              + sample_id + "?\n" + options + "<|im_end|>\n<|im_start|>assistant\n")
    think_prefill = (T.DEFAULT_THINK_OPEN + T.THINK.format(claim="") + claim
                     + np.where(cue, T.THINK_REPAIR_CUE, "").astype(object))
    stop_prefill = T.DEFAULT_THINK_OPEN + T.STOP_THINK + T.DEFAULT_THINK_CLOSE
    prefill = np.where(is_think & has_inj, think_prefill, np.where(is_stop, stop_prefill, "")).astype(object)
    body = np.where(is_think | is_stop, "", "<think>I compare the two objects. ").astype(object)
    tail = np.where(parsed, " so the answer is " + letters + ".</think><answer>" + letters + "</answer>",
                    " hmm, it is hard to tell").astype(object)
    response = body + tail
    return {
        "prompt": prompt,
        "prefill": prefill,
        "response": response,
        "think": prefill + response,
        "answer_text": np.where(parsed, letters, None),
    }


def write_run(records: pd.DataFrame, path: Path, meta: dict | None = None) -> Path:
    """Write ``records`` as a run directory (``records.parquet`` + ``run.json``), as ``eval`` would.

    Columns outside the schema (LLM judges' ``judge_<name>``) are written as strings, as a judging
    pass does.
    """
    path.mkdir(parents=True, exist_ok=True)
    fields = [SCHEMA.field(c) if c in SCHEMA.names else pa.field(c, pa.string()) for c in records.columns]
    table = pa.Table.from_pandas(records, schema=pa.schema(fields), preserve_index=False)
    pq.write_table(table, path / "records.parquet")
    (path / "run.json").write_text(json.dumps(meta or {}, indent=2))
    return path
