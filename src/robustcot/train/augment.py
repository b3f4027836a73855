"""Training prompts with the study's augmentation: injected captions and injected thinks.

Each training prompt independently receives at most one injection, drawn with fixed probabilities
(default 0.1 each): ``correct_caption``, ``wrong_caption``, ``correct_think``, ``wrong_think``;
otherwise (0.6 by default) it stays clean. The draw and the wrong option are pure functions of
``(seed, sample id)``, so an export is reproducible and every rollout of a prompt (a GRPO group)
sees the same injection.

The injected text is exactly the evaluation's (:func:`robustcot.perturb.variants.perturb`; the
variant names coincide), so training and evaluation perturbations never drift apart. Captions go
into the user text; thinks become an assistant prefill that the policy continues. Counting
questions have no options: their wrong value is the count moved by 1 or 2 (never below 0) and the
statement is the generic one from :mod:`robustcot.perturb.templates`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from robustcot.data.adapters.open_ended import OpenSample, parse_integer
from robustcot.data.sample import ImageInput, Sample, option_letter
from robustcot.errors import ConfigError, SampleError
from robustcot.perturb import templates as T
from robustcot.perturb.variants import perturb
from robustcot.prompting.profile import DEFAULT, PromptProfile
from robustcot.train.answers import Target

INJECTIONS: tuple[str, ...] = ("correct_caption", "wrong_caption", "correct_think", "wrong_think")
DEFAULT_PROBABILITY = 0.1

#: User text of counting questions (the option profile's template needs options).
OPEN_USER_TEMPLATE = (
    "{question}\n"
    "Think about the question step by step inside <think> </think> tags, then give only the final number "
    "inside <answer> </answer> tags, for example <answer>3</answer>."
)


def _uniform(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``; sha256, not ``hash()``, so it is stable across processes."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class AugmentConfig:
    """Injection probabilities (missing kinds: 0) and the seed of the draws."""

    probabilities: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(INJECTIONS, DEFAULT_PROBABILITY)
    )
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.probabilities) - set(INJECTIONS))
        if unknown:
            raise ConfigError(f"unknown injections {unknown}; known: {', '.join(INJECTIONS)}")
        if any(not 0.0 <= p <= 1.0 for p in self.probabilities.values()):
            raise ConfigError(f"injection probabilities must lie in [0, 1], got {dict(self.probabilities)}")
        if sum(self.probabilities.values()) > 1.0 + 1e-9:
            raise ConfigError(f"injection probabilities sum to more than 1: {dict(self.probabilities)}")

    def draw(self, sample_id: str) -> str | None:
        """The injection of ``sample_id`` (None: clean), by one uniform draw over the cumulative probabilities."""
        u = _uniform("augment", self.seed, sample_id)
        cumulative = 0.0
        for kind in INJECTIONS:
            cumulative += self.probabilities.get(kind, 0.0)
            if u < cumulative:
                return kind
        return None


@dataclass(frozen=True)
class Injection:
    """What was injected into one prompt; ``kind`` None means a clean prompt."""

    kind: str | None = None
    caption: str | None = None
    prefill: str | None = None
    asserted: str | None = None
    """The answer the injected text asserts: an option letter, or a count."""


@dataclass(frozen=True)
class TrainPrompt:
    """One training prompt, independent of the trainer that will consume it."""

    sample_id: str
    benchmark: str
    images: list[ImageInput]
    question: str
    """The original question (without any caption)."""
    user_text: str
    """The user turn as shown: caption (if any), question, options, format instruction."""
    injection: Injection
    target: Target

    @property
    def prefill(self) -> str:
        return self.injection.prefill or ""


def _wrong_count(sample: OpenSample, gold: int, seed: int) -> int:
    step = 1 if _uniform("count", seed, sample.id) < 0.5 else 2
    return gold + step if _uniform("sign", seed, sample.id) < 0.5 or gold - step < 0 else gold - step


def _open_injection(sample: OpenSample, kind: str, seed: int, profile: PromptProfile) -> Injection:
    gold = parse_integer(sample.answer)
    assert gold is not None  # OpenSample validates integer answers
    value = gold if kind.startswith("correct") else _wrong_count(sample, gold, seed)
    claim = T.GENERIC_STATEMENT.format(question=" ".join(sample.question.split()), option=value).rstrip(".")
    if kind.endswith("caption"):
        return Injection(kind, caption=T.CAPTION.format(claim=claim, disclaimer=""), asserted=str(value))
    return Injection(kind, prefill=profile.think_open + T.THINK.format(claim=claim), asserted=str(value))


def build_prompt(
    sample: Sample | OpenSample,
    *,
    augment: AugmentConfig | None = None,
    math: bool = False,
    profile: PromptProfile = DEFAULT,
) -> TrainPrompt:
    """The training prompt for ``sample``, injected according to ``augment`` (None: never injected).

    ``math`` marks option questions whose answers may be written as values (Geometry3K).
    """
    kind = augment.draw(sample.id) if augment is not None else None
    seed = augment.seed if augment is not None else 0
    if isinstance(sample, Sample):
        variant = kind or "base"
        pp = perturb(
            sample, variant, seed=seed, think_open=profile.think_open, think_close=profile.think_close
        )
        asserted = None if pp.injected_index is None else option_letter(pp.injected_index)
        injection = Injection(kind, pp.caption, pp.prefill, asserted) if kind else Injection()
        target = Target("mcq", sample.gold_letter, tuple(sample.options), math=math)
        return TrainPrompt(
            sample.id, sample.benchmark, list(sample.images), sample.question,
            profile.user_text(pp.question, pp.options), injection, target,
        )  # fmt: skip
    if sample.answer_type != "integer":
        raise SampleError(
            sample.id, "is an open text question; training supports option and counting questions"
        )
    injection = _open_injection(sample, kind, seed, profile) if kind else Injection()
    question = (
        sample.question
        if injection.caption is None
        else injection.caption + T.CAPTION_SEPARATOR + sample.question
    )
    target = Target("integer", str(parse_integer(sample.answer)))
    return TrainPrompt(
        sample.id, sample.benchmark, list(sample.images), sample.question,
        OPEN_USER_TEMPLATE.format(question=question.strip()), injection, target,
    )  # fmt: skip
