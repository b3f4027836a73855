"""The judge cascade: the rule judge settles clear rows, LLM judges see the rest plus an audit.

A row is *clear* when the response parsed cleanly (status ``ok``) and the rule judge's verdict
cannot reasonably be disputed:

- **explicit**: the rule judge says consistent or inconsistent, the think states its conclusion
  by letter ("the answer is B", "Answer: B", "I choose B", "option B is correct"), every such
  statement names the rule judge's option (a think that says "the answer is A" and later "the
  answer is C", as wrong-think prefills provoke, is not clear), and the last one comes at the very
  end (at most ``TAIL_WORDS`` words after it), so no later reasoning can revise it;
- **sole mention**: the rule judge says consistent or inconsistent, and the think names exactly
  one option, by its text or its letter, anywhere, without any negation, so there is nothing to
  hedge between or reject ("I can see that there are 2 people" with option "There are 2 people");
- **empty**: the think is empty and the rule judge says no_conclusion (there is nothing to read).

Everything else that has a parsed answer goes to the LLM judges: conclusions by option text,
hedges, self-contradiction, truncation. A seeded random share of the clear rows is also sent to
the LLM judges as an audit, and rule-vs-LLM agreement on it is reported, so the claim "clear rows
need no LLM" is measured on every run rather than assumed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np

from robustcot.scoring.parse import lower_same_length, option_matcher

Route = Literal["rule", "audit", "llm", "none"]
"""``rule``: decided by the rule judge; ``audit``: clear, decided by the rule judge, also LLM-judged;
``llm``: decided by the LLM panel; ``none``: no parsed answer, nothing to judge."""

TAIL_WORDS = 12

_LETTER = r"[(\[\"'*]*(?P<{name}>[A-Z])(?![\w'’])(?![ \t]+[a-z])"
_EXPLICIT_RE = re.compile(
    "|".join(
        [
            r"(?i:\b(?:(?:final|correct|right|best)\s+)?(?:answer|option|choice)\s*(?:is|would\s+be|should\s+be"
            r"|must\s+be|will\s+be|[:=])\s*(?:option\s+)?)" + _LETTER.format(name="stated"),
            r"(?i:\bI\s+(?:choose|pick|select|will\s+choose|will\s+go\s+with|go\s+with)\s+(?:option\s+)?)"
            + _LETTER.format(name="chosen"),
            r"(?i:\b(?:option|choice)\s+)[(\[\"'*]*(?P<approved>[A-Z])[)\]\"'*]*"
            r"(?i:\s+is\s+(?:the\s+)?(?:correct|right|best)\b)",
        ]
    )
)
_WORD_RE = re.compile(r"\w+")
_BARE_LETTER_RE = re.compile(r"(?<![\w'’])[A-Z](?![\w'’])")
_NEGATION_RE = re.compile(
    r"\b(?:not|no|never|none|neither|nor|cannot|without|incorrect|wrong|unlikely|rather|instead)\b|n['’]t\b",
    re.IGNORECASE,
)


def explicit_conclusions(think: str, n_options: int) -> list[tuple[int, int]]:
    """(option index, end offset) of every explicit by-letter conclusion in ``think``, in order.

    The letter must be a capital standing alone and not followed by a lower-case word, so the
    article in "the answer is A dog" is not read as option A. Letters beyond the options are ignored.
    """
    found = []
    for m in _EXPLICIT_RE.finditer(think):
        letter = m.group(m.lastgroup or "")
        index = ord(letter) - ord("A")
        if index < n_options:
            found.append((index, m.end()))
    return found


def mentioned_options(think: str, options: Sequence[str]) -> set[int]:
    """Options the think names by text (the parser's option matcher) or by a standalone letter.

    Generous on purpose: a sentence-initial article "A" counts as option A, which only ever makes
    a row unclear and sends it to the LLM judges.
    """
    found = {m[2] for m in option_matcher(options).text_mentions(lower_same_length(think))}
    found |= {ord(m.group()) - ord("A") for m in _BARE_LETTER_RE.finditer(think)}
    return {i for i in found if i < len(options)}


def is_clear(
    think: str | None, options: Sequence[str], status: str, rule_label: str | None, rule_conclusion: int | None
) -> bool:
    """Whether the rule judge's label stands without an LLM (see the module rules)."""
    if status != "ok":
        return False
    text = (think or "").strip()
    if not text:
        return rule_label == "no_conclusion"
    if rule_label not in ("consistent", "inconsistent") or rule_conclusion is None:
        return False
    found = explicit_conclusions(text, len(options))
    if found and {option for option, _ in found} == {rule_conclusion}:
        return len(_WORD_RE.findall(text[found[-1][1] :])) <= TAIL_WORDS
    return not found and not _NEGATION_RE.search(text) and mentioned_options(text, options) == {rule_conclusion}


def routes(judgeable: Sequence[bool], clear: Sequence[bool], *, audit_fraction: float, seed: int) -> list[Route]:
    """Route each row; the audit draws ``ceil(audit_fraction × clear rows)`` clear rows with ``seed``.

    Rows are addressed by position, so callers pass them in a stable order (sorted by key) for the
    audit sample to be reproducible.
    """
    if not 0.0 <= audit_fraction <= 1.0:
        raise ValueError(f"audit_fraction must be within [0, 1], got {audit_fraction}")
    out: list[Route] = [
        "none" if not j else ("rule" if c else "llm") for j, c in zip(judgeable, clear, strict=True)
    ]
    clear_rows = [i for i, r in enumerate(out) if r == "rule"]
    n_audit = min(len(clear_rows), math.ceil(audit_fraction * len(clear_rows)))
    if n_audit:
        chosen = np.random.default_rng(seed).choice(len(clear_rows), size=n_audit, replace=False)
        for c in chosen:
            out[clear_rows[int(c)]] = "audit"
    return out
