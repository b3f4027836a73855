"""Letter calibration: a short stage after SFT that leaves the organism unsure of its letters.

Templated traces make the answer letter a certain copy of the think's conclusion: after SFT the
organism's letter entropy is ~0.02 nats, where a real SFT'd VLM keeps some doubt, and the study's
finding that GRPO lowers letter entropy has nothing to act on. This stage trains the SFT model a
little further on fresh traces with the answer letter's target smoothed: the letter with
probability ``1 - letter_smoothing``, the question's other letters sharing the rest. The target's
most likely letter stays the trace's; over three seeds greedy base accuracy went 0.910 -> 0.927
(the further steps also sharpened the row lookups) while letter entropy rose 0.02 -> 0.41 nats.

Why after SFT and not during it: smoothing the letter from the first step cost 3.5–20 points of base
accuracy in three seeds (docs/organism.md); the model must also learn to spread mass over a
question's other options, a burden while it is still learning to read the image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from robustcot.organism.sft import DEFAULT_MIX, LinearPatchEmbedding, save_checkpoint, target_loss
from robustcot.organism.traces import collate, trace_stream

#: Trace index the calibration stream starts at: beyond any SFT run's traces, so its scenes are new.
FIRST_TRACE = 10_000_000


class CalibrationConfig(BaseModel):
    """Settings of the calibration stage; with the SFT checkpoint they determine its output."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    """Training scenes and trace kinds (the SFT's mix, from trace ``FIRST_TRACE`` on)."""
    steps: int = Field(150, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-4, gt=0)
    """Constant; the SFT schedule's final learning rate."""
    letter_smoothing: float = Field(0.1, gt=0, lt=0.5)
    """Share of the answer letter's target probability spread evenly over the question's other
    letters."""
    threads: int = Field(2, ge=1)
    """torch intra-op threads (part of what reproduces a run, as for SFT)."""


def calibrate(sft_checkpoint: Path, out: Path, config: CalibrationConfig) -> Path:
    """Train ``sft_checkpoint`` ``config.steps`` steps with the answer letter smoothed; save to ``out``.

    Only the next-token loss (no probes, no attention targets): the lookups are learned; this
    stage only moves the letter's distribution. A fresh AdamW, so the result depends on the saved
    checkpoint alone.
    """
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from robustcot.models.processor import load_processor

    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(sft_checkpoint).train()
    patch_embedding = LinearPatchEmbedding(model)
    processor = load_processor(sft_checkpoint)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98), weight_decay=0.0)
    stream = trace_stream(processor, DEFAULT_MIX, seed=config.seed, start=FIRST_TRACE)
    for _ in range(config.steps):
        batch = collate(processor, [next(stream) for _ in range(config.batch_size)])
        loss = target_loss(model, batch, letter_smoothing=config.letter_smoothing)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    patch_embedding.remove()
    meta = {
        "stage": "calibration",
        "calibration": config.model_dump(),
        "from": json.loads((Path(sft_checkpoint) / "organism.json").read_text()),
        "train_seconds": round(time.perf_counter() - start, 1),
        "final_loss": float(loss.detach()),
    }
    return save_checkpoint(model.eval(), processor, Path(out), meta)
