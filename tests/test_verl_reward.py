"""The reward module as verl 0.9 loads and calls it (``reward.custom_reward_function``)."""

from __future__ import annotations

import asyncio
import inspect

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
    result = fn(data_source="synthetic", ground_truth="B", extra_info=INFO, **kwargs)
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
