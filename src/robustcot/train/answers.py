"""What a training response is scored against, and whether its answer is right.

Training mixes three kinds of questions, each with its own notion of "correct":

* ``mcq`` (SAT, synthetic, Geometry3K): the answer names an option by letter or by text, read by
  the evaluation parser (:func:`robustcot.scoring.parse.parse_response`) so training and evaluation
  agree on what counts as an answer. With ``math=True`` (Geometry3K) an answer that names no option
  but is mathematically equal to exactly one option (``5\\sqrt{2}`` for ``5 \\sqrt { 2 }``) counts
  as that option; equality is decided by ``math-verify``.
* ``integer`` (Pixmo-Count): the first integer in the answer, digits or number words, equals the
  count (:func:`robustcot.data.adapters.open_ended.parse_integer`, as evaluation scores it).
* ``math`` (open-ended math answers): ``math-verify`` equivalence with the gold expression.

The answer is the last ``<answer>`` block (for ``mcq``, the parser's rules, which also recover a
mangled tag); the think includes the assistant prefill, because an injected think is part of the
reasoning the answer must agree with.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any, Literal

from robustcot.data.adapters.open_ended import NUMBER_WORDS, parse_integer
from robustcot.errors import ConfigError
from robustcot.scoring.parse import parse_response
from robustcot.scoring.rule_judge import judge_rule

AnswerType = Literal["mcq", "integer", "math"]
ANSWER_TYPES: tuple[str, ...] = ("mcq", "integer", "math")

#: Consistency labels: the rule judge's, plus ``unsupported`` for answer types it cannot read.
ConsistencyLabel = Literal["consistent", "inconsistent", "no_conclusion", "unjudged", "unsupported"]


@dataclass(frozen=True)
class Target:
    """The gold side of one training prompt.

    ``gold`` is the option letter for ``mcq``, the count for ``integer`` and the expression for
    ``math``; ``options`` are the options as shown (``mcq`` only).
    """

    answer_type: AnswerType
    gold: str
    options: tuple[str, ...] = ()
    math: bool = False

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise ConfigError(f"unknown answer type {self.answer_type!r}; known: {', '.join(ANSWER_TYPES)}")
        if self.answer_type == "mcq" and self.gold_index is None:
            raise ConfigError(f"gold {self.gold!r} is not the letter of one of {len(self.options)} options")
        if self.answer_type == "integer" and parse_integer(self.gold) is None:
            raise ConfigError(f"integer gold {self.gold!r} is not an integer")

    @cached_property
    def gold_index(self) -> int | None:
        """0-based gold option for ``mcq``; None otherwise."""
        if self.answer_type != "mcq" or len(self.gold) != 1:
            return None
        index = ord(self.gold.upper()) - ord("A")
        return index if 0 <= index < len(self.options) else None

    @classmethod
    def from_record(cls, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> Target:
        """Rebuild a target from an exported row (``reward_model.ground_truth`` + ``extra_info``).

        A row without ``extra_info`` (a dataset not written by robustcot) is read as an open
        integer question when the ground truth is a number, else as open math.
        """
        info = extra_info or {}
        options = info.get("options")  # a list from verl/datasets, a numpy array from pandas
        answer_type = info.get("answer_type")
        if answer_type is None:
            answer_type = "integer" if re.fullmatch(r"\s*-?\d+\s*", str(ground_truth)) else "math"
        return cls(
            answer_type=answer_type,
            gold=str(ground_truth),
            options=tuple(options) if options is not None else (),
            math=bool(info.get("math", False)),
        )


@dataclass(slots=True)
class AnswerCheck:
    """What was read from one response and how it compares with the target."""

    think: str | None
    answer_text: str | None
    answer_index: int | None
    """Option named by the answer (``mcq``); None when none was identified."""
    correct: bool
    consistency: ConsistencyLabel


# --------------------------------------------------------------------------- open-ended parsing

_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_INTEGER_TOKEN_RE = re.compile(r"-?\d+|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)


def split_think_answer(text: str) -> tuple[str | None, str | None]:
    """(think, answer) by tags alone: the first think block, the last answer block.

    A ``</think>`` without an opening tag means the chat template opened it; a ``<think>`` never
    closed runs up to the first ``<answer>``.
    """
    m = _THINK_RE.search(text)
    if m is not None:
        think: str | None = m.group(1)
    elif "</think>" in text:
        think = text[: text.index("</think>")]
    elif "<think>" in text:
        body = text[text.index("<think>") + len("<think>") :]
        think = body.split("<answer>", 1)[0]
    else:
        think = None
    answers = _ANSWER_RE.findall(text)
    return think, (answers[-1].strip() if answers else None)


def _last_integer(text: str) -> int | None:
    """The last integer the text states (digits or number words): a count's conclusion."""
    found = _INTEGER_TOKEN_RE.findall(text)
    if not found:
        return None
    token = found[-1]
    return int(token) if token.lstrip("-").isdigit() else NUMBER_WORDS[token.lower()]


