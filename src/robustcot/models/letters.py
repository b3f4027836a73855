"""Which vocabulary entries spell an option letter, and where in a generation the answer letter is.

Byte-level BPE vocabularies hold several tokens per letter (``A``, `` A``, ``\\nA`` in Qwen's);
the probability of "the model answers A" is the sum over all of them. The variants are found by
decoding the vocabulary once rather than by guessing spellings, so any tokenizer works.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

OPENERS = frozenset({"(", "[", "*", "**", '"', "'", "`"})


class LetterVocabulary:
    """Token ids for every spelling of each capital letter in a tokenizer's vocabulary."""

    def __init__(self, tokenizer) -> None:
        variants: dict[str, list[int]] = {c: [] for c in string.ascii_uppercase}
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        for token_id in range(len(tokenizer)):
            if token_id in special:
                continue
            text = tokenizer.decode([token_id]).strip()
            if len(text) == 1 and text in variants:
                variants[text].append(token_id)
        self.variants = {c: ids for c, ids in variants.items() if ids}
        #: Flat list of all letter-variant ids; recorded logits are columns in this order.
        self.ids: list[int] = [i for ids in self.variants.values() for i in ids]
        self._column = {tid: col for col, tid in enumerate(self.ids)}
        self._letter_of = {tid: c for c, ids in self.variants.items() for tid in ids}

    def letter_of(self, token_id: int) -> str | None:
        return self._letter_of.get(token_id)

    def columns(self, letter: str) -> list[int]:
        """Columns (in :attr:`ids` order) holding the variants of ``letter``."""
        return [self._column[t] for t in self.variants.get(letter, [])]


def letter_logprobs(vocab: LetterVocabulary, token_logprobs: Sequence[float], letters: Sequence[str]) -> dict[str, float]:
    """Full-vocabulary log-probability of each letter, summing its token variants.

    ``token_logprobs`` are the full-vocabulary log-probabilities of :attr:`LetterVocabulary.ids`
    at one position.
    """
    import math

    out: dict[str, float] = {}
    for letter in letters:
        cols = vocab.columns(letter)
        if not cols:
            out[letter] = float("-inf")
            continue
        vals = [token_logprobs[c] for c in cols]
        top = max(vals)
        out[letter] = top + math.log(sum(math.exp(v - top) for v in vals))
    return out


@dataclass(frozen=True)
class AnswerPosition:
    """Where the answer starts in a generation.

    ``cut`` generated tokens precede the answer text; ``tail`` holds any characters of the marker
    that a token straddling the marker (such as ``>A``) carries past that cut. A teacher-forced
    pass on ``prompt + generated[:cut] + encode(tail)`` therefore ends exactly at the marker.
    ``letter_step`` is the step whose token is the answer letter, when one was generated cleanly.
    """

    cut: int
    tail: str
    letter_step: int | None


def locate_answer(
    token_texts: Sequence[str],
    token_ids: Sequence[int],
    vocab: LetterVocabulary,
    marker: str,
    letters: Sequence[str],
    prefill: str = "",
) -> AnswerPosition | None:
    """Find the answer marker and the answer letter in decoded generation tokens; ``None`` if no marker.

    Working on the generated tokens rather than re-tokenised text keeps the readout at exactly the
    position the model generated. Only whitespace and opening punctuation may come between the
    marker and the letter. A prefill that already ends with the marker puts the answer at step 0.
    """
    text = ""
    ends = []
    for piece in token_texts:
        text += piece
        ends.append(len(text))
    at = text.find(marker)
    if at < 0:
        if not prefill.rstrip().endswith(marker):
            return None
        cut, tail = 0, ""
    else:
        marker_end = at + len(marker)
        cut = next((i for i, e in enumerate(ends) if e > marker_end), len(token_ids))
        begin = ends[cut - 1] if cut > 0 else 0
        tail = text[begin:marker_end]
    allowed = set(letters)
    start = cut
    if tail and cut < len(token_ids):
        carried = text[marker_end : ends[cut]].strip()  # tail is non-empty only when the marker was found
        if carried and carried not in OPENERS:  # the letter is fused with the marker's last characters
            return AnswerPosition(cut=cut, tail=tail, letter_step=None)
        start = cut + 1
    letter_step = None
    for i in range(start, len(token_ids)):
        piece = token_texts[i].strip()
        if not piece or piece in OPENERS:
            continue
        if vocab.letter_of(token_ids[i]) in allowed:
            letter_step = i
        break
    return AnswerPosition(cut=cut, tail=tail, letter_step=letter_step)
