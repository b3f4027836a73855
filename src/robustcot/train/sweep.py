"""Checkpoint sweeps: evaluate every saved policy of one or more training runs, draw the curves.

``sweep({"seed0": ".../seed0/checkpoints", "seed1": ...}, "synthetic", ["base", "wrong_think"], out=...)``

1. finds the checkpoints of each run (:mod:`robustcot.train.checkpoints`; verl ones are merged);
2. evaluates each with :func:`robustcot.evaluate.run_eval` into ``out/evals/<run>/step-<N>`` (a
   normal run directory). A finished checkpoint is marked with ``sweep.json`` and skipped on the
   next call, so a sweep resumes where it stopped and picks up checkpoints saved since. An optional
   ``base_model`` is evaluated once as step 0 of every run;
3. writes ``out/curves.parquet``: one row per run × step × variant × abstain flag with accuracy,
   mean letter entropy, mean P(correct) and the consistent share (rule judge), from
   :func:`robustcot.analysis.metrics.variant_metrics`;
4. draws ``out/curves.png``: each metric against the step, one line per variant, the mean over runs
   with a ±1 standard deviation band (runs are seeds: seed variance exceeds recipe differences);
5. when a run has verl rollout dumps (``rollouts/`` next to its checkpoint directory, or given in
   ``rollout_dirs``), writes ``out/rollout_curves.parquet`` and ``out/rollouts.png``: training-time
   reward, accuracy, consistency and shortcut detectors per step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustcot.analysis.metrics import variant_metrics
from robustcot.config import EvalConfig
from robustcot.errors import ConfigError
from robustcot.evaluate import run_eval
from robustcot.perturb.variants import parse_variants
from robustcot.train.checkpoints import find_checkpoints, model_dir
from robustcot.train.rollouts import read_rollouts, rollout_curves

DONE_MARKER = "sweep.json"
CURVE_METRICS = (
    ("accuracy", "accuracy"),
    ("entropy", "letter entropy H (nats)"),
    ("p_correct", "P(correct letter)"),
    ("consistency", "consistent share (rule judge)"),
)
ROLLOUT_METRICS = (
    ("score", "reward"),
    ("accuracy", "accuracy"),
    ("consistent", "consistent share"),
    ("near_duplicate_share", "near-duplicate thinks in group"),
)


@dataclass
class SweepResult:
    curves: pd.DataFrame
    figure: Path
    rollout_curves: pd.DataFrame | None
    evaluated: int
    """Checkpoints evaluated by this call (0 when everything was already done)."""


def _runs(ckpt_root: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    if isinstance(ckpt_root, Mapping):
        runs = {str(k): Path(v) for k, v in ckpt_root.items()}
    else:
        runs = {Path(ckpt_root).name: Path(ckpt_root)}
    if not runs:
        raise ConfigError("no checkpoint directories given")
    return runs


def _evaluate(
    model: str, run_dir: Path, template: EvalConfig, label: str, show_progress: bool
) -> tuple[pd.DataFrame, bool]:
    """Records of one model's run dir; evaluated unless its marker says it is done. (records, evaluated)."""
    marker = run_dir / DONE_MARKER
    if marker.exists():
        return pd.read_parquet(run_dir / "records.parquet"), False
    config = template.model_copy(update={"model": model, "out": run_dir})
    result = run_eval(config, show_progress=show_progress)
    marker.write_text(json.dumps({"checkpoint": label, "model": model}, indent=2) + "\n")
    return result.records, True


def _curve_rows(records: pd.DataFrame, run: str, step: int) -> pd.DataFrame:
    m = variant_metrics(records)
    return pd.DataFrame(
        {
            "run": run,
            "step": step,
            "variant": m["variant"],
            "abstain": m["abstain"],
            "n_scored": m["n_scored"],
            "accuracy": m["accuracy"],
            "acc_low": m["acc_low"],
            "acc_high": m["acc_high"],
            "entropy": m["mean_entropy"],
            "p_correct": m["mean_p_correct"],
            "consistency": m["share_consistent_correct"] + m["share_consistent_incorrect"],
            "flip_to_wrong": m["flip_to_wrong"],
        }
    )


