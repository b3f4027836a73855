"""LLM judges of think-vs-answer consistency: prompt, reply parsing, cache, panel, cascade.

Any backend can judge. A judge is blind to the gold answer and the perturbation: it reads the
question, the options, the think and the answer text, and reports only the option the think
concludes; comparing that with the parsed answer is deterministic code (see docs/judges.md).
"""

from robustcot.judges.labels import JudgeLabel, PanelLabel
from robustcot.judges.llm import JudgeItem, LLMJudge, Verdict
from robustcot.judges.run import JudgeResult, judge_column, judge_run

__all__ = [
    "JudgeItem",
    "JudgeLabel",
    "JudgeResult",
    "LLMJudge",
    "PanelLabel",
    "Verdict",
    "judge_column",
    "judge_run",
]
