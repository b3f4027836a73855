"""Letter distribution at the answer from chat-completions ``logprobs.content`` (top-k per token).

An API gives, per generated token, its text and the ``k`` (≤ 20) most likely alternatives as text.
The readout mirrors the transformers backend: find the answer marker in the generated tokens, skip
whitespace and opening punctuation, and at the first answer-letter token sum the probabilities of
every alternative that spells a letter (``A``, `` A``, ``\\nA``: ``token.strip() == letter``).

Two limits of text-keyed top-k lists, documented rather than hidden:

* A letter outside the top-k has an unknown probability below the smallest listed one. It is
  reported as missing (log-probability ``-inf``, so the renormalised distribution is over the
  letters that appeared) and the note names it with that bound.
* Alternatives are identified by text, not token id. Distinct tokens that decode to the same text
  are distinct list entries and are all summed, which is right; but a server that merges
  same-text tokens into one entry (as dict-shaped top-logprobs do) reports only one of them, so a
  letter's mass can be under-counted. The letter mass kept next to the distribution exposes it.

When the straddling token fuses the marker's tail with the letter (``>A`` after ``<answer``), the
alternatives at that position are read with the same marker prefix stripped (``>B`` counts as B).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from robustcot.models.letters import OPENERS


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated token with its top alternatives as ``(text, logprob)`` pairs."""

    token: str
    top: list[tuple[str, float]]


@dataclass(frozen=True)
class LetterReadout:
    """Full-vocabulary log-probabilities per letter, or ``None``, and why."""

    logprobs: dict[str, float] | None
    note: str | None = None


def read_letter_logprobs(
    tokens: Sequence[TokenLogprobs], marker: str, letters: Sequence[str], *, marker_in_prefill: bool = False
) -> LetterReadout:
    """Letter log-probabilities at the first answer letter after ``marker``.

    ``marker_in_prefill``: the continued prefill already ends with the marker, so the letter is
    expected right at the start of the generation.
    """
    texts = [t.token for t in tokens]
    ends: list[int] = []
    full = ""
    for piece in texts:
        full += piece
        ends.append(len(full))
    if marker_in_prefill:
        marker_end = 0
    else:
        at = full.find(marker)
        if at < 0:
            return LetterReadout(None, f"no answer marker {marker!r} in the response")
        marker_end = at + len(marker)
    i = next((j for j, e in enumerate(ends) if e > marker_end), len(texts))
    begin = ends[i - 1] if i > 0 else 0
    prefix = full[begin:marker_end]  # marker characters carried by the token at i, usually ""
    while i < len(texts):
        rest = texts[i][len(prefix) :].strip()
        if rest and rest not in OPENERS:
            break
        i, prefix = i + 1, ""
    if i == len(texts):
        return LetterReadout(None, "the response ends before an answer letter")
    chosen = texts[i][len(prefix) :].strip()
    if chosen not in letters:
        return LetterReadout(None, f"first token after the marker is {chosen!r}, not an option letter")
    mass: dict[str, list[float]] = {}
    for text, logprob in tokens[i].top:
        if text.startswith(prefix) and (letter := text[len(prefix) :].strip()) in letters:
            mass.setdefault(letter, []).append(logprob)
    if not mass:
        return LetterReadout(None, "no option letter among the top logprobs at the answer position")
    out = {letter: _logsumexp(mass[letter]) if letter in mass else float("-inf") for letter in letters}
    notes = []
    if prefix:
        notes.append(f"answer letter fused with the marker tail {prefix!r}; alternatives read with it")
    missing = [letter for letter in letters if letter not in mass]
    if missing:
        floor = min(lp for _, lp in tokens[i].top)
        notes.append(
            f"letters {', '.join(missing)} absent from the top-{len(tokens[i].top)} alternatives "
            f"(each below log-prob {floor:.3f}); treated as missing"
        )
    return LetterReadout(out, "; ".join(notes) or None)


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
