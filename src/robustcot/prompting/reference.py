"""Reference prompt mode: the exact user text lmms-eval or VLMEvalKit would send for a sample.

Why: a model's accuracy under *our* prompt profiles is only comparable with published numbers if
we can also ask it the way the harness behind those numbers did. :func:`render_reference`
reproduces each harness's template per benchmark, character for character, quirks included —
e.g. lmms-eval's V* parser swallowing a trailing instruction into the last option, or CV-Bench's
``Note: ...`` pre-prompt — as documented in ``/work/shared/reference/benchmarks.md`` (read from
lmms-eval @75571cf and VLMEvalKit @e8e78f0).

The text is the user turn only; images come first in the turn, as both harnesses place them.
Benchmarks a harness does not implement (WhatsUp and Spatial-MM exist in neither) raise
:class:`~robustcot.errors.ConfigError` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from robustcot.data.sample import option_letter
from robustcot.errors import ConfigError
from robustcot.prompting.conversation import Conversation
from robustcot.prompting.profile import PromptProfile

Harness = Literal["lmms_eval", "vlmevalkit"]

LETTER_DIRECTLY = "Answer with the option's letter from the given choices directly."
SELECT_FROM_ABOVE = "Please select the correct answer from the options above. \n"
MME_INSTRUCTION = (
    "Select the best answer to the above multiple-choice question based on the image. "
    "Respond with only the letter (A, B, C, D, or E) of the correct option."
)
SAT_CAMERA_NOTE = (
    "When multiple images are provided, You want to realize that when camera moves left, the objects in the "
    "image move right, and vice versa. And when you are asked about the movement of the same object captured "
    "in different images, you can compare the position of the object relative to other objects in the image "
    "to answer the question.\n"
)


def _meta(sample: Any, key: str, default: Any = None) -> Any:
    value = sample.metadata.get(key)
    return default if value is None else value


def _lettered(sample: Any, fmt: str) -> list[str]:
    return [fmt.format(letter=option_letter(i), text=o) for i, o in enumerate(sample.options)]


# ------------------------------------------------------------------------------------------ lmms-eval


def _lmms_cvbench(sample: Any) -> str:
    """``cv_bench/utils.py``: letters pre-prompt, blank line, the dataset's own ``prompt``."""
    letters = ", ".join(option_letter(i) for i in range(len(sample.options)))
    pre = f"Note: You only need to respond with {letters} without providing any additional information.\n"
    return pre + "\n" + _cvbench_prompt(sample)


def _cvbench_prompt(sample: Any) -> str:
    """CV-Bench's ``prompt`` field, rebuilt in its published form when a layout lacks it."""
    prompt = _meta(sample, "prompt")
    if prompt is not None:
        return prompt
    lines = "\n".join(_lettered(sample, "({letter}) {text}"))
    return f"{sample.question} Select from the following choices.\n{lines}"


def _lmms_3dsr(sample: Any) -> str:
    """``3dsrbench/utils.py`` doc_to_text with the default post-prompt."""
    options = "".join(f"{line}\n" for line in _lettered(sample, "{letter}. {text}"))
    return f"Question: {sample.question}\nOptions:\n{options}{SELECT_FROM_ABOVE}"


_VSTAR_OPTION = re.compile(r"\([A-D]\)\s*([^()]+?)(?=\s*\([A-D]\)|$)")


def _lmms_vstar(sample: Any) -> str:
    """``vstar_doc_to_text``: options re-parsed from the raw ``text`` with lmms-eval's own regex."""
    raw = _meta(sample, "text")
    if raw is not None:
        stem = raw.split("(A)")[0].strip()
        options = [o.strip() for o in _VSTAR_OPTION.findall(raw)]
    else:
        stem, options = sample.question, list(sample.options)
    lines = "\n".join(f"{option_letter(i)}. {o}" for i, o in enumerate(options))
    return f"{stem}\n{lines}\n{LETTER_DIRECTLY}"


def _lmms_mme(sample: Any) -> str:
    """``mme_realworld_doc_to_text`` (hard-coded; the yaml post-prompt is ignored). Trailing space kept."""
    choices = "\n".join(_lettered(sample, "({letter}) {text}"))
    return (
        f"{sample.question} The choices are listed below:\n{choices}\n"
        f"{MME_INSTRUCTION}\nThe best answer is: "
    )


def _lmms_mmbench(sample: Any) -> str:
    """``mmbench_doc_to_text`` + ``create_options_prompt``: hint and question joined by a space."""
    options = "There are several options:\n" + "".join(f"{line}\n" for line in _lettered(sample, "{letter}. {text}"))
    options = options.rstrip("\n")
    question = _meta(sample, "raw_question", sample.question)
    hint = _meta(sample, "hint")
    query = f"{hint} {question} {options}" if hint else f"{question} {options}"
    return f"{query}\n\n{LETTER_DIRECTLY}"


def _lmms_sat(sample: Any) -> str:
    """``sat_doc_to_text`` (hard-coded; the yaml post-prompt is ignored)."""
    options = "".join(f"{line}\n" for line in _lettered(sample, "{letter}. {text}"))
    return (
        sample.question.strip() + "\n" + SAT_CAMERA_NOTE + "\n" + options + "\n"
        + "Only output the letter of the correct option and nothing else."
    )


