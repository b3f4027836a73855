"""Pure helpers that turn requests into vLLM calls: messages, ordering, grouping, parameters.

Nothing here imports vLLM, so every rule is tested without a GPU. The backend applies them:

- one ``LLM.chat`` call per group, with every conversation of the group in it. The prefill flags
  (``add_generation_prompt`` / ``continue_final_message``) are per call, so requests with and
  without an assistant prefill form two groups;
- inside a group, requests are ordered by image content then prompt text, so the variants of one
  sample (same image, same question) sit next to each other and automatic prefix caching reuses
  the image and question tokens across them.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from PIL import Image

from robustcot.models.base import GenerationRequest
from robustcot.prompting.conversation import Conversation


def chat_messages(conv: Conversation) -> list[dict[str, Any]]:
    """The conversation in vLLM's chat format: PIL images as ``image_pil`` parts, images first.

    The prefill is a plain-string assistant message: ``continue_final_message`` then leaves it
    open, exactly as the HF backend renders it.
    """
    msgs: list[dict[str, Any]] = []
    if conv.system:
        msgs.append({"role": "system", "content": conv.system})
    content: list[dict[str, Any]] = [{"type": "image_pil", "image_pil": img} for img in conv.images]
    content.append({"type": "text", "text": conv.user_text})
    msgs.append({"role": "user", "content": content})
    if conv.prefill:
        msgs.append({"role": "assistant", "content": conv.prefill})
    return msgs


def image_digest(images: Sequence[Image.Image]) -> str:
    """Content hash of a request's images (pixels, size, mode), so equal images sort together."""
    h = hashlib.sha1(usedforsecurity=False)
    for img in images:
        h.update(f"{img.mode}{img.size}".encode())
        h.update(img.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class CallGroup:
    """Requests (by index into the batch) that go into one ``LLM.chat`` call."""

    prefill: bool
    indices: list[int]


def plan_calls(requests: Sequence[GenerationRequest]) -> list[CallGroup]:
    """Group by prefill presence and order each group for prefix-cache reuse."""
    digests: dict[tuple[int, ...], str] = {}  # variants of a sample share the same PIL objects

    def sort_key(i: int) -> tuple[str, str, str]:
        conv = requests[i].conversation
        ident = tuple(id(img) for img in conv.images)
        if ident not in digests:
            digests[ident] = image_digest(conv.images)
        return digests[ident], conv.user_text, conv.prefill or ""

    order = sorted(range(len(requests)), key=sort_key)
    groups = []
    for prefill in (False, True):
        chosen = [i for i in order if bool(requests[i].conversation.prefill) == prefill]
        if chosen:
            groups.append(CallGroup(prefill=prefill, indices=chosen))
    return groups


def has_field(cls: type, name: str) -> bool:
    """Whether a vLLM parameter class accepts ``name`` (msgspec struct, dataclass or plain class).

    Used to feature-detect ``SamplingParams.logprob_token_ids``, which only newer vLLM has.
    """
    struct_fields = getattr(cls, "__struct_fields__", None)
    if struct_fields is not None:
        return name in struct_fields
    if is_dataclass(cls):
        return any(f.name == name for f in fields(cls))
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def sampling_kwargs(
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    letter_ids: Sequence[int],
    exact: bool,
    top_k_logprobs: int,
) -> dict[str, Any]:
    """``SamplingParams`` arguments for a generation pass.

    With ``exact`` (``logprob_token_ids`` available) every step reports the log-probability of
    each letter-variant token, so the letter distribution is complete; otherwise the top
    ``top_k_logprobs`` tokens per step are reported, and letters outside them count as absent.
    No letters (judge requests) means no logprobs at all.
    """
    kw: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
    if letter_ids:
        if exact:
            kw["logprob_token_ids"] = sorted(set(letter_ids))
        else:
            kw["logprobs"] = top_k_logprobs
    return kw


def forced_sampling_kwargs(letter_ids: Sequence[int], *, exact: bool, top_k_logprobs: int) -> dict[str, Any]:
    """``SamplingParams`` arguments for the forced single-token pass at the answer position.

    ``allowed_token_ids`` makes the one sampled token a letter, which guarantees at least that
    letter is reported. vLLM V1 computes logprobs before the allowed-token mask (default
    ``logprobs_mode=raw_logprobs``), so the values are the model's full-vocabulary ones.
    """
    ids = sorted(set(letter_ids))
    kw: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "allowed_token_ids": ids}
    if exact:
        kw["logprob_token_ids"] = ids
    else:
        kw["logprobs"] = top_k_logprobs
    return kw
