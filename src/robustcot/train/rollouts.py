"""Training-time curves from verl's rollout dumps (``trainer.rollout_data_dir``).

verl writes one ``<step>.jsonl`` per training step, one line per rollout, with ``input`` (the
decoded prompt, injected prefill included), ``output`` (the generated text), ``gts``, ``score``,
``step`` and every key the reward function returned: with :mod:`robustcot.train.verl_reward` that
includes ``format``, ``accuracy``, ``consistent``, ``inconsistent``, ``no_conclusion`` and
``think_chars``. :func:`rollout_curves` averages them per step and adds the group-level shortcut
detector (near-duplicate thinks among the rollouts of one prompt, grouped by identical ``input``),
so consistency during training can be drawn next to the checkpoint evaluations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from robustcot.train.answers import split_think_answer
from robustcot.train.shortcuts import is_empty_think, near_duplicate_share

#: Per-rollout reward parts averaged per step when present in the dump.
PART_COLUMNS = (
    "score", "format", "accuracy", "faithful", "consistent", "inconsistent", "no_conclusion",
    "unjudged", "think_chars", "judge_error",
)  # fmt: skip


def read_rollouts(rollout_dir: str | Path) -> pd.DataFrame:
    """All dumped rollouts under ``rollout_dir`` (``<step>.jsonl`` files), one row each, ordered by step.

    Each line carries its own ``step``; file names are only used to find the files.
    """
    root = Path(rollout_dir)
    files = sorted(root.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no rollout dumps (<step>.jsonl) in {root}; set trainer.rollout_data_dir")
    rows = []
    for file in files:
        with file.open() as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    frame = pd.DataFrame(rows)
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


def rollout_curves(rollouts: pd.DataFrame) -> pd.DataFrame:
    """Per-step means of the reward parts plus the shortcut detectors (one row per step)."""
    frame = rollouts.copy()
    thinks = [split_think_answer(str(text))[0] for text in frame["output"]]
    frame["empty_think_share"] = [float(is_empty_think(t)) for t in thinks]
    frame["_think"] = thinks
    parts = [c for c in PART_COLUMNS if c in frame]
    out = frame.groupby("step")[[*parts, "empty_think_share"]].mean()
    out["near_duplicate_share"] = frame.groupby("step").apply(
        lambda g: g.groupby("input")["_think"].apply(lambda t: near_duplicate_share(list(t))).mean(),
        include_groups=False,
    )
    out["n_rollouts"] = frame.groupby("step").size()
    return out.reset_index()
