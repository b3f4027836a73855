"""Model prompt profiles, their automatic choice from a model spec, and the reference prompt mode."""

from __future__ import annotations

import pytest

from robustcot.data.adapters.open_ended import OpenSample
from robustcot.data.sample import Sample
from robustcot.errors import ConfigError
from robustcot.prompting import profiles
from robustcot.prompting.profile import get_profile, list_profiles
from robustcot.prompting.profiles import profile_for_model, profile_name_for_model, register_model_pattern
from robustcot.prompting.reference import render_reference, supported


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hf:Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"),
        ("vllm:Osilly/Vision-R1-7B", "vision-r1"),
        ("hf:Video-R1/Video-R1-7B", "video-r1"),
        ("hf:UCSC-VLAA/VLAA-Thinker-Qwen2.5VL-7B", "vlaa-thinker"),
        ("hf:gsarch/ViGoRL-7b-Spatial", "vigorl-spatial"),
        ("hf:RUBBISHLIKE/SpaceR", "spacer"),
        ("openai:o4-mini", "closed-api"),
        ("openai:gemini-2.5-pro", "closed-api"),
        ("openai:Osilly/Vision-R1-7B", "vision-r1"),  # a local vLLM server behind the OpenAI API
        ("hf:someone/VLM-R1-Qwen2.5VL-7B", "r1"),
        ("tiny", "default"),
        ("hf:/ckpt/global_step_250/actor/huggingface", "default"),
        ("hf:someone/spacer-gpu-bench", "spacer"),
        ("hf:someone/aerospacer", "default"),  # 'spacer' only as a whole name part
    ],
)
def test_profile_is_chosen_from_the_model_spec(spec: str, expected: str) -> None:
    assert profile_name_for_model(spec) == expected
    assert profile_for_model(spec).name == expected


def test_override_and_custom_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    assert profile_for_model("hf:Osilly/Vision-R1-7B", override="r1").name == "r1"
    assert profile_for_model("hf:Osilly/Vision-R1-7B", override="auto").name == "vision-r1"
    with pytest.raises(KeyError):
        profile_for_model("tiny", override="nope")
    monkeypatch.setattr(profiles, "MODEL_PATTERNS", list(profiles.MODEL_PATTERNS))
    register_model_pattern(r"my-org/vision-r1-ft", "r1")
    assert profile_name_for_model("hf:my-org/Vision-R1-ft-step250") == "r1"  # custom rule wins
    with pytest.raises(KeyError):
        register_model_pattern("x", "no-such-profile")


def test_a_local_checkpoint_that_names_its_profile_gets_it(tmp_path) -> None:
    """Training writes the profile into each checkpoint; evaluating it picks that profile up, an
    explicit override still wins, and a broken record is an error naming the file."""
    from robustcot.prompting.profiles import CHECKPOINT_PROFILE_FILE, write_checkpoint_profile

    checkpoint = tmp_path / "vision-r1-sft" / "checkpoint-50"
    checkpoint.mkdir(parents=True)
    assert profile_name_for_model(f"hf:{checkpoint}") == "vision-r1"  # the path's name, without a record
    write_checkpoint_profile(checkpoint, "organism")
    assert profile_name_for_model(f"hf:{checkpoint}") == "organism"
    assert profile_name_for_model(f"vllm:{checkpoint}") == "organism"
    assert profile_for_model(f"hf:{checkpoint}", override="r1").name == "r1"
    (checkpoint / CHECKPOINT_PROFILE_FILE).write_text('{"profile": "organism"}')
    with pytest.raises(ConfigError, match=CHECKPOINT_PROFILE_FILE):
        profile_name_for_model(f"hf:{checkpoint}")
    write_checkpoint_profile(checkpoint, "no-such-profile")
    with pytest.raises(KeyError, match="no-such-profile"):
        profile_for_model(f"hf:{checkpoint}")
    assert profile_name_for_model("hf:someone/remote-model") == "default"  # nothing local to read


