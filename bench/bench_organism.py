"""The organism study end to end: per seed SFT, letter calibration, GRPO with and without
augmentation, curves, controls.

For every seed it runs :func:`robustcot.organism.pipeline.train_organism` (finished stages are
reused, so an interrupted bench resumes), then aggregates over seeds into ``OUT/summary.json`` and
draws ``OUT/organism_curves.png``: base accuracy, base letter entropy and the accuracy drops under
``wrong_think`` and ``wrong_caption`` against the GRPO step, one line per recipe, mean ± 1 s.d.
over seeds. It also writes ``OUT/validation.csv`` (the same on validation scenes, base variant:
the numbers to choose settings on) and ``OUT/augmentation_effect.csv`` (augmented against plain,
paired by scene). docs/organism.md reports a run of this script.

Usage: python bench/bench_organism.py [--seeds 0 1 2] [--out runs/organism] [--grpo-steps 100]
       [--grpo-lr 1e-4] [--limit 200] [--sft-threads 2]

An SFT checkpoint already at ``OUT/seed<S>/sft`` is used as it is (e.g. a copy of the packaged one
for seed 0), so the GRPO findings can be re-measured without the SFT.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from robustcot.analysis.stats import mcnemar_exact
from robustcot.organism.calibrate import CalibrationConfig
from robustcot.organism.grpo import GRPOConfig
from robustcot.organism.pipeline import RECIPES, train_organism
from robustcot.organism.sft import SFTConfig

PANELS = (
    ("acc_base", "base accuracy"),
    ("entropy_base", "base letter entropy H (nats)"),
    ("drop_wrong_think", "accuracy drop, wrong_think"),
    ("drop_wrong_caption", "accuracy drop, wrong_caption"),
)


def long_table(summaries: dict[int, dict], split: str = "curves") -> pd.DataFrame:
    """One row per seed × recipe × step with the headline numbers of ``organism.json`` on the test
    scenes (``split="curves"``) or the validation scenes (``"validation"``)."""
    rows = [
        {"seed": seed, "recipe": recipe, "step": int(step), **entry}
        for seed, summary in summaries.items()
        for recipe, steps in summary.get(split, {}).items()
        for step, entry in steps.items()
    ]
    return pd.DataFrame(rows).sort_values(["recipe", "step", "seed"], ignore_index=True)


def final_step_correct(seed_dir: Path, recipe: str) -> pd.DataFrame:
    """Scene × variant correctness (unparsed = wrong) of ``recipe``'s last GRPO checkpoint, from the
    sweep's run directories (``sweep/evals/<recipe>/step-<N>``)."""
    steps = {
        int(p.name.removeprefix("step-")): p for p in (seed_dir / "sweep" / "evals" / recipe).glob("step-*")
    }
    records = pd.read_parquet(steps[max(steps)] / "records.parquet")
    records["correct"] = records["correct"].fillna(False).astype(bool)
    return records.pivot(index="sample_id", columns="variant", values="correct")


