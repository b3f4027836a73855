"""The study's GRPO reward and its faithfulness-aware variant, with every part kept for logging.

``score = (0.1·format + 1.0·accuracy) · faithful``

* ``format`` is 1 when the whole assistant text (prefill + response) is exactly one
  ``<think>…</think>`` block followed by one ``<answer>…</answer>`` block, whitespace around them
  allowed; an empty think still counts (the shortcut detectors flag it).
* ``accuracy`` is 1 when the answer is right (:func:`robustcot.train.answers.check_answer`).
* ``faithful`` is 1 for the plain study reward. In the faithfulness-aware variant it is the judge's
  think≡answer indicator: 1 only for ``consistent``; ``inconsistent``, ``no_conclusion`` (a think
  that concludes nothing, including an empty one) and ``unjudged`` (no answer) give 0. Open math
  answers have no judge (``unsupported``) and keep factor 1; this is logged as ``unsupported``.

The rule judge labels every response, also under the plain reward, so training-time consistency is
always in the logs. The LLM judge is asked only where its verdict can change the reward (the base
reward is positive and an answer was parsed); elsewhere the logged label is the rule judge's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from robustcot.data.adapters.open_ended import parse_integer
from robustcot.errors import ConfigError
from robustcot.train.answers import AnswerCheck, Target, check_answer
from robustcot.train.judge_http import HTTPJudge, JudgeEndpoint, JudgeItem, JudgeOutcome

Faithfulness = Literal["none", "rule", "llm"]
FAITHFULNESS: tuple[str, ...] = ("none", "rule", "llm")
LABELS: tuple[str, ...] = ("consistent", "inconsistent", "no_conclusion", "unjudged", "unsupported")

_FORMAT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_WORD_CHAR_RE = re.compile(r"[^\W_]")


def format_ok(text: str) -> bool:
    """Exactly one think block then one answer block, only whitespace around and between them.

    Plain substring searches (first and last occurrence of each tag) instead of a regex: the reward
    runs on every rollout, and this keeps the check at a few percent of the reward's cost.
    """
    positions = []
    for tag in _FORMAT_TAGS:
        first = text.find(tag)
        if first < 0 or first != text.rfind(tag):
            return False
        positions.append(first)
    think_open, think_close, answer_open, answer_close = positions
    if not think_open < think_close < answer_open < answer_close:
        return False
    gaps = (
        text[:think_open],
        text[think_close + len("</think>") : answer_open],
        text[answer_close + len("</answer>") :],
    )
    return not any(gap.strip() for gap in gaps)


@dataclass(frozen=True)
class RewardConfig:
    """Which reward to compute."""

    faithfulness: Faithfulness = "none"
    format_weight: float = 0.1
    accuracy_weight: float = 1.0
    judge: JudgeEndpoint | None = field(default=None, compare=False)
    """Endpoint of the LLM judge; required when ``faithfulness == "llm"``."""

    def __post_init__(self) -> None:
        if self.faithfulness not in FAITHFULNESS:
            raise ConfigError(
                f"unknown faithfulness {self.faithfulness!r}; use one of {', '.join(FAITHFULNESS)}"
            )
        if self.faithfulness == "llm" and self.judge is None:
            raise ConfigError("faithfulness='llm' needs a judge endpoint (base URL and model)")


@dataclass(slots=True)
class RewardParts:
    """One response's reward and everything it was computed from."""

    score: float
    format: float
    accuracy: float
    faithful: float
    consistency: str
    """Final consistency label (see ``LABELS``)."""
    think_chars: int
    empty_think: bool
    answered: bool
    llm_judged: bool = False
    judge_error: bool = False
    think: str | None = field(default=None, repr=False)
    """The judged think (prefill included), for group-level shortcut detectors; not a logged number."""

    def as_dict(self) -> dict[str, float]:
        """Numbers only, same keys for every response: verl stacks them into arrays and averages them."""
        label = self.consistency
        return {
            "score": self.score,
            "format": self.format,
            "accuracy": self.accuracy,
            "faithful": self.faithful,
            "think_chars": float(self.think_chars),
            "empty_think": float(self.empty_think),
            "answered": float(self.answered),
            "llm_judged": float(self.llm_judged),
            "judge_error": float(self.judge_error),
            "consistent": float(label == "consistent"),
            "inconsistent": float(label == "inconsistent"),
            "no_conclusion": float(label == "no_conclusion"),
            "unjudged": float(label == "unjudged"),
            "unsupported": float(label == "unsupported"),
        }


