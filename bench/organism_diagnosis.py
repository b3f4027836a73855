"""Where an organism checkpoint's answers go wrong: finding what to read, or reading it.

Teacher-forced on base traces of held-out scenes (the gold think is given, so every step is asked
on its own; validation scenes by default, the ones settings are chosen on), per question family,
for the two attention lookups SFT teaches (:mod:`robustcot.organism.sft`):

* the image lookups of the think (a row, a column, an attribute, a count): ``<kind>_attention`` is
  the grounding head's attention on the image tokens the lookup should read, ``<kind>_read`` how
  often the token the think writes there (the row digit, the colour, the count) is predicted right;
* the answer letter: ``letter_attention`` is the pointing head's attention on the concluded option's
  text in the prompt's list, ``letter_found`` how often that option is the one it attends to most,
  ``letter`` how often the predicted letter is the concluded option's.

High attention with a wrong read means the head finds the right token and what it carries is not
enough (the letter binding the SFT's letter probe adds; docs/organism.md reports runs).

Usage: python bench/organism_diagnosis.py CHECKPOINT [CHECKPOINT ...] [--scenes 48] [--scene-seed 1]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from robustcot.data.synthetic import FAMILIES, synthetic_sample
from robustcot.models.processor import load_processor
from robustcot.organism.sft import SFTConfig
from robustcot.organism.thinks import LOOKUP_KINDS
from robustcot.organism.traces import collate, make_trace


def diagnose(
    checkpoint: Path, scenes: int, scene_seed: int = 1, batch_size: int = 16
) -> dict[str, dict[str, float]]:
    """Per family, the means described in the module docstring."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    recorded = json.loads((checkpoint / "organism.json").read_text()).get("sft", {})
    sft = SFTConfig(**{k: v for k, v in recorded.items() if k in SFTConfig.model_fields})
    processor = load_processor(checkpoint)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, attn_implementation="eager").eval()
    layers = model.model.language_model.layers
    kept: dict[str, torch.Tensor] = {}
    hooks = [
        layers[sft.ground_layer].self_attn.register_forward_hook(lambda m, i, o: kept.update(ground=o[1])),
        layers[sft.point_layer].self_attn.register_forward_hook(lambda m, i, o: kept.update(point=o[1])),
    ]
    samples = [synthetic_sample(i, seed=scene_seed) for i in range(scenes * len(FAMILIES) * 3)]
    report = {}
    for family in FAMILIES:
        traces = [
            make_trace(s, "base", processor, seed=0) for s in samples if s.metadata["category"] == family
        ][:scenes]
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for start in range(0, len(traces), batch_size):
            batch = collate(processor, traces[start : start + batch_size])
            with torch.no_grad():
                predicted = model(
                    **{k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids")},
                    pixel_values=batch["pixel_values"],
                    image_grid_thw=batch["image_grid_thw"],
                ).logits.argmax(-1)
            lookups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
            for row, query, key, kind in batch["grounding"].tolist():
                lookups[row, query, kind].append(key)
            for (row, query, kind), keys in lookups.items():
                name = LOOKUP_KINDS[kind]
                head = sft.ground_heads.get(name)
                if head is not None:
                    sums[f"{name}_attention"] += float(kept["ground"][row, head, query, keys].sum())
                    counts[f"{name}_attention"] += 1
                sums[f"{name}_read"] += int(predicted[row, query] == batch["input_ids"][row, query + 1])
                counts[f"{name}_read"] += 1
            options = batch["options"]
            for (row, query, key, _), (_, at, index, _) in zip(
                batch["pointing"].tolist(), batch["answers"].tolist(), strict=True
            ):
                weights = kept["point"][row, sft.point_head, query]
                listed = options[options[:, 0] == row, 1]
                sums["letter_attention"] += float(weights[key])
                sums["letter_found"] += int(listed[weights[listed].argmax()]) == key
                sums["letter"] += int(predicted[row, at]) == int(batch["letter_ids"][index])
                for name in ("letter_attention", "letter_found", "letter"):
                    counts[name] += 1
        report[family] = {name: sums[name] / counts[name] for name in sorted(counts)}
    for hook in hooks:
        hook.remove()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--scenes", type=int, default=48, help="scenes per question family")
    parser.add_argument("--scene-seed", type=int, default=1, help="synthetic seed: 1 validation, 0 test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for checkpoint in args.checkpoints:
        for family, numbers in diagnose(checkpoint, args.scenes, args.scene_seed).items():
            print(checkpoint, family, {k: round(v, 3) for k, v in numbers.items()}, flush=True)


if __name__ == "__main__":
    main()
