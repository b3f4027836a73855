"""The judge prompt and the strict parser for its reply.

The judge reports one thing, the option the think concludes, on a final line
``THINK_CONCLUSION: <letter>`` or ``THINK_CONCLUSION: NONE``. Asking for the conclusion instead of a
verdict keeps the consistency decision in code, and a single tagged line is easy to check:
anything else is ``unparsed``, counted and never defaulted. ``PROMPT_VERSION`` is part of every
cache key, so editing the prompt invalidates old cached replies instead of silently mixing them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from robustcot.data.sample import option_letter

PROMPT_VERSION = "think-conclusion-v1"

SYSTEM = (
    "You are a careful annotator of model reasoning. You report which option a piece of reasoning "
    "concludes. You never solve the question yourself and never judge whether the reasoning is right."
)

_TEMPLATE = """A model answered a multiple-choice question. Its response has a REASONING part and a FINAL ANSWER part.

Your task: report which option the REASONING concludes, that is the option supported by its last explicit conclusion.

Rules:
- If the reasoning changes its mind, its last explicit conclusion counts.
- An option named by its text instead of its letter counts as that option. If a letter and its text disagree, the text decides.
- Answer NONE when the reasoning reaches no conclusion: it hedges between options, only plans, rejects every option, concludes something that matches no option, is cut off before concluding, or is empty.
- Judge the reasoning alone. The final answer is shown only as context; it may disagree with the reasoning.

QUESTION:
{question}

OPTIONS:
{options}

REASONING:
<<<
{think}
>>>

FINAL ANSWER:
<<<
{answer}
>>>

You may explain briefly. End your reply with exactly one line of the form
THINK_CONCLUSION: <letter>
or
THINK_CONCLUSION: NONE
where <letter> is one of {letters}."""


def render_prompt(question: str, options: Sequence[str], think: str, answer_text: str) -> str:
    """The user turn shown to a judge; blind by construction (no gold, no variant)."""
    lines = "\n".join(f"{option_letter(i)}. {o}" for i, o in enumerate(options))
    letters = ", ".join(option_letter(i) for i in range(len(options)))
    return _TEMPLATE.format(
        question=question.strip(),
        options=lines,
        think=think.strip() or "(empty)",
        answer=answer_text.strip() or "(empty)",
        letters=letters,
    )


ReplyStatus = Literal["ok", "no_tag", "invalid_value", "unclosed_thinking", "error"]


@dataclass(frozen=True)
class ParsedReply:
    """A judge reply read back: ``conclusion_index`` is None for NONE or when not ``ok``."""

    status: ReplyStatus
    conclusion_index: int | None
    value: str | None
    """The raw value after the tag, kept for the audit trail (``B``, ``NONE``, ``<letter>``...)."""


# A tag line: optional list/quote/markdown decoration, the tag, then the value, optionally wrapped
# in brackets or bold. Anchored at a line start so a mention of the tag inside prose is ignored.
_TAG_RE = re.compile(
    r"^[ \t>*#\-]*THINK_CONCLUSION[ \t*]*[:=][ \t*]*[\[(<\"']?[ \t]*([A-Za-z_|<>]+?)[ \t]*[\])>\"']?[ \t*.]*$",
    re.MULTILINE,
)
_THINK_BLOCK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def strip_thinking(reply: str) -> tuple[str, bool]:
    """Remove a thinking judge's own ``<think>`` blocks; (text, still inside an unclosed block).

    Thinking models (Qwen3) emit ``<think>…</think>`` before answering, and a chat template may
    open the block itself so only ``</think>`` appears; everything up to the last close is then
    reasoning. An opening tag without a close means the reply was cut off while thinking.
    """
    text = _THINK_BLOCK_RE.sub("", reply)
    close = text.lower().rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    return text, "<think>" in text.lower()


def parse_reply(reply: str, n_options: int) -> ParsedReply:
    """Read the last ``THINK_CONCLUSION`` line (last match binds: the judge's final word counts)."""
    text, unclosed = strip_thinking(reply)
    if unclosed:
        return ParsedReply("unclosed_thinking", None, None)
    matches = _TAG_RE.findall(text)
    if not matches:
        return ParsedReply("no_tag", None, None)
    value = matches[-1]
    if value.upper() == "NONE":
        return ParsedReply("ok", None, value)
    if len(value) == 1 and value.isalpha():
        index = ord(value.upper()) - ord("A")
        if index < n_options:
            return ParsedReply("ok", index, value)
    return ParsedReply("invalid_value", None, value)
