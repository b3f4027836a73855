"""``openai:<model>`` backend: any OpenAI-compatible chat-completions endpoint through the official SDK.

A synchronous :meth:`OpenAIBackend.generate` call runs the whole batch concurrently with one
long-lived ``AsyncOpenAI`` client on a background loop (:mod:`api_loop`), under an adaptive
concurrency limit (:mod:`api_limiter`), typed retries (:mod:`api_retry`) and a token / cost budget
(:mod:`api_budget`). The SDK's own retries are off, so every retry is ours: counted per request
(:attr:`Completion.retries`) and in :attr:`OpenAIBackend.stats`.

Every request comes back as exactly one completion, in order: failures and budget stops are
completions with ``error`` set, never missing rows. The API key is handed to the SDK and otherwise
only used to scrub it from error messages; it never reaches logs, records or the fingerprint.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import random
import re
import time
import weakref
from dataclasses import asdict, dataclass
from typing import Any, Literal

from robustcot.errors import ConfigError
from robustcot.models.api_budget import Budget
from robustcot.models.api_limiter import AdaptiveLimiter
from robustcot.models.api_loop import BackgroundLoop
from robustcot.models.api_retry import RetryDecision, backoff_delay, classify_error
from robustcot.models.base import Completion, GenerationRequest
from robustcot.models.openai_config import OpenAIConfig
from robustcot.models.openai_logprobs import LetterReadout, TokenLogprobs, read_letter_logprobs
from robustcot.models.openai_messages import ChatRequest, build_chat_request, public_url, resolve_prefill_mode
from robustcot.models.registry import register_backend

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: A 400/403/422 whose message says logprobs cannot be requested from this model.
_LOGPROB_REFUSAL = re.compile(
    r"logprob.*(not allowed|not supported|unsupported|not available|disabled)|"
    r"(not allowed|not supported|unsupported|not available).*logprob",
    re.I | re.S,
)

LogprobState = Literal["requested", "refused", "off"]


@dataclass
@dataclass
class APIStats:
    """Totals over the backend's lifetime, for ``run.json`` and progress reports."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    budget_stopped: int = 0
    retries: int = 0
    retries_rate_limit: int = 0
    retries_transient: int = 0
    logprob_refusals: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    concurrency_limit: float = 0.0
    lowest_concurrency_limit: float = 0.0
    concurrency_decreases: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChatReply:
    """The parts of a chat-completions response we use."""

    text: str
    tokens: list[TokenLogprobs] | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @classmethod
    def from_json(cls, data: Any) -> ChatReply:
        """Read the first choice; ``ValueError`` for a body that is not a chat completion."""
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a chat completion: {str(data)[:200]}") from exc
        content = (choice.get("logprobs") or {}).get("content")
        tokens = (
            [
                TokenLogprobs(t["token"], [(a["token"], a["logprob"]) for a in t.get("top_logprobs") or []])
                for t in content
            ]
            if content
            else None
        )
        usage = data.get("usage") or {}
        return cls(text, tokens, usage.get("prompt_tokens"), usage.get("completion_tokens"))


