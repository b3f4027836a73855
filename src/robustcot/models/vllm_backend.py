"""vLLM offline backend (``vllm:<hub id or path>``, extra ``robustcot[vllm]``).

A batch becomes at most two ``LLM.chat`` calls (with and without an assistant prefill, since the
prefill flags are per call), each carrying all its conversations so vLLM schedules them together;
requests are ordered for prefix-cache reuse (``vllm_requests``).

Letter uncertainty is read from the generation's own logprobs, keyed by token id
(``vllm_outputs``). Where the installed vLLM has ``SamplingParams.logprob_token_ids``, each step
reports every letter-variant token exactly; otherwise the top-k tokens per step are reported.
When the answer letter was not generated cleanly after the marker, one forced single-token pass
(``allowed_token_ids`` = letters) over the rendered prompt plus the response up to the marker
supplies the distribution; rows record ``uncertainty_source`` generation or forced, as with HF.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from robustcot.models.base import Completion, GenerationRequest
from robustcot.models.letters import LetterVocabulary
from robustcot.models.registry import local_directory, register_backend
from robustcot.models.vllm_outputs import (
    Readout,
    completion_from_output,
    forced_continuation,
    read_generation,
    step_letter_logprobs,
)
from robustcot.models.vllm_requests import (
    chat_messages,
    forced_sampling_kwargs,
    has_field,
    plan_calls,
    sampling_kwargs,
)

#: Fallback for vLLM's ``MAX_LOGPROB_TOKEN_IDS`` (the per-request cap on ``logprob_token_ids``).
DEFAULT_MAX_LOGPROB_TOKEN_IDS = 128


class VLLMConfig(BaseModel):
    """Settings of the vLLM backend; engine settings pass through to ``vllm.LLM``."""

    model_config = ConfigDict(extra="forbid")

    tensor_parallel_size: int = Field(1, ge=1)
    data_parallel_size: int = Field(1, ge=1)
    """Passed to the engine only when > 1; offline data parallelism depends on the vLLM version."""
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    limit_mm_per_prompt: dict[str, int] | None = None
    """For example ``{"image": 2}``; ``None`` keeps vLLM's default."""
    mm_processor_kwargs: dict[str, Any] | None = None
    """For example ``{"min_pixels": ..., "max_pixels": ...}`` for Qwen2.5-VL."""
    dtype: str = "auto"
    revision: str | None = None
    trust_remote_code: bool = False
    enforce_eager: bool = False
    seed: int = 0
    max_new_tokens: int = Field(512, ge=1)
    temperature: float = 0.0
    """0 is greedy, so runs are reproducible."""
    top_p: float = 1.0
    chat_template_kwargs: dict[str, Any] | None = None
    """For example ``{"enable_thinking": false}`` for a Qwen3 judge."""
    top_k_logprobs: int = Field(20, ge=1)
    """Tokens reported per step when ``logprob_token_ids`` is unavailable (engine ``max_logprobs``)."""
    letter_readout: bool = True


