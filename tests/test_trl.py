"""TRL path: the prefill rollout hook, the reward function, and a 2-step GRPO run on the tiny model."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from robustcot.train.augment import AugmentConfig
from robustcot.train.export import prepare

pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from trl.data_utils import prepare_multimodal_messages  # noqa: E402

from robustcot.models.processor import load_processor  # noqa: E402
from robustcot.train.trl_grpo import TRLReward, prefill_rollout, train_trl  # noqa: E402

PREFILL = "<think>Let me look at the image carefully. The red circle is left"


def test_prefill_rollout_renders_the_prefill_as_prompt(tiny_path):
    from PIL import Image

    processor = load_processor(tiny_path)
    image = Image.new("RGB", (56, 56), "red")
    user = {"role": "user", "content": "Where is the circle?"}
    prompts = [
        prepare_multimodal_messages([user, {"role": "assistant", "content": PREFILL}], images=[image]),
        prepare_multimodal_messages([user], images=[image]),
    ]
    seen = {}

    def generate(prompt_ids, images, fields, num_generations):
        seen.update(prompt_ids=prompt_ids, images=images, fields=fields)
        return [[5, 6], [7]], None

    trainer = SimpleNamespace(
        processing_class=processor, chat_template=None, chat_template_kwargs={}, num_generations=2,
        _generate_single_turn=generate,
    )  # fmt: skip
    out = prefill_rollout(prompts, trainer)
    tokenizer = processor.tokenizer
    first, second = (tokenizer.decode(ids) for ids in out["prompt_ids"])
    assert first.endswith("<|im_start|>assistant\n" + PREFILL)  # continued, no end-of-turn after it
    assert second.endswith("<|im_start|>assistant\n")
    assert out["completion_ids"] == [[5, 6], [7]]  # completions exclude the prefill: it is never trained on
    assert seen["fields"]["image_grid_thw"].shape == (2, 3) and seen["images"] == [[image], [image]]
    n_pad = [ids.count(processor.image_token_id) for ids in out["prompt_ids"]]
    assert [len(t) for t in seen["fields"]["mm_token_type_ids"]] == [len(i) for i in out["prompt_ids"]]
    assert n_pad[0] == n_pad[1] > 0


def test_reward_function_logs_parts():
    metrics, extra = {}, {}
    reward = TRLReward()
    scores = reward(
        prompts=[None, None],
        completions=[[{"role": "assistant", "content": " but it is right.</think><answer>B</answer>"}]] * 2,
        ground_truth=["B", "A"],
        answer_type=["mcq", "mcq"],
        options=[["left", "right"]] * 2,
        math=[False, False],
        prefill=[PREFILL, PREFILL],
        question=["Where?", "Where?"],
        sample_id=["s1", "s1"],
        log_metric=lambda k, v: metrics.__setitem__(k, v),
        log_extra=lambda k, v: extra.__setitem__(k, v),
    )
    assert scores == [pytest.approx(1.1), pytest.approx(0.1)]
    assert metrics["robustcot/accuracy"] == 0.5 and metrics["robustcot/consistent"] == 1.0
    assert metrics["robustcot/shortcut/near_duplicate_share"] == 1.0  # the two rollouts of s1 are identical
    assert metrics["robustcot/shortcut/think_chars"] > len(PREFILL) - len(
        "<think>"
    )  # prefill is in the think
    assert extra["consistency"] == ["consistent", "consistent"]


@pytest.mark.slow
def test_two_grpo_steps_on_cpu(tmp_path, tiny_path):
    data = prepare(
        "synthetic:4", tmp_path / "data", seed=1, augment=AugmentConfig({"wrong_think": 0.5}, seed=1)
    )
    assert 0 < data.manifest["injections"].get("wrong_think", 0) < 4  # both prompt kinds are trained on
    result = train_trl(
        data.trl_dir, tiny_path, tmp_path / "out",
        num_generations=2, per_device_train_batch_size=2, max_steps=2, max_completion_length=8,
        save_steps=2, logging_steps=1, use_cpu=True, seed=0,
    )  # fmt: skip
    logs = [entry for entry in result.log_history if "robustcot/format" in entry]
    assert [entry["step"] for entry in logs] == [1, 2]
    for entry in logs:
        assert "rewards/robustcot_reward/mean" in entry and entry["robustcot/faithful"] == 1.0
        assert (
            sum(entry[f"robustcot/{k}"] for k in ("consistent", "inconsistent", "no_conclusion", "unjudged"))
            == 1.0
        )
    assert [c.name for c in result.checkpoints] == ["checkpoint-2"]
    checkpoint = result.checkpoints[0]
    assert (checkpoint / "model.safetensors").exists()
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 2
    assert load_processor(checkpoint).image_processor.size == load_processor(tiny_path).image_processor.size
    assert json.loads((checkpoint / "robustcot_profile.json").read_text()) == {"prompt_profile": "default"}
