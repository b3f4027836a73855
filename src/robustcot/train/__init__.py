"""GRPO training for the study: rewards, augmentation, data export, verl/TRL launchers, checkpoint sweeps.

Modules (see docs/training.md):

* :mod:`~robustcot.train.rewards` — 0.1·format + 1.0·accuracy, optionally × the judge's
  think≡answer indicator; :mod:`~robustcot.train.answers` decides correctness per answer type;
  :mod:`~robustcot.train.judge_http` is the LLM judge over HTTP; :mod:`~robustcot.train.shortcuts`
  the shortcut detectors.
* :mod:`~robustcot.train.augment` — injected captions/thinks; :mod:`~robustcot.train.export` — a
  benchmark mix to verl parquet and a TRL dataset.
* :mod:`~robustcot.train.verl_reward` (the file verl loads), :mod:`~robustcot.train.verl_agent`
  (prefill agent loop; imports verl), :mod:`~robustcot.train.verl_launch` (the command).
* :mod:`~robustcot.train.trl_grpo` — the single-machine TRL path.
* :mod:`~robustcot.train.checkpoints`, :mod:`~robustcot.train.sweep`,
  :mod:`~robustcot.train.rollouts` — evaluation over training.

Heavy dependencies (datasets, trl, verl, matplotlib) are imported inside the functions that need them.
"""

from robustcot.train.answers import Target, check_answer
from robustcot.train.augment import AugmentConfig, build_prompt
from robustcot.train.export import parse_mix, prepare
from robustcot.train.rewards import RewardConfig, RewardParts, format_ok, score_batch, score_response
from robustcot.train.shortcuts import near_duplicate_share, shortcut_stats

__all__ = [
    "AugmentConfig",
    "RewardConfig",
    "RewardParts",
    "Target",
    "build_prompt",
    "check_answer",
    "format_ok",
    "near_duplicate_share",
    "parse_mix",
    "prepare",
    "score_batch",
    "score_response",
    "shortcut_stats",
]
