"""Settings of the ``openai:<model>`` backend (any OpenAI-compatible chat-completions endpoint).

Kept apart from the backend so the run configuration can import it without the ``openai`` SDK.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

PrefillMode = Literal["auto", "native", "trailing_assistant", "emulated"]

#: Appended to the user turn in ``emulated`` prefill mode; ``{prefill}`` is the partial response.
EMULATED_PREFILL_TEMPLATE = (
    "\n\nYou have already started answering. Your response so far is below, between the markers. "
    "Continue it from exactly where it stops, without repeating it:\n"
    "<<<RESPONSE SO FAR>>>\n{prefill}\n<<<END>>>"
)


class OpenAIConfig(BaseModel):
    """Settings of the OpenAI-compatible API backend."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    """Endpoint, e.g. ``http://localhost:8000/v1`` for ``vllm serve`` or Gemini's
    ``https://generativelanguage.googleapis.com/v1beta/openai/``; ``None`` uses the SDK default
    (``OPENAI_BASE_URL`` or api.openai.com)."""
    api_key: SecretStr | None = None
    """Key sent as the bearer token. ``None`` lets the SDK read ``OPENAI_API_KEY``. It is never
    written to logs, records, ``run.json`` or the fingerprint; local servers without auth accept
    any value, e.g. ``EMPTY``."""
    max_tokens: int = Field(1024, ge=1)
    """Generation budget per response."""
    token_limit_param: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    """Request field carrying ``max_tokens``: OpenAI's reasoning models accept only
    ``max_completion_tokens``; some older compatible servers know only ``max_tokens``."""
    temperature: float = 0.0
    """Sampling temperature; 0 for (near-)greedy, reproducible runs."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    seed: int | None = 0
    """Sent as ``seed`` (best-effort determinism on providers that honour it); ``None`` omits it."""
    prefill_mode: PrefillMode = "auto"
    """How an assistant prefill is sent. ``native``: trailing assistant message plus
    ``continue_final_message`` (vLLM / SGLang servers); ``trailing_assistant``: trailing assistant
    message only, for providers that continue it; ``emulated``: the prefill is quoted in the user
    turn (``emulated_template``); ``auto``: ``emulated`` for api.openai.com and googleapis.com hosts
    (which do not continue an assistant turn), ``native`` for every other URL."""
    emulated_template: str = EMULATED_PREFILL_TEMPLATE
    """Appended to the user text in ``emulated`` mode; must contain ``{prefill}``."""
    logprobs: bool = True
    """Request per-token log-probabilities to read the answer-letter distribution. Models that
    refuse them are detected on the first refusal and run without for the rest of the run."""
    top_logprobs: int = Field(20, ge=1, le=20)
    """Alternatives returned per position (the API's maximum is 20); letters outside them are
    reported as missing."""
    image_format: Literal["png", "jpeg"] = "png"
    """Encoding of images sent as base64 data URLs; PNG is lossless, JPEG much smaller."""
    jpeg_quality: int = Field(90, ge=1, le=100)
    """JPEG quality when ``image_format`` is ``jpeg``."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra JSON fields for every request (e.g. ``{"chat_template_kwargs": {"enable_thinking":
    false}}`` for vLLM); the native-prefill flags override same-named keys."""
    max_concurrency: int = Field(32, ge=1)
    """Ceiling of requests in flight; the adaptive limit starts at ``initial_concurrency``."""
    initial_concurrency: int | None = Field(None, ge=1)
    """Starting limit; ``None`` starts at ``max_concurrency``."""
    min_concurrency: int = Field(1, ge=1)
    """Floor the limit never shrinks below."""
    concurrency_decrease: float = Field(0.5, gt=0, lt=1)
    """Factor applied to the limit on a 429 (at most once per round of in-flight requests)."""
    adaptive_concurrency: bool = True
    """Shrink on 429s and grow back by about one slot per round of successes; ``False`` keeps the
    limit fixed."""
    timeout_s: float = Field(120.0, gt=0)
    """Per-attempt timeout; a timed-out attempt is retried as transient."""
    max_retries: int = Field(6, ge=0)
    """Retries per request after the first attempt; then the request fails with its last error."""
    backoff_base_s: float = Field(1.0, gt=0)
    """First backoff step; step *n* waits between half and all of ``base * 2**n`` (capped)."""
    backoff_max_s: float = Field(60.0, gt=0)
    """Cap of one backoff wait when the server gave no ``Retry-After``."""
    max_retry_after_s: float = Field(300.0, gt=0)
    """A ``Retry-After`` longer than this (e.g. a daily quota) fails the request instead of waiting."""
    max_total_tokens: int | None = Field(None, ge=1)
    """Stop sending once prompt + completion tokens reported by the API exceed this."""
    max_cost_usd: float | None = Field(None, gt=0)
    """Stop sending once the estimated cost exceeds this; needs both prices."""
    price_input_per_1k: float | None = Field(None, ge=0)
    """USD per 1,000 prompt tokens, for ``max_cost_usd`` and the reported cost."""
    price_output_per_1k: float | None = Field(None, ge=0)
    """USD per 1,000 completion tokens."""

    @model_validator(mode="after")
    def _consistent(self) -> OpenAIConfig:
        if "{prefill}" not in self.emulated_template:
            raise ValueError("emulated_template must contain '{prefill}'")
        if self.max_cost_usd is not None and (
            self.price_input_per_1k is None or self.price_output_per_1k is None
        ):
            raise ValueError("max_cost_usd needs price_input_per_1k and price_output_per_1k")
        if self.min_concurrency > self.max_concurrency:
            raise ValueError("min_concurrency exceeds max_concurrency")
        if self.initial_concurrency is not None and not (
            self.min_concurrency <= self.initial_concurrency <= self.max_concurrency
        ):
            raise ValueError("initial_concurrency must lie between min_concurrency and max_concurrency")
        return self
