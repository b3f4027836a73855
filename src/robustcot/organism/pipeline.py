"""The whole organism study for one seed: SFT, GRPO with and without augmentation, curves, controls.

``train_organism(seed, out)`` writes::

    out/sft/                         the SFT checkpoint (loadable as hf:<path>)
    out/calibrated/                  the SFT model after letter calibration (organism/calibrate.py),
                                     where GRPO starts; absent when calibration is off
    out/grpo/<recipe>/checkpoint-N   GRPO checkpoints per recipe ("augmented", "plain")
    out/sweep/                       robustcot.train.sweep output: an evaluation per checkpoint
                                     (runs named by recipe; step 0 is GRPO's starting model), curves.png
    out/curves.parquet               the curves, column ``recipe`` naming the GRPO run
    out/validation/                  the same sweep on validation scenes, base variant only
    out/controls/blank/              GRPO's starting model on blank images (image-reliance control)
    out/organism.json                timings, settings and the headline numbers (``curves``: test
                                     scenes; ``validation``: validation scenes)

Every evaluation is robustcot's own :func:`~robustcot.evaluate.run_eval` on held-out scenes. Two
sets, both disjoint from training (which never uses small synthetic seeds): validation scenes
(``validation_seed``, 1 by default) are the ones to choose settings on, such as a learning rate;
test scenes (``eval_seed``, 0) are the ones results are reported on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from robustcot.errors import ConfigError
from robustcot.models.hf import HFConfig
from robustcot.organism.calibrate import CalibrationConfig, calibrate
from robustcot.organism.grpo import GRPOConfig
from robustcot.organism.sft import SFTConfig

#: Variants the curves track: clean accuracy, the two injected-text attacks and a control.
CURVE_VARIANTS = ("base", "wrong_think", "wrong_caption", "correct_think")
RECIPES = ("augmented", "plain")
#: Synthetic seed of the validation scenes (settings are chosen on these, never on test scenes).
VALIDATION_SEED = 1


@dataclass
class OrganismResult:
    """Paths and the per-recipe curves (one row per recipe × step × variant)."""

    out: Path
    sft_checkpoint: Path
    curves: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def evaluation_settings() -> tuple[HFConfig, int]:
    """The :class:`~robustcot.models.hf.HFConfig` and batch size of every organism evaluation.

    A trace is ~25 tokens, so 48 new tokens never cut a well-formed answer off.
    """
    return HFConfig(max_new_tokens=48, device="cpu"), 32


def blank_image_accuracy(checkpoint: Path, out: Path, *, limit: int, eval_seed: int) -> float:
    """Base accuracy of ``checkpoint`` when every image is blank (chance if it really looks)."""
    import robustcot.organism.controls  # noqa: F401  (registers the synthetic_blank benchmark)
    from robustcot.config import EvalConfig
    from robustcot.evaluate import run_eval

    hf, batch = evaluation_settings()
    config = EvalConfig(
        model=f"hf:{checkpoint}",
        benchmark="synthetic_blank",
        limit=limit,
        variants=["base"],
        seed=eval_seed,
        out=out,
        batch_size=batch,
        hf=hf,
    )
    records = run_eval(config, show_progress=False).records
    return float(records["correct"].fillna(False).mean())


def headline(curves: pd.DataFrame) -> dict[str, Any]:
    """Per recipe and step: accuracy per variant, base entropy, and the drops the study reports."""
    table = curves[~curves["abstain"]].pivot_table(
        index=["recipe", "step"], columns="variant", values="accuracy"
    )
    entropy = curves[~curves["abstain"] & (curves["variant"] == "base")].set_index(["recipe", "step"])[
        "entropy"
    ]
    out: dict[str, Any] = {}
    for (recipe, step), row in table.iterrows():
        entry = {f"acc_{v}": round(float(row[v]), 4) for v in table.columns}
        entry["entropy_base"] = round(float(entropy.loc[(recipe, step)]), 4)
        for attack in ("wrong_think", "wrong_caption"):
            if attack in row:
                entry[f"drop_{attack}"] = round(float(row["base"] - row[attack]), 4)
        out.setdefault(recipe, {})[int(step)] = entry
    return out


def _recorded(checkpoint: Path, stage: str) -> dict[str, Any]:
    """The settings ``checkpoint``'s own ``organism.json`` says its ``stage`` was trained with."""
    return json.loads((checkpoint / "organism.json").read_text())[stage]


def _train_recipe(sft_dir: Path, run_dir: Path, config: GRPOConfig) -> float:
    from robustcot.organism.grpo import train_grpo

    start = time.perf_counter()
    train_grpo(sft_dir, run_dir, config)
    return time.perf_counter() - start


