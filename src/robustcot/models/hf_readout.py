"""Letter readout for the transformers backend: recorded while decoding, or continued from the KV cache.

Both halves are about overhead, which is per batch and so weighs most on small, fast models:

- :class:`StepRecorder` is a forward hook, not a logits processor (transformers inspects a
  processor's signature on every step). Two ops per step (a log-softmax, whose output is the only
  temporary, and an ``index_select`` straight into one preallocated buffer) record the letter
  log-probabilities; nothing waits on the device until one copy to the CPU per batch.
- :func:`continue_from_cache` supplies the teacher-forced readout for rows whose response has no
  clean answer letter. The generation's KV cache already holds the prompt and the response, so only
  the few tokens after what it holds (the marker, typically) are fed, instead of a second forward
  pass over the whole prompt, images included.

Readouts are the model's own next-token distribution (raw logits, before any sampling warper),
the same quantity a direct forward pass gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch


def letter_columns(logits: torch.Tensor, letter_ids: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Full-vocabulary log-probabilities of the letter tokens, ``(rows, letters)``, from ``(rows, vocab)`` logits."""
    return torch.index_select(torch.log_softmax(logits, dim=-1, dtype=torch.float32), 1, letter_ids, out=out)


class StepRecorder:
    """Forward hook that records, for every forward pass of one ``generate`` call, the letter log-probs.

    Call ``t`` is the distribution token ``t`` was chosen from (call 0 is the prefill). The hook
    also keeps the prefill's position ids: generation extends them by one per token, and so does
    :func:`continue_from_cache`, which is what makes its positions match.
    """

    def __init__(self, letter_ids: torch.Tensor, max_steps: int) -> None:
        self.letter_ids = letter_ids
        self.max_steps = max_steps
        self.steps = 0
        self.prompt_positions: torch.Tensor | None = None
        self._buffer: torch.Tensor | None = None

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        logits = output.logits[:, -1]
        if self._buffer is None:  # the prefill: the batch size is known from here on
            shape = (self.max_steps, logits.shape[0], len(self.letter_ids))
            self._buffer = logits.new_empty(shape, dtype=torch.float32)
            self.prompt_positions = kwargs.get("position_ids")
        if self.steps == self.max_steps:
            raise RuntimeError(f"generate ran more than max_new_tokens={self.max_steps} forward passes")
        letter_columns(logits, self.letter_ids, out=self._buffer[self.steps])
        self.steps += 1

    @contextmanager
    def attached(self, model: torch.nn.Module) -> Iterator[None]:
        """Record the forward passes of ``model`` inside the block only."""
        handle = model.register_forward_hook(self, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()

    def logprobs(self) -> torch.Tensor:
        """Recorded letter log-probs, ``(batch, steps, letters)``, on the CPU (one transfer)."""
        if self._buffer is None:
            raise RuntimeError("nothing was recorded: the recorder was not attached during generate")
        return self._buffer[: self.steps].transpose(0, 1).cpu()


@dataclass(frozen=True)
class Continuation:
    """What a forced readout appends to row ``row``'s prompt: its first ``kept`` generated tokens, then ``extra``.

    The readout is the next-token distribution at the end of that text. ``kept + len(extra)`` is at
    least one, because the extra tokens spell the answer marker (or the part of it a generated token
    did not cover) unless the whole response up to the marker is kept.
    """

    row: int
    kept: int
    extra: list[int]
    note: str

    def tokens(self, generated: Sequence[int]) -> list[int]:
        return [*generated[: self.kept], *self.extra]


def cache_reusable(cache: Any, prompt_positions: torch.Tensor | None) -> bool:
    """Whether :func:`continue_from_cache` can use ``cache``.

    Only a full-attention :class:`~transformers.DynamicCache` still holds every position (a sliding
    window drops early ones), and the continuation's positions derive from the prefill's.
    """
    from transformers.cache_utils import DynamicCache, DynamicLayer

    return (
        prompt_positions is not None
        and isinstance(cache, DynamicCache)
        and all(type(layer) is DynamicLayer for layer in cache.layers)
    )


def continue_from_cache(
    model: torch.nn.Module,
    cache: Any,
    prompt_positions: torch.Tensor,
    prompt_mask: torch.Tensor,
    generated: Sequence[Sequence[int]],
    conts: Sequence[Continuation],
    letter_ids: torch.Tensor,
    pad_id: int,
) -> torch.Tensor:
    """Letter log-probs ``(len(conts), letters)`` at the end of prompt + continuation, reusing ``cache``.

    After ``generate``, the cache holds the left-padded prompt and generated tokens ``0 .. n-2`` of
    every row (the last token is never fed back). Each row reuses the longest cached prefix of its
    continuation; cache slots past it (tokens after the cut, and the EOS and padding of rows that
    stopped early) are masked out, and the remaining tokens are fed right-padded, at the positions
    generation would have given them. That is the attention a direct forward pass over prompt +
    continuation computes, so the two agree to float rounding. ``cache`` is consumed.
    """
    device = prompt_mask.device
    prompt_len = prompt_mask.shape[1]
    in_cache = cache.get_seq_length() - prompt_len
    splits = [_split(c.tokens(generated[c.row]), min(c.kept, in_cache)) for c in conts]
    reused = max(reuse for reuse, _ in splits)
    rows = torch.tensor([c.row for c in conts], device=device)
    cache.crop(prompt_len + reused)
    if len(conts) < prompt_mask.shape[0]:
        cache.batch_select_indices(rows)
    ids, tail_mask, offsets = _feed_tensors(splits, reused, pad_id)
    mask = torch.cat([prompt_mask[rows], tail_mask.to(device, prompt_mask.dtype)], dim=1)
    positions = prompt_positions[..., -1:].index_select(-2, rows) + offsets.to(device)  # M-RoPE axes broadcast
    logits = model(input_ids=ids.to(device), attention_mask=mask, position_ids=positions, past_key_values=cache).logits
    last = torch.tensor([len(feed) - 1 for _, feed in splits], device=device)
    return letter_columns(logits[torch.arange(len(conts), device=device), last], letter_ids)


def _split(tokens: list[int], cached: int) -> tuple[int, list[int]]:
    """How many leading ``tokens`` to take from the cache (at most ``cached``), and the rest to feed.

    At least one token is fed: the readout is the logits of the last fed one.
    """
    reuse = min(cached, len(tokens) - 1)
    return reuse, tokens[reuse:]


def _feed_tensors(
    splits: Sequence[tuple[int, list[int]]], reused: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids to feed, the attention mask over ``reused`` cached slots + fed tokens, position offsets.

    A fed token's offset is its distance from the last prompt token, in the unpadded row.
    """
    width = max(len(feed) for _, feed in splits)
    ids = [feed + [pad_id] * (width - len(feed)) for _, feed in splits]
    mask = [[1] * r + [0] * (reused - r) + [1] * len(feed) + [0] * (width - len(feed)) for r, feed in splits]
    offsets = [[r + j for j in range(1, width + 1)] for r, _ in splits]
    return torch.tensor(ids), torch.tensor(mask), torch.tensor(offsets)