def test_organism_profile_asks_the_question_and_nothing_else() -> None:
    organism = get_profile("organism")
    assert organism.user_text("Where is the cup?", ["left", "right"]) == "Where is the cup?\nOptions:\nA. left\nB. right"
    assert organism.system is None and organism.answer_marker == "<answer>"


def test_every_profile_is_registered_with_authors_formats() -> None:
    names = {p.name for p in list_profiles()}
    assert {"qwen2.5-vl", "vision-r1", "video-r1", "vlaa-thinker", "vigorl-spatial", "spacer", "r1", "closed-api"} <= names
    opts = ["left", "right"]
    vision = get_profile("vision-r1")
    assert vision.user_text("Where is the cup?", opts) == "Where is the cup?\nChoices:\nA: left\nB: right"
    assert (vision.answer_style, vision.answer_marker) == ("final_answer", "Final Answer:")
    assert vision.generation == {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 4096}
    video = get_profile("video-r1").user_text("Where?", opts)
    assert video.startswith("Where?\nOptions:\nA. left\nB. right\n\nPlease think about this question")
    assert video.endswith("within the <answer> </answer> tags.") and "thought expressions It's" in video
    assert get_profile("vlaa-thinker").system.startswith("You are VL-Thinking🤔, a helpful assistant")
    vigorl = get_profile("vigorl-spatial")
    assert vigorl.answer_style == "option_text" and "<answer>right</answer>" in vigorl.system
    assert "\\n\\nAll reasoning" in vigorl.system  # literal backslash-n, as the authors' files have it
    spacer = get_profile("spacer").user_text("Where?", opts)
    assert spacer.startswith("Question: Where?\nOptions:\nA. left") and spacer.endswith("etc.) within the <answer> </answer> tags.")
    assert get_profile("spacer").generation["temperature"] == 0.01
    for p in list_profiles():
        assert p.description and "{question}" in p.user_template and "{options}" in p.user_template
        p.user_text("Q?", opts)  # every template formats


# ------------------------------------------------------------------------------------- reference mode


def _mcq(benchmark: str, question: str, options: list[str], **meta) -> Sample:
    return Sample(id="r", benchmark=benchmark, question=question, options=options, gold_index=0, metadata=meta)


def test_lmms_eval_mmbench_matches_golden_snapshot() -> None:
    """lmms-eval's test/eval/prompt_stability/snapshots/mmbench_en_dev__hint.json, verbatim."""
    hint = "The person is outdoors near a body of water."
    question = "What activity is the person in the image performing?"
    s = _mcq("mmbench", f"{hint}\n{question}", ["Swimming", "Running", "Fishing", "Cycling"], hint=hint, raw_question=question)
    assert render_reference(s, "lmms_eval") == (
        "The person is outdoors near a body of water. What activity is the person in the image performing? "
        "There are several options:\nA. Swimming\nB. Running\nC. Fishing\nD. Cycling\n\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert render_reference(s, "vlmevalkit") == (
        f"Hint: {hint}\nQuestion: {question}\nOptions:\nA. Swimming\nB. Running\nC. Fishing\nD. Cycling\n"
        "Please select the correct answer from the options above. \n"
    )


def test_cvbench_reference_prompts() -> None:
    prompt = "How many organs are in the image? Select from the following choices.\n(A) 3\n(B) 2\n(C) 1\n(D) 0"
    s = _mcq("cvbench", "How many organs are in the image?", ["3", "2", "1", "0"], prompt=prompt)
    assert render_reference(s, "lmms_eval") == (
        "Note: You only need to respond with A, B, C, D without providing any additional information.\n\n" + prompt
    )
    assert render_reference(s, "vlmevalkit") == prompt
    rebuilt = _mcq("cvbench", "How many organs are in the image?", ["3", "2", "1", "0"])
    assert render_reference(rebuilt, "vlmevalkit") == prompt  # same text when a layout lacks `prompt`


