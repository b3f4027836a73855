"""The open-ended evaluation path (Spatial-MM multihop, Pixmo-Count), in the pieces ``evaluate`` dispatches to.

Open-ended samples run through the same plan → batch → store → summary loop as multiple-choice
ones; only three steps differ, and each has its open counterpart here:

- prompting: :func:`~robustcot.perturb.open_variants.open_prompter` builds the variants (wrong
  answers drawn once over the benchmark's answers);
- the request: :func:`open_request` asks for ``<think>…</think><answer>free text</answer>`` and reads
  no letters (an empty ``letters`` list switches the backends' letter readout off);
- scoring: :func:`~robustcot.scoring.open_row.open_scored_row` (normalised match, open rule judge).

Rows carry ``task == "open"``, so summaries keep them out of letter metrics.
"""

from __future__ import annotations

from robustcot.data.adapters.open_ended import AnswerType, OpenSample
from robustcot.data.images import QWEN25_VL, ImagePolicy, load_images
from robustcot.models.base import GenerationRequest
from robustcot.perturb.open_variants import OpenPrompt, open_prompter
from robustcot.perturb.templates import OPEN_INSTRUCTION
from robustcot.prompting.conversation import Conversation
from robustcot.prompting.profile import PromptProfile
from robustcot.scoring.open_row import open_error_row, open_scored_row

__all__ = ["OpenPrompt", "open_error_row", "open_prompter", "open_request", "open_scored_row", "open_user_text"]


def open_user_text(question: str, answer_type: AnswerType) -> str:
    """The user turn: the question as shown, then the open-ended think/answer instruction.

    Profiles' user templates all lay out an option list, so open questions use robustcot's own
    instruction for every model; the profile still contributes its system prompt and think tags.
    """
    return f"{question.strip()}\n{OPEN_INSTRUCTION[answer_type]}"


def open_request(
    key: str, sample: OpenSample, prompt: OpenPrompt, profile: PromptProfile, policy: ImagePolicy = QWEN25_VL
) -> GenerationRequest:
    """The generation request of one open-ended work item (no letters to read)."""
    conversation = Conversation(
        user_text=open_user_text(prompt.question, sample.answer_type),
        images=load_images(sample, policy),
        system=profile.system,
        prefill=prompt.prefill,
    )
    return GenerationRequest(key=key, conversation=conversation, letters=[], answer_marker=profile.answer_marker)
