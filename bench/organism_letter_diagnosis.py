"""Does an organism checkpoint answer the letter of the option its think concluded, and if not, why?

Teacher-forced on base traces of held-out scenes (the gold think is given, so the lookup cannot be
what fails), per question family:

* ``letter``: how often the answer letter the model predicts is the concluded option's;
* ``attention``: the pointing head's attention, where the letter is predicted, on the concluded
  option's text in the prompt's list (the pointing target of :mod:`robustcot.organism.sft`);
* ``found``: how often that option is the one the head attends to most.

A model that finds the option (``attention`` near 1) and still answers another letter lacks the
letter binding, not the pointing; docs/organism.md reports a run on five seeds' SFT checkpoints.

Usage: python bench/organism_letter_diagnosis.py CHECKPOINT [CHECKPOINT ...] [--scenes 48]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from robustcot.data.synthetic import FAMILIES, synthetic_sample
from robustcot.models.processor import load_processor
from robustcot.organism.sft import SFTConfig
from robustcot.organism.traces import collate, make_trace


def diagnose(checkpoint: Path, scenes: int, batch_size: int = 16) -> dict[str, dict[str, float]]:
    """Per family: mean letter accuracy, attention on the concluded option, and how often it is the most attended."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    recorded = json.loads((checkpoint / "organism.json").read_text()).get("sft", {})
    sft = SFTConfig(**{k: v for k, v in recorded.items() if k in SFTConfig.model_fields})
    processor = load_processor(checkpoint)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, attn_implementation="eager").eval()
    kept = {}
    layer = model.model.language_model.layers[sft.point_layer].self_attn
    hook = layer.register_forward_hook(lambda module, inputs, output: kept.update(weights=output[1]))
    samples = [synthetic_sample(i, seed=0) for i in range(scenes * len(FAMILIES) * 3)]
    found = {}
    for family in FAMILIES:
        traces = [
            make_trace(s, "base", processor, seed=0) for s in samples if s.metadata["category"] == family
        ][:scenes]
        letter = attention = most = 0.0
        for start in range(0, len(traces), batch_size):
            batch = collate(processor, traces[start : start + batch_size])
            with torch.no_grad():
                logits = model(
                    **{k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids")},
                    pixel_values=batch["pixel_values"],
                    image_grid_thw=batch["image_grid_thw"],
                ).logits
            options = batch["options"]
            for (row, query, key, _), (_, at, index, n) in zip(
                batch["pointing"].tolist(), batch["answers"].tolist(), strict=True
            ):
                letter += int(logits[row, at, batch["letter_ids"][:n]].argmax()) == index
                weights = kept["weights"][row, sft.point_head, query]
                attention += float(weights[key])
                listed = options[options[:, 0] == row, 1]
                most += int(listed[weights[listed].argmax()]) == key
        found[family] = {
            "letter": letter / len(traces),
            "attention": attention / len(traces),
            "found": most / len(traces),
        }
    hook.remove()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--scenes", type=int, default=48, help="scenes per question family")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for checkpoint in args.checkpoints:
        for family, numbers in diagnose(checkpoint, args.scenes).items():
            print(checkpoint, family, {k: round(v, 3) for k, v in numbers.items()}, flush=True)


if __name__ == "__main__":
    main()