def _lmms_geometry3k(sample: Any) -> str:
    """``geometry3k`` doc_to_text with the default (direct-answer) post-prompt."""
    lines = "\n".join(_lettered(sample, "{letter}. {text}"))
    return f"{sample.question}\n{lines}\n{LETTER_DIRECTLY}"


def _lmms_pixmo(sample: Any) -> str:
    """``pixmo_count`` doc_to_text (open-ended)."""
    return sample.question.replace("<image>", "").strip() + "\nAnswer with a single number."


# ----------------------------------------------------------------------------------------- VLMEvalKit


def _vlmeval_mcq(sample: Any) -> str:
    """``ImageMCQDataset.build_prompt``: optional ``Hint:``, ``Question:``, ``Options:``, instruction."""
    prompt = ""
    hint = _meta(sample, "hint")
    if hint is not None:
        prompt += f"Hint: {hint}\n"
    prompt += f"Question: {_meta(sample, 'raw_question', sample.question)}\n"
    prompt += "Options:\n" + "".join(f"{line}\n" for line in _lettered(sample, "{letter}. {text}"))
    return prompt + SELECT_FROM_ABOVE


def _vlmeval_cvbench(sample: Any) -> str:
    """``CVBench.build_prompt``: the ``prompt`` column verbatim, no post-prompt."""
    return _cvbench_prompt(sample)


def _vlmeval_mme(sample: Any) -> str:
    """``MMERealWorld.build_prompt``: note the space before the newline in its instruction."""
    choices = "\n".join(_lettered(sample, "({letter}) {text}"))
    return f"{sample.question} The choices are listed below:\n{choices}\n{MME_INSTRUCTION} \nThe best answer is:"


RENDERERS: dict[tuple[str, str], Callable[[Any], str]] = {
    ("lmms_eval", "cvbench"): _lmms_cvbench,
    ("lmms_eval", "3dsrbench"): _lmms_3dsr,
    ("lmms_eval", "vstar"): _lmms_vstar,
    ("lmms_eval", "mme_realworld_lite"): _lmms_mme,
    ("lmms_eval", "mmbench"): _lmms_mmbench,
    ("lmms_eval", "sat"): _lmms_sat,
    ("lmms_eval", "geometry3k"): _lmms_geometry3k,
    ("lmms_eval", "pixmo_count"): _lmms_pixmo,
    ("vlmevalkit", "cvbench"): _vlmeval_cvbench,
    ("vlmevalkit", "3dsrbench"): _vlmeval_mcq,
    ("vlmevalkit", "vstar"): _vlmeval_mcq,
    ("vlmevalkit", "mme_realworld_lite"): _vlmeval_mme,
    ("vlmevalkit", "mmbench"): _vlmeval_mcq,
}


def supported(harness: Harness) -> list[str]:
    """Benchmarks with a reference template for ``harness``."""
    return sorted(b for h, b in RENDERERS if h == harness)


def render_reference(sample: Any, harness: Harness) -> str:
    """The user text ``harness`` would build for ``sample`` (images are sent first, separately)."""
    renderer = RENDERERS.get((harness, sample.benchmark))
    if renderer is None:
        if harness not in {h for h, _ in RENDERERS}:
            raise ConfigError(f"unknown harness {harness!r}; known: lmms_eval, vlmevalkit")
        raise ConfigError(
            f"{harness} has no task for benchmark {sample.benchmark!r}; reference prompts exist for "
            f"{', '.join(supported(harness))}"
        )
    return renderer(sample)


class ReferenceProfile(PromptProfile):
    """Asks exactly as ``harness`` does; perturbations still apply to the question, options and prefill.

    The harness prompts ask for the letter directly, so there is no answer tag: the answer marker
    is empty and the letter is read at the first generated token.
    """

    harness: Harness

    def conversation(
        self, question: str, options: list[str], images, *, prefill: str | None = None, sample=None
    ) -> Conversation:
        if sample is None:
            raise ValueError("reference prompts need the source sample (hint, category, benchmark)")
        if not question.endswith(sample.question):
            raise ValueError(f"sample {sample.id!r}: the shown question does not end with the sample's question")
        # Harness templates read dataset fields (raw question, hint, CV-Bench's prompt column), so the
        # sample is rendered as published and an injected caption goes before the whole user text.
        caption = question[: len(question) - len(sample.question)]
        shown = sample.model_copy(update={"options": list(options)})
        text = caption + render_reference(shown, self.harness)
        return Conversation(user_text=text, images=list(images), prefill=prefill)


def reference_profile(harness: Harness, base: PromptProfile) -> ReferenceProfile:
    """The reference-mode profile for ``harness``; think tags follow ``base`` for the think variants."""
    if harness not in {h for h, _ in RENDERERS}:
        raise ConfigError(f"unknown harness {harness!r}; known: lmms_eval, vlmevalkit")
    return ReferenceProfile(
        name=f"reference-{harness}",
        description=f"the user text {harness} sends, character for character",
        user_template="{question}",
        answer_style="letter",
        answer_marker="",
        think_open=base.think_open,
        think_close=base.think_close,
        harness=harness,
    )