#: The plain study reward (built once: scoring runs on every rollout).
STUDY = RewardConfig()


def _parts(
    text: str,
    check: AnswerCheck,
    config: RewardConfig,
    label: str,
    *,
    llm_judged: bool = False,
    judge_error: bool = False,
) -> RewardParts:
    fmt = 1.0 if format_ok(text) else 0.0
    acc = 1.0 if check.correct else 0.0
    faithful = 1.0 if config.faithfulness == "none" or label in ("consistent", "unsupported") else 0.0
    think = (check.think or "").strip()
    return RewardParts(
        score=(config.format_weight * fmt + config.accuracy_weight * acc) * faithful,
        format=fmt,
        accuracy=acc,
        faithful=faithful,
        consistency=label,
        think_chars=len(think),
        empty_think=_WORD_CHAR_RE.search(think) is None,
        answered=check.answer_text is not None,
        llm_judged=llm_judged,
        judge_error=judge_error,
        think=check.think,
    )


def score_response(
    response: str, target: Target, *, prefill: str = "", config: RewardConfig | None = None
) -> RewardParts:
    """Reward of one response with the rule judge (plain or ``faithfulness="rule"``)."""
    config = config or STUDY
    if config.faithfulness == "llm":
        raise ConfigError("the LLM-judged reward is asynchronous: use ascore_responses or score_batch")
    check = check_answer(target, response, prefill)
    return _parts(prefill + response, check, config, check.consistency)


def _judge_item(check: AnswerCheck, target: Target, question: str) -> JudgeItem | None:
    """What the LLM judge is asked about a response, or None when its verdict cannot matter."""
    if check.consistency in ("unjudged", "unsupported"):
        return None
    answer = check.answer_index if target.answer_type == "mcq" else parse_integer(check.answer_text or "")
    if answer is None:
        return None
    return JudgeItem(question, target.options, check.think or "", check.answer_text or "", answer)


async def ascore_responses(
    responses: Sequence[str],
    targets: Sequence[Target],
    *,
    prefills: Sequence[str],
    questions: Sequence[str],
    config: RewardConfig,
) -> list[RewardParts]:
    """Rewards of a batch; with ``faithfulness="llm"`` the judge is asked concurrently."""
    texts = [p + r for p, r in zip(prefills, responses, strict=True)]
    checks = [check_answer(t, r, p) for t, r, p in zip(targets, responses, prefills, strict=True)]
    if config.faithfulness != "llm":
        return [_parts(x, c, config, c.consistency) for x, c in zip(texts, checks, strict=True)]
    base = [_parts(x, c, STUDY, c.consistency) for x, c in zip(texts, checks, strict=True)]
    asks: dict[int, JudgeItem] = {}
    for i, (check, target, question) in enumerate(zip(checks, targets, questions, strict=True)):
        item = _judge_item(check, target, question) if base[i].score > 0 else None
        if item is not None:
            asks[i] = item
    assert config.judge is not None  # checked by RewardConfig
    outcomes: dict[int, JudgeOutcome] = dict(
        zip(asks, await HTTPJudge(config.judge).alabels(list(asks.values())), strict=True)
    )
    out = []
    for i, (text, check) in enumerate(zip(texts, checks, strict=True)):
        outcome = outcomes.get(i)
        if outcome is None:
            out.append(_parts(text, check, config, check.consistency))
        elif outcome.label is None:
            out.append(_parts(text, check, config, check.consistency, judge_error=True))
        else:
            out.append(_parts(text, check, config, outcome.label, llm_judged=True))
    return out


def score_batch(
    responses: Sequence[str],
    targets: Sequence[Target],
    *,
    prefills: Sequence[str] | None = None,
    questions: Sequence[str] | None = None,
    config: RewardConfig | None = None,
) -> list[RewardParts]:
    """Blocking batch scoring (TRL, benchmarks); the rule paths never start an event loop."""
    config = config or STUDY
    prefills = list(prefills) if prefills is not None else [""] * len(responses)
    if config.faithfulness != "llm":
        return [
            score_response(r, t, prefill=p, config=config)
            for r, t, p in zip(responses, targets, prefills, strict=True)
        ]
    if questions is None:
        raise ConfigError("the LLM judge needs the question of every response")
    return asyncio.run(
        ascore_responses(responses, targets, prefills=prefills, questions=list(questions), config=config)
    )
