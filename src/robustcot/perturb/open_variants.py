"""The study's variants applied to open-ended questions (:class:`~robustcot.data.adapters.OpenSample`).

An open question has no options, so the variant table is read with answers in place of options:

- ``base`` and ``stop_think`` are unchanged (they inject nothing about an answer);
- ``correct_*`` assert the sample's gold answer;
- ``wrong_*`` assert the sample's *wrong answer*: the gold answer of another sample of the same
  benchmark whose answer differs after normalisation (:func:`answer_key`; aliases of the sample
  count as its own answer). It is drawn once per sample, so every wrong variant of a sample injects
  the same text and rows compare one to one, as with the multiple-choice wrong option. Drawing from
  the benchmark's own answers keeps the injected answer in the answer distribution the model sees;
- the assertion is the multiple-choice fallback sentence, ``GENERIC_STATEMENT`` with the answer as
  the option, spliced into the think or caption templates exactly as :func:`~robustcot.perturb.perturb`
  does, so open and multiple-choice injections share their wording and ``TEMPLATE_VERSION``;
- ``abstain`` does not apply (there is no option list to add "I'm not sure" to): asking for it raises
  :class:`~robustcot.errors.SampleError`, which the evaluation records as an error row, as it does for
  a multiple-choice sample with no letter left for the abstain option.

The draw depends on the samples loaded (the pool), not only on ``(seed, sample.id)``: resume a run
with the same ``limit``, or retried rows may inject another wrong answer than their siblings did.
A sharded run passes the whole load as the pool, so each shard injects what an unsharded run does.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from robustcot.data.adapters.open_ended import OpenSample, normalise_text, parse_integer
from robustcot.errors import SampleError
from robustcot.perturb import templates as T
from robustcot.perturb.variants import SPECS, _claim, _unknown


@dataclass(frozen=True)
class OpenPrompt:
    """An open-ended sample as one variant presents it (the open counterpart of ``PerturbedPrompt``).

    ``question`` is the question as shown (caption, line break, question); ``injected_answer`` is
    the answer text the variant asserts (``gold_answer`` or ``wrong_answer``), None when nothing was.
    """

    variant: str
    question: str
    gold_answer: str
    wrong_answer: str | None
    injected_answer: str | None
    caption: str | None
    prefill: str | None
    abstain: bool = False


def answer_key(sample: OpenSample, answer: str) -> str | None:
    """What two answers must share to count as the same: the integer for counts, else the
    normalised text (:func:`~robustcot.data.adapters.open_ended.normalise_text`)."""
    if sample.answer_type == "integer":
        value = parse_integer(answer)
        return None if value is None else str(value)
    return normalise_text(answer)


def _rng(seed: int, sample_id: str) -> np.random.Generator:
    """A generator fixed by ``(seed, sample id)``; sha256, not the per-process salted ``hash()``."""
    digest = hashlib.sha256(f"{seed}\x00{sample_id}\x00open".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def draw_wrong_answers(samples: Sequence[OpenSample], seed: int) -> dict[str, str | None]:
    """Each sample's wrong answer (None when every other answer equals its own after normalisation).

    Uniform over the *other samples*, so injected answers follow the benchmark's own answer
    distribution (frequent answers are drawn more often), excluding those whose answer key equals one of the sample's accepted answers.
    The pool is ordered by sample id, so load order does not matter. Rejection sampling keeps the
    cost linear in the benchmark size (Pixmo-Count train has 37k rows).
    """
    pool = sorted(samples, key=lambda s: s.id)
    keys = [answer_key(s, s.answer) for s in pool]
    counts = Counter(keys)
    out: dict[str, str | None] = {}
    for sample in samples:
        accepted = {answer_key(sample, a) for a in [sample.answer, *sample.aliases]}
        if sum(counts[k] for k in accepted) >= len(pool):
            out[sample.id] = None
            continue
        rng = _rng(seed, sample.id)
        while True:
            pick = int(rng.integers(len(pool)))
            if keys[pick] not in accepted:
                out[sample.id] = " ".join(pool[pick].answer.split())
                break
    return out


def perturb_open(
    sample: OpenSample,
    variant: str,
    *,
    wrong_answer: str | None,
    abstain: bool = False,
    think_open: str = T.DEFAULT_THINK_OPEN,
    think_close: str = T.DEFAULT_THINK_CLOSE,
) -> OpenPrompt:
    """Build ``variant`` of an open-ended ``sample``; ``wrong_answer`` comes from :func:`draw_wrong_answers`."""
    spec = SPECS.get(variant)
    if spec is None:
        raise _unknown(variant)
    if abstain:
        raise SampleError(sample.id, "is open-ended: the abstain option needs an option list, so it does not apply")
    gold = " ".join(sample.answer.split())
    injected = {"wrong": wrong_answer, "gold": gold, None: None}[spec.target]
    if spec.target == "wrong" and injected is None:
        raise SampleError(sample.id, "has no wrong answer: every other sample's answer equals its own after normalisation")
    caption = prefill = None
    if spec.stop:
        prefill = think_open + T.STOP_THINK + think_close
    elif injected is not None:
        question = " ".join(sample.question.split())
        claim = _claim(T.GENERIC_STATEMENT.format(question=question, option=injected))
        if spec.channel == "think":
            prefill = think_open + T.THINK.format(claim=claim) + (T.THINK_REPAIR_CUE if spec.cue else "")
        else:
            caption = T.CAPTION.format(claim=claim, disclaimer=T.CAPTION_DISCLAIMER if spec.cue else "")
    return OpenPrompt(
        variant=variant,
        question=sample.question if caption is None else caption + T.CAPTION_SEPARATOR + sample.question,
        gold_answer=gold,
        wrong_answer=wrong_answer,
        injected_answer=injected,
        caption=caption,
        prefill=prefill,
    )


def open_prompter(samples: Sequence[OpenSample], seed: int) -> Callable[..., OpenPrompt]:
    """``perturb``'s calling convention for a benchmark's open samples: the wrong answers are drawn
    once over all of them here, then each call builds one variant of one sample."""
    wrong = draw_wrong_answers(samples, seed)

    def make(
        sample: OpenSample,
        variant: str,
        *,
        abstain: bool = False,
        think_open: str = T.DEFAULT_THINK_OPEN,
        think_close: str = T.DEFAULT_THINK_CLOSE,
    ) -> OpenPrompt:
        return perturb_open(
            sample, variant, wrong_answer=wrong[sample.id], abstain=abstain, think_open=think_open, think_close=think_close
        )

    return make