def sweep(
    ckpt_root: str | Path | Mapping[str, str | Path],
    benchmark: str,
    variants: str | Sequence[str] = ("base", "wrong_think", "wrong_caption", "correct_think"),
    *,
    out: str | Path,
    config: EvalConfig | None = None,
    base_model: str | None = None,
    rollout_dirs: Mapping[str, str | Path] | None = None,
    show_progress: bool = False,
) -> SweepResult:
    """Evaluate every checkpoint of every run on ``benchmark`` × ``variants``; write curves and figures.

    ``ckpt_root`` is one run's checkpoint directory or ``{run name: directory}`` for several seeds.
    ``config`` holds every other evaluation setting (limit, seed, data_dir, benchmark options, hf
    generation settings, profile ...); its model and output directory are set per checkpoint.
    """
    out = Path(out)
    runs = _runs(ckpt_root)
    template = (config or EvalConfig()).model_copy(
        update={"benchmark": benchmark, "variants": parse_variants(variants)}
    )
    evaluated = 0
    frames = []
    base_records = None
    if base_model is not None:
        base_records, done = _evaluate(
            base_model, out / "evals" / "base" / "step-0", template, base_model, show_progress
        )
        evaluated += done
    for run, root in runs.items():
        checkpoints = find_checkpoints(root)
        if not checkpoints:
            raise ConfigError(f"no checkpoints (checkpoint-N or global_step_N/actor) in {root}")
        if base_records is not None:
            frames.append(_curve_rows(base_records, run, 0))
        for ckpt in checkpoints:
            path = model_dir(ckpt, out / "merged" / run)
            records, done = _evaluate(
                f"hf:{path}",
                out / "evals" / run / f"step-{ckpt.step}",
                template,
                str(ckpt.path),
                show_progress,
            )
            evaluated += done
            frames.append(_curve_rows(records, run, ckpt.step))
    curves = pd.concat(frames, ignore_index=True).sort_values(
        ["run", "step", "variant", "abstain"], ignore_index=True
    )
    out.mkdir(parents=True, exist_ok=True)
    curves.to_parquet(out / "curves.parquet", index=False)
    figure = plot_curves(curves, out / "curves.png", CURVE_METRICS, by="variant")

    rollouts = _rollout_curves(runs, rollout_dirs)
    if rollouts is not None:
        rollouts.to_parquet(out / "rollout_curves.parquet", index=False)
        plot_curves(rollouts.assign(series="training"), out / "rollouts.png", ROLLOUT_METRICS, by="series")
    return SweepResult(curves, figure, rollouts, evaluated)


def _rollout_curves(runs: Mapping[str, Path], given: Mapping[str, str | Path] | None) -> pd.DataFrame | None:
    """Per-step rollout curves of every run that has dumps (``given``, else ``<root>/../rollouts``)."""
    frames = []
    for run, root in runs.items():
        directory = Path(given[run]) if given and run in given else root.parent / "rollouts"
        if directory.is_dir() and any(directory.glob("*.jsonl")):
            frames.append(rollout_curves(read_rollouts(directory)).assign(run=run))
    return pd.concat(frames, ignore_index=True) if frames else None


def aggregate(curves: pd.DataFrame, metric: str, by: str) -> pd.DataFrame:
    """Mean, standard deviation and run count of ``metric`` per (``by``, step) over runs."""
    grouped = curves.groupby([by, "step"])[metric]
    return grouped.agg(mean="mean", std="std", n_runs="count").reset_index()


def plot_curves(curves: pd.DataFrame, path: Path, metrics: Sequence[tuple[str, str]], *, by: str) -> Path:
    """One panel per metric against step; a line per ``by`` value, ±1 s.d. band over runs when there are several."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = curves[~curves["abstain"]] if "abstain" in curves else curves
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, (metric, title) in zip(axes[0], metrics, strict=True):
        if metric not in frame or frame[metric].isna().all():
            ax.set_title(f"{title}\n(not available)")
            continue
        for name, agg in aggregate(frame, metric, by).groupby(by, sort=False):
            ax.plot(agg["step"], agg["mean"], marker="o", label=str(name))
            if (agg["n_runs"] > 1).any():
                ax.fill_between(agg["step"], agg["mean"] - agg["std"], agg["mean"] + agg["std"], alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    n_runs = curves["run"].nunique() if "run" in curves else 1
    fig.suptitle(f"mean over {n_runs} run(s)" + (" ± 1 s.d." if n_runs > 1 else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
