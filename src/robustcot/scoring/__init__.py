"""Scoring: parse responses into think and answer, and judge whether they agree."""

from robustcot.scoring.parse import AnswerStyle, ParsedResponse, ParseStatus, answer_index, parse_response
from robustcot.scoring.rule_judge import (
    ConsistencyLabel,
    RuleJudgement,
    RuleLabel,
    judge_rule,
    quadrant,
    think_conclusion,
)

__all__ = [
    "AnswerStyle",
    "ConsistencyLabel",
    "ParseStatus",
    "ParsedResponse",
    "RuleJudgement",
    "RuleLabel",
    "answer_index",
    "judge_rule",
    "parse_response",
    "quadrant",
    "think_conclusion",
]
