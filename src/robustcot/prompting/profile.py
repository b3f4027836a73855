"""Model prompt profiles: how a model family expects to be asked and how it answers.

A profile fixes the system prompt, the user template, the think tags used by perturbations, the
answer marker the letter readout looks for, and how answers are parsed. Profiles are data, looked
up by name in a registry, so adding a model family never means another branch in the pipeline.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from robustcot.data.sample import option_letter
from robustcot.prompting.conversation import Conversation

AnswerStyle = Literal["letter", "option_text", "final_answer"]


class PromptProfile(BaseModel):
    """How to prompt one model family."""

    model_config = ConfigDict(frozen=True)

    name: str
    """Registry name, recorded on every row."""
    system: str | None = None
    """System prompt; ``None`` leaves the chat template's default."""
    user_template: str
    """Format string with ``{question}`` (any injected caption already prepended) and ``{options}``."""
    option_format: str = "{letter}. {text}"
    """How one option line is written."""
    answer_style: AnswerStyle = "letter"
    """What the model puts in its answer: a letter, the option text, or ``Final Answer:`` then a letter."""
    think_open: str = "<think>"
    think_close: str = "</think>"
    answer_marker: str = "<answer>"
    """Text after which the answer letter appears; the letter readout looks right after it."""
    description: str = ""
    generation: dict[str, Any] = Field(default_factory=dict)
    """The authors' recommended decoding settings (HF ``generate`` names: ``do_sample``,
    ``temperature``, ``top_p``, ``top_k``, ``repetition_penalty``, ``max_new_tokens``); empty when
    unknown. Informational unless a run opts in to them."""

    def user_text(self, question: str, options: list[str]) -> str:
        lines = "\n".join(self.option_format.format(letter=option_letter(i), text=o) for i, o in enumerate(options))
        return self.user_template.format(question=question.strip(), options=lines)

    def conversation(
        self, question: str, options: list[str], images, *, prefill: str | None = None, sample=None
    ) -> Conversation:
        """The conversation for ``question``/``options`` as shown (``sample`` is the unperturbed source)."""
        return Conversation(
            user_text=self.user_text(question, options), images=list(images), system=self.system, prefill=prefill
        )


DEFAULT = PromptProfile(
    name="default",
    description="Generic <think>/<answer> prompt; answers with the option letter.",
    user_template=(
        "{question}\nOptions:\n{options}\n"
        "Think about the question step by step inside <think> </think> tags, then give only the letter "
        "of the correct option inside <answer> </answer> tags, for example <answer>A</answer>."
    ),
)

_PROFILES: dict[str, PromptProfile] = {}
#: Modules that register the built-in model profiles when imported (on first lookup).
BUILTIN_PROFILE_MODULES: tuple[str, ...] = ("robustcot.prompting.profiles",)
_builtins_loaded = False


def _ensure_builtin_profiles() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_PROFILE_MODULES:
            importlib.import_module(module)


def register_profile(profile: PromptProfile) -> None:
    _PROFILES[profile.name] = profile


def get_profile(name: str) -> PromptProfile:
    _ensure_builtin_profiles()
    try:
        return _PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown prompt profile {name!r}; known: {', '.join(sorted(_PROFILES))}") from None


def list_profiles() -> list[PromptProfile]:
    _ensure_builtin_profiles()
    return [_PROFILES[k] for k in sorted(_PROFILES)]


register_profile(DEFAULT)
