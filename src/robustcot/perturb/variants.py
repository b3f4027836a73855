"""The prompt variants of the study: what each one injects, where, and about which option.

A variant never changes the sample; it yields a :class:`PerturbedPrompt` (options shown, caption,
assistant prefill, and the indices needed to score it) that the prompting layer renders with the
model's own profile. The wrong option is a pure function of ``(seed, sample.id)``, so every wrong
variant and both abstain settings of a sample inject the same option and rows compare one to one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from robustcot.data.sample import MAX_OPTIONS, Sample
from robustcot.errors import ConfigError, SampleError
from robustcot.perturb import templates as T

Channel = Literal["think", "caption"]
Target = Literal["wrong", "gold"]


@dataclass(frozen=True)
class VariantSpec:
    """One row of the variant table.

    ``stop`` prefills an empty, closed reasoning; otherwise ``channel`` says where the statement of
    the ``target`` option goes, and ``cue`` adds the repair cue for that channel.
    """

    name: str
    stop: bool = False
    channel: Channel | None = None
    target: Target | None = None
    cue: bool = False


_SPECS: tuple[VariantSpec, ...] = (
    VariantSpec("base"),
    VariantSpec("stop_think", stop=True),
    VariantSpec("wrong_think", channel="think", target="wrong"),
    VariantSpec("wrong_think_but", channel="think", target="wrong", cue=True),
    VariantSpec("wrong_caption", channel="caption", target="wrong"),
    VariantSpec("wrong_caption_disclaimer", channel="caption", target="wrong", cue=True),
    VariantSpec("correct_think", channel="think", target="gold"),
    VariantSpec("correct_caption", channel="caption", target="gold"),
)
SPECS: dict[str, VariantSpec] = {s.name: s for s in _SPECS}
VARIANTS: tuple[str, ...] = tuple(SPECS)


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown variant {name!r}; valid variants: {', '.join(VARIANTS)} (or 'all')")


def parse_variants(spec: str | Sequence[str]) -> list[str]:
    """Variant names from ``"all"``, a comma-separated string or a sequence; order kept, duplicates dropped."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [p.strip() for p in parts if p.strip()]
    if not names:
        raise ConfigError(f"no variants given; valid variants: {', '.join(VARIANTS)} (or 'all')")
    if names == ["all"]:
        return list(VARIANTS)
    for name in names:
        if name not in SPECS:
            raise _unknown(name)
    return list(dict.fromkeys(names))


def draw_wrong_index(sample: Sample, seed: int) -> int:
    """The sample's wrong option: uniform over the non-gold options, fixed by ``(seed, sample.id)``.

    A cryptographic hash (not ``hash()``, which is salted per process) makes the draw identical
    across processes, machines and Python versions.
    """
    digest = hashlib.sha256(f"{seed}\x00{sample.id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "big"))
    pick = int(rng.integers(len(sample.options) - 1))
    return pick if pick < sample.gold_index else pick + 1


def statements(sample: Sample) -> list[str]:
    """One declarative sentence per option: the sample's own, or a generic one built from the text."""
    if sample.option_statements is not None:
        return list(sample.option_statements)
    question = " ".join(sample.question.split())
    return [T.GENERIC_STATEMENT.format(question=question, option=" ".join(o.split())) for o in sample.options]


def _claim(statement: str) -> str:
    """The statement without its final full stop, so a cue can continue the sentence."""
    text = statement.strip()
    return text[:-1] if text.endswith(".") else text


@dataclass(frozen=True)
class PerturbedPrompt:
    """A sample as one variant presents it.

    ``question`` is the question as shown (``caption``, a line break, then the original question);
    ``options`` are the options as shown (the abstain option last when ``abstain``). ``injected_index``
    is the option whose statement was injected (``wrong_index`` or ``gold_index``), None when nothing was.
    """

    variant: str
    abstain: bool
    question: str
    options: list[str]
    gold_index: int
    wrong_index: int
    injected_index: int | None
    abstain_index: int | None
    caption: str | None
    prefill: str | None


def _abstain_options(sample: Sample) -> list[str]:
    if len(sample.options) >= MAX_OPTIONS:
        raise SampleError(sample.id, f"has {len(sample.options)} options; no letter is left for abstaining")
    if any(o.strip().casefold() == T.ABSTAIN_OPTION.casefold() for o in sample.options):
        raise SampleError(sample.id, f"already has the option {T.ABSTAIN_OPTION!r}")
    return [*sample.options, T.ABSTAIN_OPTION]


def perturb(
    sample: Sample,
    variant: str,
    *,
    abstain: bool = False,
    seed: int = 0,
    think_open: str = T.DEFAULT_THINK_OPEN,
    think_close: str = T.DEFAULT_THINK_CLOSE,
) -> PerturbedPrompt:
    """Build ``variant`` of ``sample``; ``think_open``/``think_close`` are the model profile's tags."""
    spec = SPECS.get(variant)
    if spec is None:
        raise _unknown(variant)
    wrong = draw_wrong_index(sample, seed)
    injected = {"wrong": wrong, "gold": sample.gold_index, None: None}[spec.target]
    caption = prefill = None
    if spec.stop:
        prefill = think_open + T.STOP_THINK + think_close
    elif injected is not None:
        claim = _claim(statements(sample)[injected])
        if spec.channel == "think":
            prefill = think_open + T.THINK.format(claim=claim) + (T.THINK_REPAIR_CUE if spec.cue else "")
        else:
            caption = T.CAPTION.format(claim=claim, disclaimer=T.CAPTION_DISCLAIMER if spec.cue else "")
    return PerturbedPrompt(
        variant=variant,
        abstain=abstain,
        question=sample.question if caption is None else caption + T.CAPTION_SEPARATOR + sample.question,
        options=_abstain_options(sample) if abstain else list(sample.options),
        gold_index=sample.gold_index,
        wrong_index=wrong,
        injected_index=injected,
        abstain_index=len(sample.options) if abstain else None,
        caption=caption,
        prefill=prefill,
    )
