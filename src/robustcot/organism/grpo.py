"""The organism's GRPO stage, through the project's TRL path with the study's reward and augmentation.

Nothing here re-implements RL: prompts come from :func:`robustcot.train.export.prepare` (the
synthetic benchmark with the study's injections), training is
:func:`robustcot.train.trl_grpo.train_trl` (TRL's ``GRPOTrainer`` with the prefill rollout hook),
and the reward is :mod:`robustcot.train.rewards` (0.1·format + 1.0·accuracy, optionally × the rule
judge's think≡answer indicator). This module only picks settings that suit a 1.4 M-parameter model
on a CPU: a learning rate far above the 7B's, short completions, a handful of prompts per step.

GRPO scenes come from their own synthetic seed range, disjoint from the SFT scenes and from the
evaluation scenes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from robustcot.organism.traces import TRAIN_SCENE_SEED
from robustcot.prompting.profiles import ORGANISM

#: Offset of the GRPO scene seeds from the SFT scene seeds.
GRPO_SCENE_OFFSET = 500_000


class GRPOConfig(BaseModel):
    """Settings of one organism GRPO run."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    """Scenes, injections, sampling and TRL's own seed."""
    steps: int = Field(100, ge=1)
    """Steps per recipe. Letter entropy falls most in the first 50 (docs/organism.md); 100 instead of
    150 keeps the whole pipeline within 15 minutes on 2 cores."""
    prompts: int = Field(400, ge=1)
    """Distinct training prompts (one scene each)."""
    prompts_per_step: int = Field(4, ge=1)
    num_generations: int = Field(8, ge=2)
    """Rollouts per prompt (the study's G)."""
    lr: float = Field(1e-4, gt=0)
    """Measured on three seeds of the current SFT recipe: at 1e-4 base accuracy is kept (0.862 ->
    0.867 / 0.862), at 3e-4 it fell 4-5 points in every seed; on the previous recipe's checkpoint
    1e-3 collapsed the policy (0.79 -> 0.49 in 100 steps). See docs/organism.md."""
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0)
    """KL coefficient; 0 loads no reference model (TRL's default)."""
    augment: bool = True
    """Inject {correct,wrong} × {caption,think}, each with ``augment_probability`` (the study's recipe)."""
    augment_probability: float = Field(0.1, ge=0, le=0.25)
    faithfulness: Literal["none", "rule"] = "none"
    """``rule`` multiplies the reward by the rule judge's think≡answer indicator."""
    save_every: int = Field(50, ge=1)
    max_completion_length: int = Field(48, ge=8)
    threads: int = Field(1, ge=1)


@dataclass
class GRPOResult:
    """Checkpoints (``checkpoint-<step>``, each loadable with ``hf:<path>``) and TRL's log history."""

    out: Path
    checkpoints: list[Path]
    log_history: list[dict[str, Any]]


def train_grpo(sft_checkpoint: Path, out: Path, config: GRPOConfig) -> GRPOResult:
    """GRPO from ``sft_checkpoint``; writes ``out/data`` (prompts, in the ``organism`` profile the
    SFT traces use) and ``out/checkpoint-<step>``."""
    import torch

    from robustcot.train.augment import INJECTIONS, AugmentConfig
    from robustcot.train.export import prepare
    from robustcot.train.rewards import RewardConfig
    from robustcot.train.trl_grpo import train_trl

    torch.set_num_threads(config.threads)
    augment = (
        AugmentConfig(dict.fromkeys(INJECTIONS, config.augment_probability), seed=config.seed)
        if config.augment
        else False
    )
    scene_seed = TRAIN_SCENE_SEED + GRPO_SCENE_OFFSET + config.seed
    data = prepare(
        f"synthetic:{config.prompts}", out / "data", seed=scene_seed, augment=augment, profile=ORGANISM
    )
    result = train_trl(
        data.trl_dir,
        sft_checkpoint,
        out,
        reward=RewardConfig(faithfulness=config.faithfulness),
        num_generations=config.num_generations,
        per_device_train_batch_size=config.prompts_per_step * config.num_generations,
        max_steps=config.steps,
        learning_rate=config.lr,
        max_completion_length=config.max_completion_length,
        save_steps=config.save_every,
        logging_steps=1,
        seed=config.seed,
        use_cpu=True,
        temperature=config.temperature,
        beta=config.beta,
        save_only_model=True,
        dataloader_num_workers=0,
    )
    return GRPOResult(result.out, result.checkpoints, result.log_history)
