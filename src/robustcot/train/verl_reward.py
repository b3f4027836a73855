"""The reward function verl loads by file path.

Configure verl 0.9 with::

    reward.custom_reward_function.path=<this file>
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.faithfulness=rule      # none | rule | llm

verl's reward loop calls ``compute_score(data_source, solution_str, ground_truth, extra_info)`` once
per rollout. ``solution_str`` is the generated text only; an injected think was part of the prompt
(see :mod:`robustcot.train.verl_agent`), so it is taken back from ``extra_info.injection.prefill``
and scored as the start of the assistant turn, exactly as the TRL path does.

The return value is a dict with ``score`` and the reward's parts (all numbers, the same keys for
every rollout): verl logs them and writes them into the rollout dumps (``trainer.rollout_data_dir``),
which :mod:`robustcot.train.rollouts` reads back.

The function is ``async`` so the LLM judge can be awaited without blocking verl's reward loop; the
rule paths never await. With ``faithfulness="llm"`` the judge is ``judge_url``/``judge_model`` from
``reward_kwargs``, or verl's reward-model router, whose address verl passes as
``reward_router_address`` when ``reward.reward_model.enable=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robustcot.train.answers import Target
from robustcot.train.judge_http import JudgeEndpoint
from robustcot.train.rewards import RewardConfig, ascore_responses, score_response

#: Rule-judged configurations, built once (verl calls the function once per rollout).
_RULE_CONFIGS = {"none": RewardConfig(), "rule": RewardConfig(faithfulness="rule")}


def _llm_config(
    judge_url: str | None,
    judge_model: str | None,
    judge_api_key: str | None,
    judge_timeout_s: float,
    reward_router_address: str | None,
    reward_model_tokenizer: Any,
) -> RewardConfig:
    url = judge_url or reward_router_address
    model = judge_model or getattr(reward_model_tokenizer, "name_or_path", None)
    if not url or not model:
        raise ValueError(
            "faithfulness='llm' needs judge_url and judge_model in reward_kwargs, "
            "or verl's reward model (reward.reward_model.enable=True) to provide its router"
        )
    return RewardConfig(
        "llm", judge=JudgeEndpoint(url, model, api_key=judge_api_key, timeout_s=judge_timeout_s)
    )


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    faithfulness: str = "none",
    judge_url: str | None = None,
    judge_model: str | None = None,
    judge_api_key: str | None = None,
    judge_timeout_s: float = 60.0,
    reward_router_address: str | None = None,
    reward_model_tokenizer: Any = None,
    **_: Any,
) -> dict[str, float]:
    """Score one rollout; returns ``{"score": ..., <parts>}`` (see :class:`~robustcot.train.rewards.RewardParts`)."""
    info = extra_info or {}
    prefill = (info.get("injection") or {}).get("prefill") or ""
    target = Target.from_record(ground_truth, info)
    if faithfulness in _RULE_CONFIGS:
        return score_response(
            solution_str, target, prefill=prefill, config=_RULE_CONFIGS[faithfulness]
        ).as_dict()
    if faithfulness != "llm":
        raise ValueError(f"unknown faithfulness {faithfulness!r}; use none, rule or llm")
    config = _llm_config(
        judge_url, judge_model, judge_api_key, judge_timeout_s, reward_router_address, reward_model_tokenizer
    )
    (parts,) = await ascore_responses(
        [solution_str], [target], prefills=[prefill], questions=[info.get("question") or ""], config=config
    )
    return parts.as_dict()
