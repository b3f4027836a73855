"""The label vocabulary of LLM judges and the panel, and the one deterministic comparison.

The judge model only names the option the think concludes; turning that into a consistency label
is done here, by code, so a judge can never "decide" consistency from the answer it was shown.
"""

from __future__ import annotations

from typing import Literal

JudgeLabel = Literal["consistent", "inconsistent", "no_conclusion", "unparsed"]
#: ``tie``: the top vote count is shared; ``unjudged``: no parsed answer, so nothing to compare.
PanelLabel = JudgeLabel | Literal["tie", "unjudged"]

#: Labels that carry a judgement, in the fixed column order used for agreement tables.
DECIDED: tuple[str, ...] = ("consistent", "inconsistent", "no_conclusion")


def compare(conclusion_index: int | None, answer_index: int) -> JudgeLabel:
    """Label for a think that concludes ``conclusion_index`` (None: no conclusion)."""
    if conclusion_index is None:
        return "no_conclusion"
    return "consistent" if conclusion_index == answer_index else "inconsistent"


def consistent_flag(label: str | None) -> bool | None:
    """The ``consistent`` column for a label: True/False when decided, else None."""
    return {"consistent": True, "inconsistent": False}.get(label or "")
