"""Augmentation: seeded injection draws, texts identical to the evaluation's perturbations."""

from __future__ import annotations

from collections import Counter

import pytest

from robustcot.data.adapters.open_ended import OpenSample
from robustcot.data.synthetic import synthetic_samples
from robustcot.errors import ConfigError, SampleError
from robustcot.perturb.variants import perturb
from robustcot.prompting.profile import DEFAULT
from robustcot.train.augment import INJECTIONS, AugmentConfig, build_prompt


def _count_sample(answer: str = "3", sid: str = "pixmo-0") -> OpenSample:
    return OpenSample(
        id=sid, benchmark="pixmo_count", question="How many cups are there in the image?", answer=answer,
        answer_type="integer", images=[b"\x89PNG"],
    )  # fmt: skip


def test_draw_frequencies_and_determinism():
    config = AugmentConfig(seed=7)
    ids = [f"s{i}" for i in range(8000)]
    draws = [config.draw(i) for i in ids]
    counts = Counter(draws)
    for kind in INJECTIONS:
        assert abs(counts[kind] / len(ids) - 0.1) < 0.015
    assert abs(counts[None] / len(ids) - 0.6) < 0.02
    assert draws == [AugmentConfig(seed=7).draw(i) for i in ids]
    assert draws != [AugmentConfig(seed=8).draw(i) for i in ids]
    only = AugmentConfig({"wrong_think": 1.0})
    assert {only.draw(i) for i in ids[:50]} == {"wrong_think"}


@pytest.mark.parametrize(
    "probabilities", [{"wrong_think": 1.5}, {"nonsense": 0.1}, dict.fromkeys(INJECTIONS, 0.3)]
)
def test_invalid_probabilities(probabilities):
    with pytest.raises(ConfigError):
        AugmentConfig(probabilities)


@pytest.mark.parametrize("kind", INJECTIONS)
def test_option_questions_reuse_the_evaluation_texts(kind):
    sample = synthetic_samples(3, seed=2)[1]
    prompt = build_prompt(sample, augment=AugmentConfig({kind: 1.0}, seed=5))
    expected = perturb(sample, kind, seed=5)
    assert prompt.injection.kind == kind
    assert prompt.prefill == (expected.prefill or "")
    assert prompt.user_text == DEFAULT.user_text(expected.question, expected.options)
    asserted = ord(prompt.injection.asserted) - ord("A")
    assert (asserted == sample.gold_index) == kind.startswith("correct")
    if kind.endswith("caption"):
        assert prompt.injection.caption in prompt.user_text and not prompt.prefill
    else:
        assert prompt.prefill.startswith("<think>") and "</think>" not in prompt.prefill
    assert prompt.target.gold == sample.gold_letter and prompt.question == sample.question


def test_clean_prompt_without_augmentation():
    sample = synthetic_samples(1)[0]
    prompt = build_prompt(sample)
    assert prompt.injection.kind is None and prompt.prefill == ""
    assert prompt.user_text == DEFAULT.user_text(sample.question, sample.options)


@pytest.mark.parametrize("kind", INJECTIONS)
def test_counting_questions(kind):
    values = set()
    for i in range(30):
        prompt = build_prompt(_count_sample("1", f"c{i}"), augment=AugmentConfig({kind: 1.0}, seed=1))
        value = int(prompt.injection.asserted)
        values.add(value)
        assert (value == 1) == kind.startswith("correct")
        assert value >= 0
        text = prompt.prefill if kind.endswith("think") else prompt.user_text
        assert f'is "{value}"' in text
    assert prompt.target.answer_type == "integer" and prompt.target.gold == "1"
    assert "<answer>3</answer>" in prompt.user_text  # the counting instruction, not the option one
    if kind.startswith("wrong"):
        assert values <= {0, 2, 3} and len(values) > 1  # moved by 1 or 2, never below zero


def test_open_text_questions_are_rejected():
    sample = OpenSample(id="t", benchmark="x", question="What is it?", answer="a cat", answer_type="text")
    with pytest.raises(SampleError):
        build_prompt(sample)