def train_recipes(sft_dir: Path, root: Path, recipes: list[str], grpo: GRPOConfig) -> dict[str, float]:
    """GRPO per recipe, the recipes side by side in worker processes when the cores allow.

    Each run keeps its own thread count, so it computes exactly what it would alone (the thread
    count changes floating-point sums), while two one-thread runs on two cores finish ~1.4–1.5× sooner
    than one after the other (as soon as two-thread runs in turn; docs/performance.md). Seconds per
    recipe, as each worker measured them.
    """
    configs = {r: grpo.model_copy(update={"augment": r == "augmented"}) for r in recipes}
    workers = min(len(recipes), max(1, (os.cpu_count() or 1) // grpo.threads))
    if workers <= 1:
        return {f"grpo_{r}_s": _train_recipe(sft_dir, root / r, c) for r, c in configs.items()}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {r: pool.submit(_train_recipe, sft_dir, root / r, c) for r, c in configs.items()}
        return {f"grpo_{r}_s": future.result() for r, future in futures.items()}


def train_organism(
    seed: int,
    out: Path,
    *,
    sft: SFTConfig | None = None,
    grpo: GRPOConfig | None = None,
    calibration: CalibrationConfig | None = CalibrationConfig(),  # noqa: B008  (immutable settings)
    recipes: tuple[str, ...] = RECIPES,
    eval_limit: int = 200,
    eval_seed: int = 0,
    validation_seed: int | None = VALIDATION_SEED,
) -> OrganismResult:
    """SFT then GRPO per recipe for ``seed``; every checkpoint evaluated on held-out scenes.

    ``calibration`` None skips the letter calibration (GRPO then starts from the SFT model).
    ``recipes`` picks GRPO runs: ``augmented`` (the study's injections at 10% each) and ``plain``
    (no injection). Finished stages found in ``out`` are reused, so an interrupted run resumes.
    ``validation_seed`` None skips the validation sweep.
    """
    from robustcot.config import EvalConfig
    from robustcot.organism.sft import train_sft
    from robustcot.train.sweep import sweep

    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown or not recipes:
        raise ConfigError(f"GRPO recipes must be some of {', '.join(RECIPES)}; got {list(recipes)}")
    if validation_seed == eval_seed:
        raise ConfigError(f"validation and test scenes must differ; both use synthetic seed {eval_seed}")
    out = Path(out)
    sft = (sft or SFTConfig()).model_copy(update={"seed": seed})
    grpo = (grpo or GRPOConfig()).model_copy(update={"seed": seed})
    timings: dict[str, float] = {}
    hf, batch = evaluation_settings()

    sft_dir = out / "sft"
    if not (sft_dir / "config.json").exists():
        start = time.perf_counter()
        train_sft(sft, sft_dir)
        timings["sft_s"] = time.perf_counter() - start

    start_dir = sft_dir
    if calibration is not None:
        calibration = calibration.model_copy(update={"seed": seed})
        start_dir = out / "calibrated"
        if not (start_dir / "config.json").exists():
            start = time.perf_counter()
            calibrate(sft_dir, start_dir, calibration)
            timings["calibration_s"] = time.perf_counter() - start

    pending = [r for r in recipes if not any((out / "grpo" / r).glob("checkpoint-*"))]
    timings.update(train_recipes(start_dir, out / "grpo", pending, grpo))
    runs = {recipe: out / "grpo" / recipe for recipe in recipes}

    def curves_on(scenes_seed: int, variants: tuple[str, ...], directory: str) -> pd.DataFrame:
        """Every checkpoint (the SFT model as step 0) on one set of held-out scenes; timed."""
        start = time.perf_counter()
        swept = sweep(
            runs,
            "synthetic",
            variants,
            out=out / directory,
            config=EvalConfig(limit=eval_limit, seed=scenes_seed, hf=hf, batch_size=batch),
            base_model=f"hf:{start_dir}",
        )
        timings[f"{directory}_s"] = time.perf_counter() - start
        return swept.curves.rename(columns={"run": "recipe"})

    curves = curves_on(eval_seed, CURVE_VARIANTS, "sweep")
    curves.to_parquet(out / "curves.parquet", index=False)
    validation = None if validation_seed is None else curves_on(validation_seed, ("base",), "validation")

    start = time.perf_counter()
    blank = blank_image_accuracy(start_dir, out / "controls" / "blank", limit=eval_limit, eval_seed=eval_seed)
    timings["blank_control_s"] = time.perf_counter() - start
    summary = {
        "seed": seed,
        # what the checkpoints were trained with: a reused stage may have had other settings
        "sft": _recorded(sft_dir, "sft"),
        "calibration": None if calibration is None else _recorded(start_dir, "calibration"),
        "grpo": grpo.model_dump(),
        "eval": {"limit": eval_limit, "seed": eval_seed, "validation_seed": validation_seed},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},  # stages run by this call only
        "blank_image_base_accuracy_sft": round(blank, 4),
        "curves": headline(curves),
    }
    if validation is not None:
        summary["validation"] = headline(validation)
    (out / "organism.json").write_text(json.dumps(summary, indent=2) + "\n")
    return OrganismResult(out, sft_dir, curves, summary)
