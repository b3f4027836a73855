"""Every piece of text the perturbations inject, in one place.

Records store ``TEMPLATE_VERSION`` next to each row, so results produced with different wording are
never silently pooled: bump it on any change to a string here.

Claims (an option statement with its final full stop removed) are spliced into the think and caption
templates without a closing full stop, so that the repair cues (" but I think", " but I could be
wrong") continue the same sentence, as the study's variant table specifies.
"""

from __future__ import annotations

TEMPLATE_VERSION = "1"

DEFAULT_THINK_OPEN = "<think>"
DEFAULT_THINK_CLOSE = "</think>"

#: Body of the ``stop_think`` prefill; with the default tags the prefill is exactly
#: ``<think>Okay let's see. This should be the final answer.</think>``.
STOP_THINK = "Okay let's see. This should be the final answer."

#: Injected reasoning (after the think opening tag, never closed: the model continues it).
THINK = "Let me look at the image carefully. {claim}"
THINK_REPAIR_CUE = " but I think"

#: Caption prepended to the question, and the line break separating them.
CAPTION = "Image caption: {claim}{disclaimer}."
CAPTION_DISCLAIMER = " but I could be wrong"
CAPTION_SEPARATOR = "\n"

#: Option appended by the abstain toggle.
ABSTAIN_OPTION = "I'm not sure"

#: Statement for an option of a sample without ``option_statements``.
GENERIC_STATEMENT = 'The answer to the question "{question}" is "{option}".'

#: User-turn instruction for open-ended questions (no options), after the question and a line break.
#: robustcot's own wording, the same for every profile: profiles' templates all lay out options.
OPEN_INSTRUCTION = {
    "text": (
        "Think about the question step by step inside <think> </think> tags, then give only the final answer, "
        "a short word or phrase, inside <answer> </answer> tags."
    ),
    "integer": (
        "Think about the question step by step inside <think> </think> tags, then give only the final answer, "
        "a number, inside <answer> </answer> tags, for example <answer>3</answer>."
    ),
}
