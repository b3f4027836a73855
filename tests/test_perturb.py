"""The variant table: what each variant injects, where, and about which option."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from robustcot.data.sample import Sample
from robustcot.data.synthetic import synthetic_samples
from robustcot.errors import ConfigError, SampleError
from robustcot.perturb import VARIANTS, draw_wrong_index, parse_variants, perturb, statements

STOP = "<think>Okay let's see. This should be the final answer.</think>"


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return synthetic_samples(40, seed=1)


def _plain(sid: str = "plain-1", gold: int = 2) -> Sample:
    return Sample(
        id=sid,
        benchmark="plain",
        question="Which city is the capital\nof France?",
        options=["Berlin", "Madrid", "Paris", "Rome"],
        gold_index=gold,
    )


def _claim(statement: str) -> str:
    return statement.removesuffix(".")


def test_variant_table_is_exactly_the_design() -> None:
    assert VARIANTS == (
        "base",
        "stop_think",
        "wrong_think",
        "wrong_think_but",
        "wrong_caption",
        "wrong_caption_disclaimer",
        "correct_think",
        "correct_caption",
    )


def test_base_changes_nothing(samples: list[Sample]) -> None:
    s = samples[0]
    p = perturb(s, "base")
    assert (p.question, p.options, p.gold_index) == (s.question, s.options, s.gold_index)
    assert p.caption is None and p.prefill is None and p.injected_index is None and p.abstain_index is None


def test_stop_think_prefill_is_exact(samples: list[Sample]) -> None:
    p = perturb(samples[0], "stop_think")
    assert p.prefill == STOP and p.caption is None and p.injected_index is None
    custom = perturb(samples[0], "stop_think", think_open="<reasoning>", think_close="</reasoning>")
    assert custom.prefill == "<reasoning>Okay let's see. This should be the final answer.</reasoning>"


def test_wrong_index_is_never_gold_and_shared_by_all_variants(samples: list[Sample]) -> None:
    for s in samples:
        wrong = draw_wrong_index(s, seed=5)
        assert wrong != s.gold_index and 0 <= wrong < len(s.options)
        for variant in VARIANTS:
            for abstain in (False, True):
                p = perturb(s, variant, abstain=abstain, seed=5)
                assert p.wrong_index == wrong and p.gold_index == s.gold_index
        assert perturb(s, "wrong_think", seed=5).injected_index == wrong


def test_wrong_index_depends_on_seed_and_id_and_covers_all_wrong_options() -> None:
    drawn = {draw_wrong_index(_plain(f"q{i}"), seed=0) for i in range(60)}
    assert drawn == {0, 1, 3}
    sample = _plain("q0")
    assert len({draw_wrong_index(sample, seed=k) for k in range(30)}) == 3


def test_wrong_index_is_stable_across_processes() -> None:
    """``hash()`` is salted per process; the draw must not be."""
    here = [draw_wrong_index(_plain(f"q{i}"), seed=3) for i in range(20)]
    code = (
        "from robustcot.data.sample import Sample; from robustcot.perturb import draw_wrong_index;"
        "opts = ['Berlin', 'Madrid', 'Paris', 'Rome'];"
        "mk = lambda i: Sample(id=f'q{i}', benchmark='b', question='q?', options=opts, gold_index=2);"
        "print([draw_wrong_index(mk(i), seed=3) for i in range(20)])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(here)


def test_wrong_think_injects_the_wrong_statement_without_closing(samples: list[Sample]) -> None:
    for s in samples:
        wrong, gold = draw_wrong_index(s, 0), s.gold_index
        p = perturb(s, "wrong_think")
        assert p.prefill.startswith("<think>") and "</think>" not in p.prefill
        assert _claim(s.option_statements[wrong]) in p.prefill
        assert _claim(s.option_statements[gold]) not in p.prefill
        assert p.caption is None and p.question == s.question
        but = perturb(s, "wrong_think_but")
        assert but.prefill == p.prefill + " but I think"
        assert but.injected_index == p.injected_index == wrong


def test_correct_variants_inject_the_true_statement(samples: list[Sample]) -> None:
    for s in samples:
        true = _claim(s.option_statements[s.gold_index])
        think = perturb(s, "correct_think")
        caption = perturb(s, "correct_caption")
        assert think.injected_index == caption.injected_index == s.gold_index
        assert true in think.prefill and "</think>" not in think.prefill
        assert true in caption.caption and caption.prefill is None


def test_captions_are_prepended_and_the_disclaimer_follows_the_caption(samples: list[Sample]) -> None:
    for s in samples:
        wrong = draw_wrong_index(s, 0)
        p = perturb(s, "wrong_caption")
        assert _claim(s.option_statements[wrong]) in p.caption
        assert _claim(s.option_statements[s.gold_index]) not in p.caption
        assert p.question == p.caption + "\n" + s.question and p.prefill is None
        d = perturb(s, "wrong_caption_disclaimer")
        assert d.caption == p.caption.removesuffix(".") + " but I could be wrong."
        assert d.question.endswith(s.question) and d.injected_index == wrong


def test_think_tags_are_parameters(samples: list[Sample]) -> None:
    p = perturb(samples[0], "wrong_think_but", think_open="<reasoning>", think_close="</reasoning>")
    assert p.prefill.startswith("<reasoning>") and "<think>" not in p.prefill
    assert "</reasoning>" not in p.prefill


def test_abstain_appends_an_option_and_keeps_indices(samples: list[Sample]) -> None:
    s = samples[3]
    for variant in VARIANTS:
        off, on = perturb(s, variant), perturb(s, variant, abstain=True)
        assert on.options == [*s.options, "I'm not sure"] and on.abstain_index == len(s.options)
        assert off.abstain_index is None and off.options == s.options
        assert (on.caption, on.prefill, on.injected_index) == (off.caption, off.prefill, off.injected_index)


def test_abstain_refuses_a_sample_that_already_has_the_option() -> None:
    s = Sample(id="u", benchmark="t", question="q?", options=["yes", "I'M NOT SURE "], gold_index=0)
    with pytest.raises(SampleError, match="already has"):
        perturb(s, "base", abstain=True)


def test_samples_without_statements_get_generic_ones() -> None:
    s = _plain()
    assert statements(s)[2] == 'The answer to the question "Which city is the capital of France?" is "Paris".'
    wrong = draw_wrong_index(s, 0)
    p = perturb(s, "wrong_caption")
    assert f'is "{s.options[wrong]}"' in p.caption and '"Paris"' not in p.caption
    assert 'is "Paris"' in perturb(s, "correct_think").prefill


def test_deterministic(samples: list[Sample]) -> None:
    for variant in VARIANTS:
        assert perturb(samples[5], variant, seed=9) == perturb(samples[5], variant, seed=9)


def test_parse_variants() -> None:
    assert parse_variants("all") == list(VARIANTS)
    assert parse_variants(" base, wrong_think ,base") == ["base", "wrong_think"]
    assert parse_variants(["stop_think"]) == ["stop_think"]
    with pytest.raises(ConfigError, match=r"unknown variant 'wrong_thing'.*wrong_caption_disclaimer"):
        parse_variants("base,wrong_thing")
    with pytest.raises(ConfigError, match="no variants"):
        parse_variants(" , ")


def test_unknown_variant_is_rejected(samples: list[Sample]) -> None:
    with pytest.raises(ConfigError, match=r"unknown variant 'nope'.*stop_think"):
        perturb(samples[0], "nope")
