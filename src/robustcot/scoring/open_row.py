"""One open-ended completion → one record row: free-text answer, normalised match, no letters.

Open rows go through the same parser as multiple-choice rows (:func:`~robustcot.scoring.parse.parse_response`
with no options), so think and answer are cut by the same tag rules, but everything tied to options
is left null: ``options`` is empty, the index columns and the letter uncertainty are null and
``uncertainty_note`` says why. What replaces them:

- **Answer.** The text of the answer container (``<answer>``, or after ``Final Answer:`` for
  profiles answering that way) with a leading "answer:" / "the answer is" removed, a format
  wrapper rather than content. An answer written outside the container is not read (the
  multiple-choice fallback accepts such text only when it names an option, and there is none).
- **Correct.** :func:`~robustcot.data.adapters.open_ended.score_open`: normalised exact match
  (aliases accepted) for text, first integer for counts. Null when there is no answer, or no
  integer in a count answer; ``status`` is then ``unparseable`` (or the parser's own status).
- **Consistency (rule judge).** The think's *final stated answer* is the last explicit statement
  "answer is X" / "answer: X" / the injected sentence 'The answer to the question "…" is "X"'; a
  statement followed in its sentence by "but", "however", "though", "yet" or "wait" is withdrawn.
  It is compared with the answer by :func:`~robustcot.perturb.open_variants.answer_key` (integer
  for counts, normalised text otherwise): equal → ``consistent``; for text, one containing the
  other as words ("probably left" / "left") → ``unjudged``; otherwise ``inconsistent``. No
  statement, a withdrawn one, or no scorable answer → ``unjudged``. A think that concludes without
  the word "answer" is therefore unjudged: read the open-row quadrant shares with that in mind.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from robustcot.data.adapters.open_ended import NO_LETTERS_NOTE, OpenSample, score_open
from robustcot.data.grouped import record_extras
from robustcot.models.base import Completion
from robustcot.perturb.open_variants import OpenPrompt, answer_key
from robustcot.prompting.profile import PromptProfile
from robustcot.records import record_key
from robustcot.scoring.parse import parse_response
from robustcot.scoring.row import failed_generation_row
from robustcot.scoring.rule_judge import RuleLabel, quadrant

_LEADING_MARKER_RE = re.compile(r"^[\W_]*(?:the\s+)?(?:final\s+)?answer\s*(?:is\b\s*[:：]?|[:：])\s*", re.IGNORECASE)
_STATED_RE = re.compile(
    r'answer to the question "[^\n]*?" is "(?P<quoted>[^"\n]*)"'
    r"|\b(?:final\s+)?answer\s*(?:is\b|would be|should be|[:：])\s*(?P<plain>[^\n.!?;,]*)",
    re.IGNORECASE,
)
_WITHDRAWN_RE = re.compile(r"\b(?:but|however|though|although|yet|wait)\b", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"[.!?\n]")


def open_answer(answer_text: str | None) -> str | None:
    """The answer container's text without a leading answer marker; None when nothing is left."""
    if answer_text is None:
        return None
    text = _LEADING_MARKER_RE.sub("", answer_text.strip(), count=1).strip()
    return text or None


def stated_answer(think: str) -> str | None:
    """The think's final explicit answer statement (see the module rules), or None."""
    matches = deque(_STATED_RE.finditer(think), maxlen=1)
    if not matches:
        return None
    match = matches[0]
    rest = think[match.end() :]
    end = _SENTENCE_END_RE.search(rest)
    if _WITHDRAWN_RE.search(rest[: end.start() if end else len(rest)]):
        return None
    text = match.group("quoted") if match.group("quoted") is not None else match.group("plain")
    return text.strip() or None


def _contains_words(longer: str, shorter: str) -> bool:
    return f" {shorter} " in f" {longer} "


def judge_open(think: str | None, answer: str | None, sample: OpenSample) -> RuleLabel:
    """Rule-judge label of an open row: does the think's final stated answer match ``answer``?"""
    stated = stated_answer(think or "") if answer is not None else None
    if stated is None or answer is None:
        return "unjudged"
    said, given = answer_key(sample, stated), answer_key(sample, answer)
    if not said or not given:
        return "unjudged"
    if said == given:
        return "consistent"
    if sample.answer_type == "text" and (_contains_words(said, given) or _contains_words(given, said)):
        return "unjudged"
    return "inconsistent"


def open_base_row(sample: OpenSample, pp: OpenPrompt, context: dict[str, Any]) -> dict[str, Any]:
    """Columns known before generation; option and letter columns stay null (absent)."""
    return {
        "key": record_key(sample.id, pp.variant, pp.abstain),
        "sample_id": sample.id,
        "benchmark": sample.benchmark,
        "category": sample.metadata.get("category"),
        **record_extras(sample),
        "question": sample.question,
        "options": [],
        "variant": pp.variant,
        "abstain": pp.abstain,
        "gold_answer": pp.gold_answer,
        "wrong_answer": pp.wrong_answer,
        "injected_answer": pp.injected_answer,
        "prefill": pp.prefill or "",
        "uncertainty_note": NO_LETTERS_NOTE,
        **context,
    }


def open_error_row(sample: OpenSample, pp: OpenPrompt, context: dict[str, Any], error: str) -> dict[str, Any]:
    return {**open_base_row(sample, pp, context), "status": "error", "error": error}


def open_scored_row(
    sample: OpenSample, pp: OpenPrompt, profile: PromptProfile, completion: Completion, context: dict[str, Any]
) -> dict[str, Any]:
    """Parse, score by normalised match and rule-judge one open-ended completion (module rules)."""
    row = open_base_row(sample, pp, context)
    if (failed := failed_generation_row(row, completion)) is not None:
        return failed
    parsed = parse_response(completion.text, (), prefill=pp.prefill or "", answer_style=profile.answer_style)
    answer = open_answer(parsed.answer_text)
    correct = score_open(sample, answer)
    status = parsed.status
    if status == "unparseable":  # the parser's verdict for any answer text when there are no options
        status = "ok" if correct is not None else "unparseable"
    label = judge_open(parsed.think, answer if correct is not None else None, sample)
    consistent = {"consistent": True, "inconsistent": False}.get(label)
    row.update(
        prompt=completion.prompt,
        response=completion.text,
        think=parsed.think,
        answer_text=parsed.answer_text,
        status=status,
        correct=correct,
        judge_rule=label,
        consistent=consistent,
        quadrant=quadrant(consistent, correct),
        n_prompt_tokens=completion.n_prompt_tokens,
        n_completion_tokens=completion.n_completion_tokens,
        latency_s=completion.latency_s,
    )
    return row