class OpenAIBackend:
    """Chat VLMs behind an OpenAI-compatible API (OpenAI, Gemini's compatible endpoint, ``vllm serve``)."""

    def __init__(self, model: str, config: OpenAIConfig | None = None, *, name: str | None = None) -> None:
        self.config = config or OpenAIConfig()
        self.model = model
        self.name = name or f"openai:{model}"
        self.base_url = self.config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.prefill_mode = resolve_prefill_mode(self.config.prefill_mode, self.base_url)
        if importlib.util.find_spec("openai") is None:
            raise ConfigError(f"{self.name} needs the OpenAI SDK: pip install 'robustcot[api]'")
        if self.config.api_key is None and not os.environ.get("OPENAI_API_KEY"):
            raise ConfigError(
                f"{self.name}: no API key; set openai.api_key or OPENAI_API_KEY "
                "(servers without auth accept any value, e.g. EMPTY)"
            )
        self.logprobs: LogprobState = "requested" if self.config.logprobs else "off"
        self._refusal_reason: str | None = None
        cfg = self.config
        self.budget = Budget(
            cfg.max_total_tokens, cfg.max_cost_usd, cfg.price_input_per_1k, cfg.price_output_per_1k
        )
        self.stats = APIStats()
        self._rng = random.Random(0)
        self._secrets: list[str] = []
        # Client and limiter live on one background loop for the backend's lifetime (api_loop);
        # the finalizer closes them when the backend is collected or the interpreter exits.
        self._loop = BackgroundLoop(f"{self.name} requests")
        weakref.finalize(self, self._loop.close)
        self._client: Any = None
        self._limiter: AdaptiveLimiter | None = None

    # -- public ------------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Run all ``requests`` concurrently; one completion per request, in order."""
        if not requests:
            return []
        return self._loop.run(self._run(requests))

    def close(self) -> None:
        """Close the HTTP client and stop the background loop; a later ``generate`` reopens them."""
        self._loop.close()
        self._client = self._limiter = None

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fingerprint(self) -> dict[str, Any]:
        """Endpoint (without credentials), model, prefill mode and logprob capability."""
        cfg = self.config
        return {
            "backend": "openai",
            "model": self.model,
            "base_url": public_url(self.base_url),
            "prefill_mode": self.prefill_mode,
            "logprobs": self.logprobs,
            "top_logprobs": cfg.top_logprobs if self.logprobs == "requested" else None,
            "image_format": cfg.image_format,
        }

    # -- the batch ---------------------------------------------------------------------------
    async def _run(self, requests: list[GenerationRequest]) -> list[Completion]:
        client, limiter = self._session()
        try:
            return list(await asyncio.gather(*(self._one(client, limiter, r) for r in requests)))
        finally:
            self.stats.concurrency_limit = limiter.limit
            self.stats.lowest_concurrency_limit = limiter.lowest
            self.stats.concurrency_decreases = limiter.decreases

    def _session(self) -> tuple[Any, AdaptiveLimiter]:
        """The client and limiter, created on first use inside the background loop."""
        if self._client is None or self._limiter is None:
            import openai

            cfg = self.config
            self._client = openai.AsyncOpenAI(
                api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
                base_url=self.base_url,
                timeout=cfg.timeout_s,
                max_retries=0,
                http_client=_http_client(openai, cfg.timeout_s),
            )
            self._loop.add_closer(self._client.close)
            self._secrets = [k for k in (self._client.api_key,) if isinstance(k, str) and k]
            self._limiter = AdaptiveLimiter(
                cfg.initial_concurrency or cfg.max_concurrency,
                cfg.min_concurrency,
                cfg.max_concurrency,
                decrease=cfg.concurrency_decrease,
                adaptive=cfg.adaptive_concurrency,
            )
        return self._client, self._limiter

    async def _one(self, client: Any, limiter: AdaptiveLimiter, request: GenerationRequest) -> Completion:
        """Send one request until it succeeds, fails for good, or the budget stops it."""
        self.stats.requests += 1
        built: ChatRequest | None = None
        retries = 0
        first_sent: float | None = None
        while True:
            error: BaseException | None = None
            async with limiter.slot() as granted:
                if (why := self.budget.exhausted()) is not None:
                    self.stats.budget_stopped += 1
                    mode = built.prefill_mode if built else None
                    return Completion(
                        text="",
                        error=f"budget exhausted ({why}); request not sent",
                        retries=retries,
                        prefill_mode=mode,
                    )
                try:
                    built = built or await self._build(request)
                except Exception as exc:  # a bad image or template: this row fails, the batch goes on
                    self.stats.failed += 1
                    return Completion(text="", error=self._redact(f"could not build the request: {exc}"))
                with_logprobs = self.logprobs == "requested"
                first_sent = first_sent or time.perf_counter()
                try:
                    # ``post`` with ``cast_to=object`` is the SDK's raw-JSON path: it skips the
                    # per-field transform of the request and the pydantic build of the response
                    # (thousands of objects with top-20 logprobs), which dominate client CPU.
                    data = await client.post(
                        "/chat/completions", body=self._params(built, with_logprobs), cast_to=object
                    )
                    reply = ChatReply.from_json(data)
                except Exception as exc:
                    error = exc
                else:
                    limiter.on_success()
                    return self._complete(request, built, reply, with_logprobs, retries, first_sent)
            assert error is not None
            if with_logprobs and _is_logprob_refusal(error):
                self._refuse_logprobs(error)
                continue
            decision = classify_error(error)
            if decision.kind == "retry_rate_limit":
                limiter.on_rate_limit(granted)
            if (final := self._final_failure(decision, retries)) is not None:
                self.stats.failed += 1
                return Completion(
                    text="",
                    prompt=built.record(),
                    error=self._redact(final),
                    retries=retries,
                    prefill_mode=built.prefill_mode,
                )
            wait = self._wait(decision, retries)
            retries += 1
            self.stats.retries += 1
            if decision.kind == "retry_rate_limit":
                self.stats.retries_rate_limit += 1
            else:
                self.stats.retries_transient += 1
            logger.debug(
                "%s: retry %d in %.2fs (%s)", request.key, retries, wait, self._redact(decision.reason)
            )
            await asyncio.sleep(wait)

    # -- pieces ------------------------------------------------------------------------------
    async def _build(self, request: GenerationRequest) -> ChatRequest:
        cfg = self.config
        conv = request.conversation
        args = (conv, self.prefill_mode)
        kwargs = {
            "image_format": cfg.image_format,
            "jpeg_quality": cfg.jpeg_quality,
            "emulated_template": cfg.emulated_template,
            "extra_body": cfg.extra_body,
        }
        if conv.images:  # PNG/JPEG encoding releases the GIL; keep it off the event loop
            return await asyncio.to_thread(build_chat_request, *args, **kwargs)
        return build_chat_request(*args, **kwargs)

    def _params(self, built: ChatRequest, with_logprobs: bool) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {
            "model": self.model,
            "messages": built.messages,
            cfg.token_limit_param: cfg.max_tokens,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
        }
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        if with_logprobs:
            params.update(logprobs=True, top_logprobs=cfg.top_logprobs)
        params.update(built.extra_body)
        return params

    def _final_failure(self, decision: RetryDecision, retries: int) -> str | None:
        """The error to report when this failure ends the request, else ``None`` (retry)."""
        cfg = self.config
        if decision.kind == "fail":
            return decision.reason
        if retries >= cfg.max_retries:
            return f"{decision.reason} (gave up after {retries} retries)"
        if decision.retry_after_s is not None and decision.retry_after_s > cfg.max_retry_after_s:
            return f"{decision.reason}; Retry-After {decision.retry_after_s:.0f}s exceeds max_retry_after_s"
        return None

    def _wait(self, decision: RetryDecision, retries: int) -> float:
        """Seconds before the next attempt: the server's Retry-After as a lower bound, else backoff."""
        cfg = self.config
        jittered = backoff_delay(retries, cfg.backoff_base_s, cfg.backoff_max_s, self._rng)
        if decision.retry_after_s is None:
            return jittered
        # A little jitter on top keeps clients throttled together from returning together.
        return decision.retry_after_s + jittered / 10

    def _complete(
        self,
        request: GenerationRequest,
        built: ChatRequest,
        reply: ChatReply,
        with_logprobs: bool,
        retries: int,
        first_sent: float,
    ) -> Completion:
        n_prompt, n_completion = reply.prompt_tokens, reply.completion_tokens
        self.budget.add(n_prompt, n_completion)
        self.stats.succeeded += 1
        self.stats.prompt_tokens = self.budget.prompt_tokens
        self.stats.completion_tokens = self.budget.completion_tokens
        self.stats.cost_usd = self.budget.cost_usd
        readout = self._readout(request, built, reply, with_logprobs)
        return Completion(
            text=reply.text,
            prompt=built.record(),
            letter_logprobs=readout.logprobs,
            uncertainty_source="generation" if readout.logprobs is not None else None,
            uncertainty_note=readout.note,
            n_prompt_tokens=n_prompt,
            n_completion_tokens=n_completion,
            latency_s=time.perf_counter() - first_sent,
            retries=retries,
            prefill_mode=built.prefill_mode,
        )

    def _readout(
        self, request: GenerationRequest, built: ChatRequest, reply: ChatReply, with_logprobs: bool
    ) -> LetterReadout:
        if self.logprobs == "off":
            return LetterReadout(None, "logprobs disabled in the configuration")
        if not with_logprobs:
            return LetterReadout(None, f"logprobs refused by the API: {self._refusal_reason}")
        if not reply.tokens:
            return LetterReadout(None, "the API returned no logprobs")
        prefill = request.conversation.prefill or ""
        continued = built.prefill_mode in ("native", "trailing_assistant")
        return read_letter_logprobs(
            reply.tokens,
            request.answer_marker,
            request.letters,
            marker_in_prefill=continued and prefill.rstrip().endswith(request.answer_marker),
        )

    def _refuse_logprobs(self, error: BaseException) -> None:
        """Stop requesting logprobs for the rest of the run; the caller resends without them."""
        self.stats.logprob_refusals += 1
        if self.logprobs == "refused":
            return
        self.logprobs = "refused"
        self._refusal_reason = self._redact(classify_error(error).reason)
        logger.warning(
            "%s: the API refuses logprobs (%s); continuing without letter uncertainty",
            self.name,
            self._refusal_reason,
        )

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def _http_client(openai: Any, timeout_s: float) -> Any:
    """The SDK's aiohttp transport when ``openai[aiohttp]`` is installed, else ``None`` (httpx).

    At high concurrency httpx's connection pool scans every connection per request; the aiohttp
    transport costs far less client CPU, which is what bounds throughput against a fast server.
    """
    factory = getattr(openai, "DefaultAioHttpClient", None)
    if factory is None or importlib.util.find_spec("aiohttp") is None:
        return None
    return factory(timeout=timeout_s)


def _is_logprob_refusal(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    return status in (400, 403, 422) and bool(_LOGPROB_REFUSAL.search(str(getattr(exc, "message", exc))))


def _factory(target: str, config: Any) -> OpenAIBackend:
    # ``config`` is the run's EvalConfig; until it has an ``openai`` section, defaults apply.
    return OpenAIBackend(target, getattr(config, "openai", None) or OpenAIConfig(), name=f"openai:{target}")


register_backend("openai", _factory)