# --------------------------------------------------------------------------- math equivalence


def _math_verify():
    try:
        import math_verify
    except ImportError as exc:  # pragma: no cover - exercised only without the train extra
        raise ConfigError(
            "math answers (Geometry3K) need math-verify: pip install 'robustcot[train]' or 'math-verify>=0.9'"
        ) from exc
    return math_verify


def _timeout() -> int | None:
    """math-verify's timeouts use SIGALRM, which only the main thread may set (verl scores in workers)."""
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=65536)
def _parsed_math(expr: str) -> tuple[Any, ...]:
    """math-verify's reading of an expression; plain LaTeX is wrapped in ``$`` so it is found."""
    mv = _math_verify()
    text = expr if "$" in expr or "\\boxed" in expr else f"${expr}$"
    return tuple(mv.parse(text, parsing_timeout=_timeout()))


def math_equal(gold: str, answer: str) -> bool:
    """Whether ``answer`` equals ``gold`` as mathematics (``48`` = ``48.0``, ``2\\sqrt{3}`` = ``\\sqrt{12}``)."""
    g, a = _parsed_math(gold), _parsed_math(answer)
    if not g or not a:
        return False
    return bool(_math_verify().verify(list(g), list(a), timeout_seconds=_timeout()))


def _math_option(options: tuple[str, ...], answer: str) -> int | None:
    """The single option mathematically equal to ``answer``; None when none or several are."""
    hits = [i for i, option in enumerate(options) if math_equal(option, answer)]
    return hits[0] if len(hits) == 1 else None


# --------------------------------------------------------------------------- checking


def check_answer(target: Target, response: str, prefill: str = "") -> AnswerCheck:
    """Read ``prefill + response`` and compare its answer (and its think's conclusion) with ``target``."""
    if target.answer_type == "mcq":
        parsed = parse_response(response, target.options, prefill=prefill)
        index = parsed.answer_index
        if index is None and target.math and parsed.answer_text:
            index = _math_option(target.options, parsed.answer_text)
        if index != parsed.answer_index:
            parsed = replace(parsed, answer_index=index)
        # Without an answer the rule judge's label is "unjudged" whatever the think says: skip its work.
        consistency: ConsistencyLabel = (
            "unjudged" if index is None else judge_rule(parsed, target.options).label
        )
        return AnswerCheck(parsed.think, parsed.answer_text, index, index == target.gold_index, consistency)

    think, answer = split_think_answer(prefill + response)
    if target.answer_type == "integer":
        value = parse_integer(answer) if answer else None
        correct = value is not None and value == parse_integer(target.gold)
        if value is None:
            consistency = "unjudged"
        else:
            concluded = _last_integer(think or "")
            consistency = (
                "no_conclusion"
                if concluded is None
                else "consistent"
                if concluded == value
                else "inconsistent"
            )
        return AnswerCheck(think, answer, None, correct, consistency)
    correct = bool(answer) and math_equal(target.gold, answer)  # type: ignore[arg-type]
    return AnswerCheck(think, answer, None, correct, "unsupported")
