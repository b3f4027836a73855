"""Open-ended benchmarks: variants with drawn wrong answers, free-text scoring, the open rule judge, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.formats import jpeg, write_file, write_json
from robustcot.config import EvalConfig
from robustcot.data.adapters.open_ended import NO_LETTERS_NOTE, OpenSample
from robustcot.errors import SampleError
from robustcot.evaluate import plan, run_eval
from robustcot.models.base import Completion
from robustcot.models.hf import HFConfig
from robustcot.open_eval import open_request, open_user_text
from robustcot.perturb.open_variants import draw_wrong_answers, open_prompter, perturb_open
from robustcot.perturb.templates import OPEN_INSTRUCTION
from robustcot.perturb.variants import VARIANTS
from robustcot.prompting.profile import DEFAULT
from robustcot.prompting.profiles import VISION_R1
from robustcot.records import COLUMNS
from robustcot.scoring.open_row import judge_open, open_answer, open_scored_row, stated_answer


def _open(sid: str, answer: str, *, answer_type: str = "text", aliases: tuple[str, ...] = ()) -> OpenSample:
    return OpenSample(id=sid, benchmark="open_test", question=f"Question {sid}?", answer=answer,
                      answer_type=answer_type, aliases=list(aliases))  # fmt: skip


# --------------------------------------------------------------------------------- wrong answers


def test_wrong_answer_is_another_samples_answer_distinct_after_normalisation() -> None:
    samples = [_open("a", "Left"), _open("b", "left."), _open("c", "the left"), _open("d", "Pink"),
               _open("e", "right", aliases=("pink",))]  # fmt: skip
    for seed in range(20):
        wrong = draw_wrong_answers(samples, seed)
        # "Left", "left." and "the left" normalise alike: each draws Pink or right, never a left
        assert all(wrong[s] in {"Pink", "right"} for s in "abc")
        assert wrong["d"] in {"Left", "left.", "the left", "right"}
        assert wrong["e"] in {"Left", "left.", "the left"}  # its alias "pink" is its own answer
    assert draw_wrong_answers(samples, 3) == draw_wrong_answers(list(reversed(samples)), 3)  # load order is irrelevant
    assert len({draw_wrong_answers(samples, s)["a"] for s in range(20)}) == 2  # the seed decides


def test_counts_compare_as_integers() -> None:
    samples = [_open("a", "3", answer_type="integer"), _open("b", "three", answer_type="integer"),
               _open("c", "7", answer_type="integer")]  # fmt: skip
    wrong = draw_wrong_answers(samples, 0)
    assert wrong["a"] == wrong["b"] == "7" and wrong["c"] in {"3", "three"}


def test_variants_assert_gold_or_the_shared_wrong_answer() -> None:
    samples = [_open("a", "left"), _open("b", "pink")]
    make = open_prompter(samples, seed=0)
    prompts = {v: make(samples[0], v) for v in VARIANTS}
    assert prompts["base"].prefill is None and prompts["base"].question == "Question a?"
    assert prompts["stop_think"].prefill == "<think>Okay let's see. This should be the final answer.</think>"
    assert {prompts[v].injected_answer for v in VARIANTS if v.startswith("wrong")} == {"pink"}
    assert prompts["correct_think"].injected_answer == "left"
    assert prompts["wrong_think_but"].prefill == (
        '<think>Let me look at the image carefully. The answer to the question "Question a?" is "pink" but I think'
    )
    assert prompts["wrong_caption_disclaimer"].question == (
        'Image caption: The answer to the question "Question a?" is "pink" but I could be wrong.\nQuestion a?'
    )
    assert prompts["correct_caption"].caption == 'Image caption: The answer to the question "Question a?" is "left".'
    with pytest.raises(SampleError, match="abstain"):
        make(samples[0], "base", abstain=True)
    with pytest.raises(SampleError, match="no wrong answer"):
        perturb_open(samples[0], "wrong_think", wrong_answer=None)
    assert perturb_open(samples[0], "correct_think", wrong_answer=None).injected_answer == "left"


def test_request_asks_for_free_text_and_reads_no_letters() -> None:
    sample = OpenSample(id="c", benchmark="open_test", question="How many dogs?", answer="2", answer_type="integer",
                        images=[jpeg()])  # fmt: skip
    prompt = perturb_open(sample, "correct_caption", wrong_answer="5")
    request = open_request("c|correct_caption|0", sample, prompt, DEFAULT)
    assert request.letters == [] and len(request.conversation.images) == 1
    assert request.conversation.user_text == open_user_text(prompt.question, "integer")
    assert request.conversation.user_text.endswith(OPEN_INSTRUCTION["integer"]) and "Options" not in request.conversation.user_text


# ----------------------------------------------------------------------------------- scoring, judge


def test_answer_marker_is_stripped_from_the_container() -> None:
    assert open_answer(" Final Answer: left ") == "left"
    assert open_answer("The answer is: Left.") == "Left."
    assert open_answer("answer") == "answer"  # a bare word is content, not a marker
    assert open_answer("  ") is None and open_answer(None) is None


@pytest.mark.parametrize(
    ("think", "answer", "label"),
    [
        ("The monkey looks away. So the answer is left.", "Left", "consistent"),
        ("The answer is left. Wait, no: the final answer: right.", "left", "inconsistent"),
        ('Let me look. The answer to the question "Which way?" is "pink"', "pink", "consistent"),
        ('Let me look. The answer to the question "Which way?" is "pink" but I think it faces left.', "left", "unjudged"),
        ("The answer is probably left.", "left", "unjudged"),  # one contains the other: cannot tell
        ("It faces left.", "left", "unjudged"),  # no explicit statement
        ("The answer is left.", None, "unjudged"),  # no answer to compare with
    ],
)
def test_open_rule_judge(think: str, answer: str | None, label: str) -> None:
    assert judge_open(think, answer, _open("s", "left")) == label


def test_open_rule_judge_on_counts() -> None:
    sample = _open("n", "4", answer_type="integer")
    assert judge_open("I count them: the answer is four.", "4", sample) == "consistent"
    assert judge_open("So the answer is 3.", "4 dogs", sample) == "inconsistent"
    assert stated_answer("the answer is, but wait") is None


def _row(sample: OpenSample, text: str, variant: str = "base", profile=DEFAULT) -> dict:
    prompt = perturb_open(sample, variant, wrong_answer="right")
    return open_scored_row(sample, prompt, profile, Completion(text=text, prompt="P"), {"model": "m", "task": "open"})


def test_scored_row_fills_answer_columns_and_leaves_letter_columns_null() -> None:
    sample = _open("s", "left")
    row = _row(sample, "<think>It faces away. The answer is left.</think><answer>Left.</answer>")
    assert (row["status"], row["correct"], row["judge_rule"], row["quadrant"]) == ("ok", True, "consistent",
                                                                                   "consistent_correct")
    assert row["answer_text"] == "Left." and row["gold_answer"] == "left" and row["options"] == []
    assert row["uncertainty_note"] == NO_LETTERS_NOTE
    assert set(row) <= set(COLUMNS)
    assert all(row.get(c) is None for c in ("answer_index", "gold_index", "n_options", "letter_probs", "entropy"))

    # the injected statement is the think's last word on the answer, and the answer follows it
    wrong = _row(sample, "<think>Hmm.</think><answer>right</answer>", "wrong_think")
    assert wrong["correct"] is False and wrong["injected_answer"] == "right"
    assert (wrong["judge_rule"], wrong["quadrant"]) == ("consistent", "consistent_incorrect")
    assert wrong["think"].startswith("Let me look at the image carefully.")
    assert _row(sample, "<think>Hmm.</think><answer> </answer>")["status"] == "unparseable"
    assert _row(sample, "<think>It is left")["status"] == "unclosed_think"
    vision_r1 = _row(sample, "<think>x</think> Final Answer: left", profile=VISION_R1)
    assert vision_r1["correct"] is True and vision_r1["status"] == "ok"


def test_count_row_reads_the_first_integer() -> None:
    sample = _open("n", "4", answer_type="integer")
    assert _row(sample, "<think>x</think><answer>four dogs</answer>")["correct"] is True
    row = _row(sample, "<think>x</think><answer>many</answer>")
    assert row["correct"] is None and row["status"] == "unparseable"


def test_a_shard_draws_wrong_answers_from_the_whole_load() -> None:
    samples = [_open(f"s{i}", a) for i, a in enumerate(["left", "right", "pink", "yes", "no", "up"])]
    config = EvalConfig(benchmark="spatial_mm_multihop", variants=["wrong_think"], seed=0)
    whole = {i.sample.id: i.prompt.wrong_answer for i in plan(samples, config, DEFAULT)[0]}
    shard = samples[:2]
    part = {i.sample.id: i.prompt.wrong_answer for i in plan(shard, config, DEFAULT, pool=samples)[0]}
    assert part == {"s0": whole["s0"], "s1": whole["s1"]}
    assert whole["s0"] != "right"  # drawn outside the shard: a shard-only pool could not give it


# ------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_multihop_runs_end_to_end_on_the_tiny_model(tmp_path: Path, tiny_backend) -> None:
    rows = [{"image_name": "m.jpeg", "question": q, "answer": a, "reasoning": "", "hop": h}
            for q, a, h in (("Which direction is the monkey facing?", "left", 2), ("What color is it?", "pink", 3),
                            ("Is the cup on the table?", "yes", 2))]  # fmt: skip
    write_json(tmp_path / "data" / "data" / "multihop_reasoning_309.json", rows)
    write_file(tmp_path / "data" / "images" / "m.jpeg", jpeg())
    config = EvalConfig(benchmark="spatial_mm_multihop", data_dir=tmp_path / "data", limit=3, variants=["all"],
                        abstain=True, out=tmp_path / "run", hf=HFConfig(max_new_tokens=12))  # fmt: skip
    result = run_eval(config, backend=tiny_backend, show_progress=False)
    df = result.records
    assert len(df) == 3 * len(VARIANTS) * 2 and (df["task"] == "open").all()
    on = df[df["abstain"]]
    assert (on["status"] == "error").all() and on["error"].str.contains("abstain").all()
    off = df[~df["abstain"]]
    assert (off["status"] != "error").all()
    assert off["answer_index"].isna().all() and off["gold_index"].isna().all() and off["letter_probs"].isna().all()
    assert (off["uncertainty_note"] == NO_LETTERS_NOTE).all()
    assert (off.groupby("sample_id")["wrong_answer"].nunique() == 1).all()
    assert (off["wrong_answer"] != off["gold_answer"]).all()
    wrong = off[off["variant"].str.startswith("wrong")]
    assert (wrong["injected_answer"] == wrong["wrong_answer"]).all()
    assert all(a in p for a, p in zip(wrong["wrong_answer"], wrong["prompt"], strict=True))
    assert off["prompt"].str.contains(OPEN_INSTRUCTION["text"], regex=False).all()
    assert not off["prompt"].str.contains("Options:").any()
    metrics = result.metrics.set_index(["variant", "abstain"])
    assert (metrics.loc[(slice(None), False), "n_scored"] == 3).all()
    assert (metrics["auroc_note"] == NO_LETTERS_NOTE).all() and metrics["mean_entropy"].isna().all()
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "Open-ended (spatial_mm_multihop)" in summary and "### Accuracy per category" in summary
    assert "| spatial_mm_multihop | hop_3 | no |" in summary

    again = run_eval(config, backend=tiny_backend, show_progress=False)  # resume: abstain errors are retried, not new
    assert again.generated == 0 and again.records.shape == df.shape