def engine_kwargs(model: str, cfg: VLLMConfig) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``; optional settings are left out when unset."""
    kw: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "enable_prefix_caching": cfg.enable_prefix_caching,
        "dtype": cfg.dtype,
        "seed": cfg.seed,
        "trust_remote_code": cfg.trust_remote_code,
        "enforce_eager": cfg.enforce_eager,
        "max_logprobs": max(20, cfg.top_k_logprobs),
    }
    optional = {
        "max_model_len": cfg.max_model_len,
        "limit_mm_per_prompt": cfg.limit_mm_per_prompt,
        "mm_processor_kwargs": cfg.mm_processor_kwargs,
        "revision": cfg.revision,
        "data_parallel_size": cfg.data_parallel_size if cfg.data_parallel_size > 1 else None,
    }
    kw.update({k: v for k, v in optional.items() if v is not None})
    return kw


class VLLMBackend:
    """Any chat model vLLM serves, VLMs included."""

    def __init__(self, model: str, config: VLLMConfig | None = None, *, name: str | None = None) -> None:
        from vllm import LLM, SamplingParams

        self.config = config or VLLMConfig()
        self.model = model
        self.name = name or f"vllm:{model}"
        self._sampling_params = SamplingParams
        self.llm = LLM(**engine_kwargs(model, self.config))
        self.tokenizer = self.llm.get_tokenizer()
        self.letters = LetterVocabulary(self.tokenizer) if self.config.letter_readout else None
        self.exact_logprobs = has_field(SamplingParams, "logprob_token_ids")
        try:
            from vllm.sampling_params import MAX_LOGPROB_TOKEN_IDS as max_ids
        except ImportError:
            max_ids = DEFAULT_MAX_LOGPROB_TOKEN_IDS
        self._max_ids = int(max_ids)
        self._token_texts: dict[int, str] = {}

    def _token_text(self, token_id: int) -> str:
        text = self._token_texts.get(token_id)
        if text is None:
            text = self._token_texts[token_id] = self.tokenizer.decode([token_id])
        return text

    def _letter_ids(self, letters: list[str]) -> list[int]:
        assert self.letters is not None
        return [t for letter in letters for t in self.letters.variants.get(letter, [])]

    def _render(self, request: GenerationRequest, prefill: bool) -> str:
        """The prompt as text, for outputs whose ``prompt`` vLLM left empty."""
        return self.tokenizer.apply_chat_template(
            request.conversation.messages(image_placeholder=""),
            tokenize=False,
            add_generation_prompt=not prefill,
            continue_final_message=prefill,
            **(self.config.chat_template_kwargs or {}),
        )

    # -- generation ----------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        if not requests:
            return []
        start = time.perf_counter()
        cfg = self.config
        reading = self.letters is not None
        letter_ids = self._letter_ids(sorted({x for r in requests for x in r.letters})) if reading else []
        exact = self.exact_logprobs and len(set(letter_ids)) <= self._max_ids
        params = self._sampling_params(
            **sampling_kwargs(
                max_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                seed=cfg.seed,
                letter_ids=letter_ids,
                exact=exact,
                top_k_logprobs=cfg.top_k_logprobs,
            )
        )
        completions: dict[int, Completion] = {}
        readouts: dict[int, Readout] = {}
        for group in plan_calls(requests):
            outputs = self.llm.chat(
                [chat_messages(requests[i].conversation) for i in group.indices],
                sampling_params=params,
                use_tqdm=False,
                add_generation_prompt=not group.prefill,
                continue_final_message=group.prefill,
                chat_template_kwargs=cfg.chat_template_kwargs,
            )
            for i, out in zip(group.indices, outputs, strict=True):
                req = requests[i]
                prompt = out.prompt if isinstance(out.prompt, str) else self._render(req, group.prefill)
                completions[i] = completion_from_output(out, prompt)
                prefill = req.conversation.prefill
                if prefill and not prompt.endswith(prefill):
                    completions[i].error = "the chat template altered the prefill; the rendered prompt ends differently"
                elif reading and req.letters:
                    readouts[i] = read_generation(out.outputs[0], req, self.letters, self._token_text)
        forced = []
        for i, readout in readouts.items():
            if readout.letter_logprobs is None:
                forced.append(i)
                continue
            completions[i].letter_logprobs = readout.letter_logprobs
            completions[i].uncertainty_source = "generation"
            completions[i].uncertainty_note = readout.note
        if forced:
            self._forced_pass(requests, completions, readouts, forced, exact)
        per_item = (time.perf_counter() - start) / len(requests)
        ordered = [completions[i] for i in range(len(requests))]
        for c in ordered:
            c.latency_s = per_item
        return ordered

    def _forced_pass(self, requests, completions, readouts, rows: list[int], exact: bool) -> None:
        """One single-token pass per row at the answer position, all rows in one ``generate`` call."""
        prompts, params, notes = [], [], []
        for i in rows:
            req = requests[i]
            continuation, note = forced_continuation(completions[i].text, readouts[i], req.answer_marker)
            prompt: dict[str, Any] = {"prompt": completions[i].prompt + continuation}
            if req.conversation.images:
                prompt["multi_modal_data"] = {"image": list(req.conversation.images)}
            prompts.append(prompt)
            params.append(
                self._sampling_params(
                    **forced_sampling_kwargs(
                        self._letter_ids(req.letters), exact=exact, top_k_logprobs=self.config.top_k_logprobs
                    )
                )
            )
            notes.append(note)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        for i, out, note in zip(rows, outputs, notes, strict=True):
            step = (out.outputs[0].logprobs or [{}])[0]
            values, missing = step_letter_logprobs(step, self.letters, requests[i].letters)
            if missing:
                note += f"; top-k readout: no logprob reported for {', '.join(missing)} (counted as 0)"
            completions[i].letter_logprobs = values
            completions[i].uncertainty_source = "forced"
            completions[i].uncertainty_note = note

    def fingerprint(self) -> dict[str, Any]:
        cfg = self.config
        readout = None
        if self.letters is not None:
            readout = "logprob_token_ids" if self.exact_logprobs else f"top-{cfg.top_k_logprobs}"
        return {
            "backend": "vllm",
            "model": self.model,
            "revision": cfg.revision,
            "vllm": metadata.version("vllm"),
            "dtype": cfg.dtype,
            "tensor_parallel_size": cfg.tensor_parallel_size,
            "data_parallel_size": cfg.data_parallel_size,
            "letter_readout": readout,
            "letter_variants": {c: len(v) for c, v in self.letters.variants.items()} if self.letters else None,
        }


def _factory(target: str, config: Any) -> VLLMBackend:
    return VLLMBackend(target, getattr(config, "vllm", None) or VLLMConfig(), name=f"vllm:{target}")


register_backend("vllm", _factory, local_directory)
