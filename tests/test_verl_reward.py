"""The reward module as verl 0.9 loads and calls it (``reward.custom_reward_function``)."""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest

from robustcot.train import verl_reward
from robustcot.train.rewards import LABELS

INFO = {
    "answer_type": "mcq",
    "options": ["left", "right"],
    "math": False,
    "question": "Where is the cup?",
    "injection": {
        "kind": "wrong_think",
        "prefill": "<think>Let me look at the image carefully. The cup is to the left",
    },
}


def _call(fn, **kwargs):
    kwargs.setdefault("extra_info", INFO)
    result = fn(data_source="synthetic", ground_truth="B", **kwargs)
    return asyncio.run(result) if inspect.isawaitable(result) else result


def test_compute_score_returns_score_and_parts():
    out = _call(verl_reward.compute_score, solution_str=" but I think it is right.</think><answer>B</answer>")
    assert out["score"] == pytest.approx(1.1)
    assert out["format"] == 1.0  # the prefill's <think> counts: verl's solution_str is the generation only
    assert out["consistent"] == 1.0 and sum(out[k] for k in LABELS) == 1.0
    faithful = _call(
        verl_reward.compute_score, solution_str=".</think><answer>B</answer>", faithfulness="rule"
    )
    assert (faithful["inconsistent"], faithful["score"]) == (1.0, 0.0)


def test_llm_faithfulness_needs_an_endpoint():
    with pytest.raises(ValueError, match="judge_url"):
        _call(verl_reward.compute_score, solution_str="x", faithfulness="llm")


def test_loaded_by_verls_own_loader():
    pytest.importorskip("verl")
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": verl_reward.__file__,
                    "name": "compute_score",
                    "reward_kwargs": {"faithfulness": "rule"},
                }
            }
        }
    )
    fn = get_custom_reward_fn(config)
    out = _call(fn, solution_str=" so it is left.</think><answer>B</answer>")
    assert out["inconsistent"] == 1.0 and out["score"] == 0.0  # reward_kwargs reached the function
    assert set(out) == set(_call(verl_reward.compute_score, solution_str="garbage"))


def _rollout_batch(tokenizer, rollouts):
    """What verl's trainer holds after generation: left-padded prompts (chat template, generation
    prompt and the injected prefill, as :mod:`robustcot.train.verl_agent` builds them), right-padded
    responses ending in EOS, and the row's ``data_source``/``reward_model``/``extra_info`` from the export."""
    import numpy as np
    import torch
    from verl import DataProto

    from robustcot.train.answers import Target
    from robustcot.train.augment import TrainPrompt
    from robustcot.train.export import verl_row

    rows, prompts, responses = [], [], []
    for i, (injection, response) in enumerate(rollouts):
        user = "Where is the cup?\nA. left\nB. right\nAnswer in <answer></answer>."
        prompt = TrainPrompt(
            f"s{i}",
            "synthetic",
            [],
            "Where is the cup?",
            user,
            injection,
            Target("mcq", "B", ("left", "right")),
        )
        row = verl_row(prompt, i, "train")
        rows.append(row)
        text = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        prompts.append(tokenizer.encode(text + (injection.prefill or ""), add_special_tokens=False))
        responses.append([*tokenizer.encode(response, add_special_tokens=False), tokenizer.eos_token_id])
    p_len, r_len, pad = max(map(len, prompts)), max(map(len, responses)) + 3, tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (r_len - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (r_len - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )

    def column(values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    return DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            key: column([row[key] for row in rows]) for key in ("data_source", "reward_model", "extra_info")
        },
    )