def test_vstar_reference_keeps_lmms_eval_quirk() -> None:
    text = ("What is the color of the cup?\n(A) red\n(B) blue\n(C) green\n(D) white\n"
            "Answer with the option's letter from the given choices directly.")  # fmt: skip
    s = _mcq("vstar", "What is the color of the cup?", ["red", "blue", "green", "white"], text=text)
    out = render_reference(s, "lmms_eval")
    # lmms-eval's option regex swallows the trailing instruction into option D, so it appears twice
    assert out.count("Answer with the option's letter from the given choices directly.") == 2
    assert out.startswith("What is the color of the cup?\nA. red\nB. blue\nC. green\nD. white\nAnswer with")


def test_mme_and_3dsr_and_sat_reference_prompts() -> None:
    opts = ["car", "bus", "tree", "sign", "none"]
    s = _mcq("mme_realworld_lite", "Which is closest?", opts)
    lmms = render_reference(s, "lmms_eval")
    assert lmms.startswith("Which is closest? The choices are listed below:\n(A) car\n(B) bus")
    assert lmms.endswith("(A, B, C, D, or E) of the correct option.\nThe best answer is: ")
    assert render_reference(s, "vlmevalkit").endswith("of the correct option. \nThe best answer is:")
    dsr = render_reference(_mcq("3dsrbench", "Which is higher?", ["cup", "lamp"]), "lmms_eval")
    assert dsr == "Question: Which is higher?\nOptions:\nA. cup\nB. lamp\nPlease select the correct answer from the options above. \n"
    sat = render_reference(_mcq("sat", "Did the camera move left?", ["yes", "no"]), "lmms_eval")
    assert sat.startswith("Did the camera move left?\nWhen multiple images are provided, You want to realize")
    assert sat.endswith("to answer the question.\n\nA. yes\nB. no\n\nOnly output the letter of the correct option and nothing else.")
    pixmo = OpenSample(id="p", benchmark="pixmo_count", question="<image>How many cats?", answer="3", answer_type="integer")
    assert render_reference(pixmo, "lmms_eval") == "How many cats?\nAnswer with a single number."


def test_reference_refuses_tasks_a_harness_lacks() -> None:
    s = _mcq("whatsup", "Which caption?", ["a", "b"])
    with pytest.raises(ConfigError, match="no task for benchmark 'whatsup'"):
        render_reference(s, "lmms_eval")
    with pytest.raises(ConfigError, match="unknown harness"):
        render_reference(s, "helm")  # type: ignore[arg-type]
    assert "mmbench" in supported("vlmevalkit") and "sat" not in supported("vlmevalkit")


def test_reference_prompt_style_runs_end_to_end(tmp_path, tiny_backend):
    """`--prompt-style reference`: the harness text verbatim, caption before it, letter read at once."""
    import pandas as pd

    from fixtures.formats import write_tsv
    from robustcot.config import EvalConfig
    from robustcot.data.adapters import mmbench
    from robustcot.evaluate import run_eval
    from robustcot.prompting.reference import render_reference
    from test_adapters_real import mmbench_rows  # the real MMBench questions in VLMEvalKit's TSV layout

    data = tmp_path / "mmbench"
    write_tsv(data / "MMBench_DEV_EN.tsv", mmbench_rows())
    config = EvalConfig(model="tiny", benchmark="mmbench", data_dir=data, limit=2, out=tmp_path / "run",
                        variants=["base", "wrong_caption"], prompt_style="reference", reference_harness="vlmevalkit")
    config.hf.max_new_tokens = 4
    df = run_eval(config, backend=tiny_backend, show_progress=False).records.set_index("key")
    samples = {s.id: s for s in mmbench.load(data_dir=data)}
    for sid in df["sample_id"].unique():
        expected = render_reference(samples[sid], "vlmevalkit")
        base = df.loc[f"{sid}|base|0", "prompt"]
        caption = df.loc[f"{sid}|wrong_caption|0", "prompt"]
        assert expected in base and "Image caption:" not in base
        assert "Image caption:" in caption and expected in caption
        assert caption.index("Image caption:") < caption.index(expected.splitlines()[0])
    assert (df["profile"] == "reference-vlmevalkit").all()
    assert pd.notna(df["entropy"]).all()
