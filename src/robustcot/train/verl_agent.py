"""verl agent loop that continues an injected think: the assistant-prefill hook for verl 0.9.

verl renders each prompt in an agent loop (``verl.experimental.agent_loop``). The stock
``single_turn_agent`` always ends the prompt with the generation prompt, so a think prefix cannot
be injected through the data alone. :class:`PrefillAgentLoop` is the single-turn loop with one
change: after the prompt is tokenized (chat template, generation prompt, image placeholders), the
tokens of ``extra_info.injection.prefill`` are appended, so the policy continues the injected text.

**The prefill is not trained on.** Its tokens are part of ``prompt_ids``; verl's ``response_mask``
covers only the tokens the policy generated, and the policy loss, entropy and KL are computed over
the response alone. The prefill conditions the rollout like the question does.

Rows exported by :mod:`robustcot.train.export` carry ``agent_name = "robustcot_prefill"``. verl
must know that name: :func:`robustcot.train.verl_launch.agent_loop_yaml` writes the file for
``actor_rollout_ref.rollout.agent.agent_loop_config_path``; importing this module also registers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from robustcot.train.export import AGENT_NAME


def prefill_of(extra_info: Mapping[str, Any] | None) -> str:
    """The assistant prefill of an exported row (empty when nothing was injected into the think)."""
    injection = (extra_info or {}).get("injection") or {}
    return injection.get("prefill") or ""


@register(AGENT_NAME)
class PrefillAgentLoop(SingleTurnAgentLoop):
    """Single-turn rollout whose assistant turn starts with the row's prefill."""

    _prefill_ids: list[int]

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        # verl instantiates one loop per rollout, so per-rollout state on the instance is safe.
        prefill = prefill_of(kwargs.get("extra_info"))
        self._prefill_ids = self.tokenizer.encode(prefill, add_special_tokens=False) if prefill else []
        return await super().run(sampling_params, **kwargs)

    async def ct_build_initial_tokens(self, messages: list[dict], **kwargs: Any) -> list[int]:
        """The prompt tokens verl builds, then the prefill tokens (kept within ``rollout.prompt_length``)."""
        prompt_ids = await super().ct_build_initial_tokens(messages, **kwargs)
        prefill_ids = getattr(self, "_prefill_ids", [])
        if len(prompt_ids) + len(prefill_ids) > self.prompt_length:
            raise ValueError(
                f"prompt of {len(prompt_ids)} tokens plus a {len(prefill_ids)}-token think prefill exceeds "
                f"rollout.prompt_length={self.prompt_length}; raise data.max_prompt_length"
            )
        return prompt_ids + prefill_ids
