"""Pure readers of vLLM outputs: completions, and letter log-probabilities keyed by token id.

They take objects shaped like vLLM's ``RequestOutput`` / ``CompletionOutput`` (attributes
``prompt``, ``prompt_token_ids``, ``outputs[0].text``, ``.token_ids``, ``.logprobs`` as a list of
``{token_id: Logprob}`` per step), so they are tested on plain dataclasses. Log-probabilities are
always looked up by token id: decoded strings collide (``A`` and `` A`` are different tokens of
the same letter) and are summed per letter only through :class:`LetterVocabulary`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from robustcot.models.base import Completion, GenerationRequest
from robustcot.models.letters import AnswerPosition, LetterVocabulary, locate_answer


def step_letter_logprobs(
    step: Mapping[int, Any], vocab: LetterVocabulary, letters: Sequence[str]
) -> tuple[dict[str, float], list[str]]:
    """Per-letter log-probability at one step (variants summed) and the letters with no reported variant.

    ``step`` maps token id → ``Logprob`` (or a bare float). A letter none of whose variants was
    reported gets ``-inf``; with ``logprob_token_ids`` that cannot happen, with top-k it means the
    letter was below the k-th token.
    """
    out: dict[str, float] = {}
    missing = []
    for letter in letters:
        vals = [float(getattr(step[t], "logprob", step[t])) for t in vocab.variants.get(letter, []) if t in step]
        vals = [v for v in vals if v > -math.inf]
        if not vals:
            out[letter] = -math.inf
            missing.append(letter)
            continue
        top = max(vals)
        out[letter] = top + math.log(sum(math.exp(v - top) for v in vals))
    return out, missing


@dataclass(frozen=True)
class Readout:
    """Letter log-probabilities read from a generation, or where a forced pass must continue from."""

    letter_logprobs: dict[str, float] | None
    note: str | None
    position: AnswerPosition | None
    token_texts: list[str]


def read_generation(
    output: Any, request: GenerationRequest, vocab: LetterVocabulary, token_text: Callable[[int], str]
) -> Readout:
    """Read the letter distribution at the generated answer letter, when it was generated cleanly.

    ``letter_logprobs`` is None when no clean answer letter follows the marker (or the step has no
    logprobs); the caller then runs the forced pass from :func:`forced_continuation`.
    """
    ids = list(output.token_ids)
    texts = [token_text(t) for t in ids]
    pos = locate_answer(texts, ids, vocab, request.answer_marker, request.letters)
    steps = output.logprobs or []
    if pos is None or pos.letter_step is None or pos.letter_step >= len(steps):
        return Readout(None, None, pos, texts)
    values, missing = step_letter_logprobs(steps[pos.letter_step], vocab, request.letters)
    note = f"top-k readout: no logprob reported for {', '.join(missing)} (counted as 0)" if missing else None
    return Readout(values, note, pos, texts)


def forced_continuation(output_text: str, readout: Readout, marker: str) -> tuple[str, str]:
    """(text to append to the rendered prompt, note) for the forced pass, ending right at the marker.

    With a marker in the generation, the continuation is the generated tokens before it plus the
    marker characters a straddling token carried; without one, the whole response plus the marker,
    as the HF backend does. The text is re-tokenised by vLLM, so a token boundary at the cut may
    differ from the generation's; the note says which case applied.
    """
    pos = readout.position
    if pos is None:
        return output_text + marker, "forced: no answer marker in the response; marker appended after it"
    return "".join(readout.token_texts[: pos.cut]) + pos.tail, "forced: no clean answer letter after the marker"


def completion_from_output(request_output: Any, prompt_text: str) -> Completion:
    """The :class:`Completion` fields a generation pass provides (letters are filled in later)."""
    out = request_output.outputs[0]
    return Completion(
        text=out.text,
        prompt=prompt_text,
        n_prompt_tokens=len(request_output.prompt_token_ids or []) or None,
        n_completion_tokens=len(out.token_ids),
    )
