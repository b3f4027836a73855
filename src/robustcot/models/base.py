"""The backend contract: a batch of requests in, one completion per request out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from robustcot.prompting.conversation import Conversation

UncertaintySource = Literal["generation", "forced"]


@dataclass
class GenerationRequest:
    """One generation to run.

    ``letters`` are the option letters whose next-token distribution is read where the answer
    starts; ``answer_marker`` is the text after which that letter is expected (``<answer>`` for the
    default profile), so backends can find the letter position without knowing the profile.
    """

    key: str
    conversation: Conversation
    letters: list[str]
    answer_marker: str = "<answer>"


@dataclass
class Completion:
    """What a backend returns for one request.

    ``letter_logprobs`` maps each option letter to the log of its full-vocabulary probability at
    the first answer-letter position (token variants such as ``A`` and `` A`` summed). Keeping the
    unnormalised values lets callers report both the renormalised distribution and the letter
    mass, which exposes a misplaced readout position.
    """

    text: str
    prompt: str = ""
    letter_logprobs: dict[str, float] | None = None
    uncertainty_source: UncertaintySource | None = None
    uncertainty_note: str | None = None
    n_prompt_tokens: int | None = None
    n_completion_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None
    retries: int | None = None
    """API retries (rate-limit + transient) before the final answer; ``None`` for local backends."""
    prefill_mode: str | None = None
    """How the prefill was sent: ``native``, ``trailing_assistant`` or ``emulated``; ``None`` without one."""


@runtime_checkable
class Backend(Protocol):
    """Anything that can run a batch of generation requests."""

    name: str

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Run ``requests`` and return completions in the same order.

        A failure confined to one request is reported on its ``Completion.error``; an exception
        means the whole batch failed and the caller may retry items one by one.
        """
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Identity of the model (name, revision, weights hash, dtype) recorded in ``run.json``."""
        ...