def augmentation_effect(seed_dirs: dict[int, Path]) -> pd.DataFrame:
    """Augmented against plain at the last checkpoint, paired by scene, per seed and pooled.

    ``wc_aug_only`` / ``wc_plain_only``: scenes that only one recipe answers right under
    ``wrong_caption`` (exact McNemar test, ``p_wrong_caption``). ``drop_smaller`` / ``drop_larger``:
    scenes whose base − wrong_caption drop is smaller / larger under augmentation (exact sign test,
    ``p_drop``). Pooling the discordant scenes over seeds conditions on each seed's models: it says
    whether augmentation changed these models, not how much it varies from seed to seed (for that,
    the per-seed rows).
    """
    rows = []
    for seed, seed_dir in seed_dirs.items():
        aug, plain = (final_step_correct(seed_dir, r) for r in ("augmented", "plain"))
        change = (aug["base"].astype(int) - aug["wrong_caption"]) - (
            plain["base"].astype(int) - plain["wrong_caption"]
        )
        rows.append({
            "seed": str(seed),
            "drop_augmented": aug["base"].mean() - aug["wrong_caption"].mean(),
            "drop_plain": plain["base"].mean() - plain["wrong_caption"].mean(),
            "wc_aug_only": int((aug["wrong_caption"] & ~plain["wrong_caption"]).sum()),
            "wc_plain_only": int((~aug["wrong_caption"] & plain["wrong_caption"]).sum()),
            "drop_smaller": int((change < 0).sum()),
            "drop_larger": int((change > 0).sum()),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    pooled = table.drop(columns="seed").sum()
    pooled[["drop_augmented", "drop_plain"]] /= len(table)
    table = pd.concat([table, pooled.to_frame().T.assign(seed="pooled")], ignore_index=True)
    table["p_wrong_caption"] = [
        mcnemar_exact(int(a), int(b)) for a, b in zip(table.wc_aug_only, table.wc_plain_only, strict=True)
    ]
    table["p_drop"] = [
        mcnemar_exact(int(a), int(b)) for a, b in zip(table.drop_smaller, table.drop_larger, strict=True)
    ]
    return table


def plot(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    for ax, (metric, title) in zip(axes, PANELS, strict=True):
        for recipe, frame in table.groupby("recipe"):
            agg = frame.groupby("step")[metric].agg(["mean", "std"]).reset_index().fillna(0.0)
            ax.plot(agg["step"], agg["mean"], marker="o", label=recipe)
            ax.fill_between(agg["step"], agg["mean"] - agg["std"], agg["mean"] + agg["std"], alpha=0.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("GRPO step (0 = its starting model)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"organism, {table['seed'].nunique()} seed(s), mean ± 1 s.d.", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("runs/organism"))
    ap.add_argument("--grpo-steps", type=int, default=GRPOConfig().steps)
    ap.add_argument("--grpo-lr", type=float, default=GRPOConfig().lr)
    ap.add_argument("--sft-threads", type=int, default=SFTConfig().threads,
                    help="torch threads of SFT and calibration (2 alone on a 2-core machine, 1 per run side by side)")
    ap.add_argument("--save-every", type=int, default=GRPOConfig().save_every)
    ap.add_argument("--limit", type=int, default=200, help="held-out scenes per evaluation")
    args = ap.parse_args()
    summaries = {}
    for seed in args.seeds:
        grpo = GRPOConfig(steps=args.grpo_steps, lr=args.grpo_lr, save_every=args.save_every)
        sft = SFTConfig(threads=args.sft_threads)
        calibration = CalibrationConfig(threads=args.sft_threads)
        result = train_organism(
            seed,
            args.out / f"seed{seed}",
            sft=sft,
            calibration=calibration,
            grpo=grpo,
            recipes=RECIPES,
            eval_limit=args.limit,
        )
        summaries[seed] = result.summary
        print(f"seed {seed}: {json.dumps(result.summary['timings_s'])}", flush=True)
    table = long_table(summaries)
    table.to_csv(args.out / "headline.csv", index=False)
    validation = long_table(summaries, "validation")
    if len(validation):
        validation.to_csv(args.out / "validation.csv", index=False)
    figure = plot(table, args.out / "organism_curves.png")
    blank = {s: summaries[s]["blank_image_base_accuracy_sft"] for s in summaries}
    aggregate = table.groupby(["recipe", "step"]).agg(["mean", "std"]).drop(columns="seed")
    (args.out / "summary.json").write_text(
        json.dumps(
            {
                "blank_image_base_accuracy_sft": blank,
                "timings_s": {s: v["timings_s"] for s, v in summaries.items()},
            },
            indent=2,
        )
    )
    effect = augmentation_effect({seed: args.out / f"seed{seed}" for seed in args.seeds})
    effect.to_csv(args.out / "augmentation_effect.csv", index=False)
    print(aggregate.round(3).to_string())
    if len(validation):
        print("validation scenes:")
        print(validation.groupby(["recipe", "step"]).agg(["mean", "std"]).drop(columns="seed").round(3).to_string())
    print("augmented vs plain at the last checkpoint, paired by scene:")
    print(effect.round(4).to_string(index=False))
    print(f"blank-image base accuracy after SFT: {blank}")
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