def test_reward_parts_reach_verls_rollout_dump(tmp_path, monkeypatch):
    """verl's own reward path, in process, from rollout tokens to the ``<step>.jsonl`` dump.

    ``RewardLoopWorker`` (tokenizer from ``actor_rollout_ref.model.path``, ``load_reward_manager``,
    the ``naive`` manager's ``run_single``) scores each rollout; ``RewardLoopManager.compute_rm_score``
    stacks the per-rollout dicts into ``reward_extra_info`` (the same stacking the agent loop does when
    rewards are computed during rollout); ``extract_reward`` hands them to the trainer, and
    ``RayPPOTrainer._log_rollout_data`` writes ``trainer.rollout_data_dir``. Only Ray's transport is
    replaced: the manager's worker handles run the real workers on this process's event loop.
    """
    pytest.importorskip("verl")
    from types import SimpleNamespace

    import numpy as np
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop import reward_loop
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.trainer.ppo.reward import extract_reward

    from robustcot.models.tiny import build_tokenizer
    from robustcot.train.augment import Injection
    from robustcot.train.rollouts import read_rollouts

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    prefill = INFO["injection"]["prefill"]
    wrong = Injection("wrong_think", None, prefill, "A")
    rollouts = [
        (wrong, " but I think it is right.</think><answer>B</answer>"),  # consistent, correct
        (wrong, ".</think><answer>B</answer>"),  # the think says left, the answer right: inconsistent
        (Injection(), "<think>It is on the left.</think><answer>A</answer>"),  # clean prompt, wrong answer
        (Injection(), "B"),  # no tags
    ]
    batch = _rollout_batch(tokenizer, rollouts)
    expected = [  # the reward function's own view of each rollout, called directly
        _call(verl_reward.compute_score, solution_str=text, faithfulness="rule", extra_info=dict(info))
        for (_, text), info in zip(rollouts, batch.non_tensor_batch["extra_info"], strict=True)
    ]
    config = OmegaConf.create(
        {
            "actor_rollout_ref": {"model": {"path": str(tmp_path / "tokenizer"), "tokenizer_path": None}},
            "reward": {
                "num_workers": 3,  # 4 rollouts over 3 workers: verl pads the batch, then drops the padding
                "reward_model": {"enable": False},
                "reward_manager": {"source": "register", "name": "naive"},
                "custom_reward_function": {
                    "path": verl_reward.__file__,
                    "name": "compute_score",
                    "reward_kwargs": {"faithfulness": "rule"},
                },
            },
        }
    )

    loop = asyncio.new_event_loop()  # verl's reward managers bind the current event loop at construction
    asyncio.set_event_loop(loop)
    try:
        workers = [reward_loop.RewardLoopWorker(config) for _ in range(config.reward.num_workers)]
        handles = [
            SimpleNamespace(compute_score_batch=SimpleNamespace(remote=w.compute_score_batch))
            for w in workers
        ]
        ray_get = lambda coroutines: [loop.run_until_complete(c) for c in coroutines]  # noqa: E731
        monkeypatch.setattr(reward_loop, "ray", SimpleNamespace(get=ray_get))
        manager = SimpleNamespace(
            reward_model_manager=None,
            reward_loop_workers=handles,
            reward_manager_cls=reward_loop.resolve_reward_manager_cls(config),
        )
        batch = batch.union(reward_loop.RewardLoopManager.compute_rm_score(manager, batch))
    finally:
        asyncio.set_event_loop(None)
        loop.close()

    reward_tensor, extra = extract_reward(batch)
    assert set(extra) == set(expected[0])
    for key in expected[0]:
        assert isinstance(extra[key], np.ndarray), key
        assert extra[key].tolist() == [row[key] for row in expected], key
    assert extra["format"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert extra["accuracy"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert extra["consistent"].tolist()[:2] == [1.0, 0.0] and extra["inconsistent"][1] == 1.0
    assert reward_tensor.sum(-1).tolist() == pytest.approx(extra["score"].tolist())

    trainer = RayPPOTrainer.__new__(RayPPOTrainer)  # only what the dump reads: tokenizer, step, executor
    trainer.tokenizer, trainer.global_steps = tokenizer, 7
    trainer._init_dump_executor()
    batch.batch["token_level_scores"] = reward_tensor  # as the trainer's fit() sets it before dumping
    trainer._log_rollout_data(batch, extra, {}, str(tmp_path / "rollouts"))
    trainer._shutdown_dump_executor()

    lines = [json.loads(line) for line in (tmp_path / "rollouts" / "7.jsonl").read_text().splitlines()]
    assert [line["output"] for line in lines] == [text for _, text in rollouts]
    assert all(
        line["input"].endswith(injection.prefill or "assistant\n")
        for line, (injection, _) in zip(lines, rollouts, strict=True)
    )
    for key in ("score", "format", "accuracy", *LABELS, "think_chars"):
        assert [line[key] for line in lines] == [row[key] for row in expected], key
    dumped = read_rollouts(tmp_path / "rollouts")  # robustcot reads the dump back
    assert dumped["consistent"].tolist() == [row["consistent"] for row in expected]
    assert (dumped["step"] == 7).all() and dumped["gts"].tolist() == ["B"] * 4


def test_rollout_curves_with_a_tagless_rollout(tmp_path):
    """A dumped rollout with no think tags at all (e.g. a bare ``B``) must not break the curves."""
    from robustcot.train.rollouts import read_rollouts, rollout_curves

    rows = [("<think>It is on the right.</think><answer>B</answer>", 1.0), ("B", 0.0)]
    lines = [{"input": "p", "output": o, "gts": "B", "step": 1, "score": s, "format": s} for o, s in rows]
    (tmp_path / "1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    curves = rollout_curves(read_rollouts(tmp_path))
    assert curves.loc[0, "empty_think_share"] == 0.5
