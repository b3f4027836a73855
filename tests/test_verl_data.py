"""The exported parquet through verl's RLHFDataset, and the prefill agent loop on verl's real base class.

verl's image path needs qwen-vl-utils (which needs torchvision); the dataset test therefore stops at
``raw_prompt`` (images placed, counted, kept as PIL), and the agent-loop test uses a text prompt.
"""

from __future__ import annotations

import asyncio

import pytest

from robustcot.train.augment import AugmentConfig
from robustcot.train.export import AGENT_NAME, prepare

pytest.importorskip("verl")
pytest.importorskip("verl.experimental.agent_loop.agent_loop")  # needs the rollout server deps (fastapi, ...)

from omegaconf import OmegaConf
from PIL import Image
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, _agent_loop_registry
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.workers.rollout.replica import TokenOutput

from robustcot.models.processor import load_processor
from robustcot.train.verl_agent import PrefillAgentLoop, prefill_of
from robustcot.train.verl_launch import agent_loop_yaml


def test_rlhf_dataset_reads_the_export(tmp_path, tiny_path):
    result = prepare("synthetic:6", tmp_path, seed=2, augment=AugmentConfig({"wrong_caption": 0.5}, seed=2))
    processor = load_processor(tiny_path)
    config = OmegaConf.create({"filter_overlong_prompts": False, "cache_dir": str(tmp_path / "cache")})
    dataset = RLHFDataset([str(result.verl_train)], processor.tokenizer, config, processor=processor)
    assert len(dataset) == 6
    for i in range(len(dataset)):
        item = dataset[i]
        (message,) = item["raw_prompt"]
        kinds = [part["type"] for part in message["content"]]
        assert kinds == ["image", "text"]  # the <image> placeholder became the image, in place
        assert isinstance(message["content"][0]["image"], Image.Image)
        assert "<image>" not in message["content"][1]["text"]
        assert item["agent_name"] == AGENT_NAME
        assert item["reward_model"]["ground_truth"] in "ABCD"
        assert set(item["extra_info"]["injection"]) == {"kind", "caption", "prefill", "asserted"}


class _Server:
    """Stands in for verl's LLM server client: records the prompt it is sent, returns fixed tokens."""

    def __init__(self, tokenizer, text: str) -> None:
        self.ids = [
            *tokenizer.encode(text, add_special_tokens=False),
            tokenizer.convert_tokens_to_ids("<|im_end|>"),
        ]
        self.prompts: list[list[int]] = []

    async def generate(self, *, prompt_ids, **_):
        self.prompts.append(list(prompt_ids))
        return TokenOutput(token_ids=self.ids)


def _run(tiny_path, extra_info):
    processor = load_processor(tiny_path)
    tokenizer = processor.tokenizer
    server = _Server(tokenizer, " so it is right.</think><answer>B</answer>")
    config = OmegaConf.create(
        {"actor_rollout_ref": {"rollout": {"prompt_length": 512, "response_length": 32}}, "data": {}}
    )

    async def main():  # verl binds the loop's event loop at construction
        loop = PrefillAgentLoop(
            trainer_config=DictConfigWrap(config), server_manager=server, tokenizer=tokenizer, processor=processor,
            dataset_cls=RLHFDataset, data_config=DictConfigWrap(config.data), hf_model_type="qwen2_5_vl",
        )  # fmt: skip
        messages = [{"role": "user", "content": "Is the cup left or right?\nA. left\nB. right"}]
        return await loop.run({"temperature": 1.0}, raw_prompt=messages, extra_info=extra_info)

    return asyncio.run(main()), server, tokenizer


def test_agent_loop_continues_the_prefill_and_masks_it(tiny_path):
    prefill = "<think>Let me look at the image carefully. The cup is to the left"
    out, server, tokenizer = _run(tiny_path, {"injection": {"prefill": prefill}})
    prefill_ids = tokenizer.encode(prefill, add_special_tokens=False)
    assert server.prompts[0][-len(prefill_ids) :] == prefill_ids  # the policy continued the prefill
    assert out.prompt_ids == server.prompts[0]  # the prefill stays on the prompt side ...
    assert out.response_ids == server.ids and out.response_mask == [1] * len(
        server.ids
    )  # ... out of the loss
    assert tokenizer.decode(out.prompt_ids).endswith("<|im_start|>assistant\n" + prefill)

    clean, clean_server, _ = _run(tiny_path, {"injection": {"prefill": None}})
    assert clean.prompt_ids == clean_server.prompts[0]
    assert tokenizer.decode(clean.prompt_ids).endswith("<|im_start|>assistant\n")


def test_agent_loop_registration():
    assert _agent_loop_registry[AGENT_NAME] == {"_target_": "robustcot.train.verl_agent.PrefillAgentLoop"}
    entry = OmegaConf.create(agent_loop_yaml())[0]
    assert entry.name == AGENT_NAME and entry._target_ == "robustcot.train.verl_agent.PrefillAgentLoop"
    assert prefill_of(None) == "" and prefill_of({"injection": {"prefill": "<think>x"}}) == "<think>x"
