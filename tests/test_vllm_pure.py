"""The vLLM backend's pure parts, on output objects shaped like vLLM's; one real-engine test on GPU."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field

import pytest
from PIL import Image

from robustcot.models.base import GenerationRequest
from robustcot.models.vllm_backend import VLLMConfig, engine_kwargs
from robustcot.models.vllm_outputs import (
    completion_from_output,
    forced_continuation,
    read_generation,
    step_letter_logprobs,
)
from robustcot.models.vllm_requests import (
    chat_messages,
    forced_sampling_kwargs,
    has_field,
    plan_calls,
    sampling_kwargs,
)
from robustcot.prompting.conversation import Conversation


# Mirrors of vllm.logprobs.Logprob, vllm.outputs.CompletionOutput and RequestOutput (fields used).
@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None = None
    index: int = 0


@dataclass
class RequestOutput:
    outputs: list[CompletionOutput]
    prompt: str | None = None
    prompt_token_ids: list[int] = field(default_factory=list)


def _request(text="Q?", images=(), prefill=None, letters=("A", "B", "C")):
    conv = Conversation(user_text=text, images=list(images), system="sys", prefill=prefill)
    return GenerationRequest(key=text + (prefill or ""), conversation=conv, letters=list(letters))


def _generated(tok, text, *, lp_at=None):
    """A CompletionOutput for ``text`` with logprobs given at selected steps ({step: {id: lp}})."""
    ids = tok.encode(text, add_special_tokens=False)
    steps = [{i: Logprob(-0.1)} for i in ids]
    for step, values in (lp_at or {}).items():
        steps[step] = {t: Logprob(v) for t, v in values.items()}
    return CompletionOutput(text=text, token_ids=ids, logprobs=steps)


# -- requests ------------------------------------------------------------------------------------
def test_chat_messages_put_images_first_and_prefill_as_open_assistant_string():
    img = Image.new("RGB", (8, 8))
    msgs = chat_messages(Conversation(user_text="Q?", images=[img], system="S", prefill="<think>x"))
    assert msgs[0] == {"role": "system", "content": "S"}
    assert msgs[1]["content"][0] == {"type": "image_pil", "image_pil": img}
    assert msgs[1]["content"][-1] == {"type": "text", "text": "Q?"}
    assert msgs[2] == {"role": "assistant", "content": "<think>x"}
    assert [m["role"] for m in chat_messages(Conversation(user_text="Q?"))] == ["user"]


def test_plan_calls_splits_by_prefill_and_keeps_a_samples_variants_adjacent():
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    blue_copy = Image.new("RGB", (8, 8), "blue")  # equal pixels, another object: still grouped
    reqs = [
        _request("q-red", [red]),
        _request("q-blue", [blue], prefill="<think>a"),
        _request("q-blue", [blue]),
        _request("q-red", [red], prefill="<think>b"),
        _request("q-blue caption", [blue_copy]),
        _request("q-red caption", [red]),
    ]
    groups = plan_calls(reqs)
    assert [g.prefill for g in groups] == [False, True]
    plain, prefilled = groups[0].indices, groups[1].indices
    assert sorted(plain) == [0, 2, 4, 5] and sorted(prefilled) == [1, 3]
    images = [reqs[i].conversation.images[0].getpixel((0, 0)) for i in plain]
    assert images in ([(255, 0, 0)] * 2 + [(0, 0, 255)] * 2, [(0, 0, 255)] * 2 + [(255, 0, 0)] * 2)
    texts = [reqs[i].conversation.user_text for i in plain]
    assert texts.index("q-blue") < texts.index("q-blue caption")  # prompt order within an image


def test_has_field_detects_struct_dataclass_and_signature_fields():
    class Struct:
        __struct_fields__ = ("logprobs", "logprob_token_ids")

    @dataclass
    class Old:
        logprobs: int | None = None

    class Plain:
        def __init__(self, logprobs=None, logprob_token_ids=None) -> None: ...

    assert has_field(Struct, "logprob_token_ids")
    assert not has_field(Old, "logprob_token_ids") and has_field(Old, "logprobs")
    assert has_field(Plain, "logprob_token_ids") and not has_field(Plain, "allowed_token_ids")


def test_sampling_kwargs_pick_exact_ids_topk_or_nothing():
    base = dict(max_tokens=9, temperature=0.0, top_p=1.0, seed=0, top_k_logprobs=20)
    exact = sampling_kwargs(letter_ids=[5, 3, 5], exact=True, **base)
    assert exact["logprob_token_ids"] == [3, 5] and "logprobs" not in exact
    topk = sampling_kwargs(letter_ids=[5, 3], exact=False, **base)
    assert topk["logprobs"] == 20 and "logprob_token_ids" not in topk
    judge = sampling_kwargs(letter_ids=[], exact=True, **base)
    assert "logprobs" not in judge and "logprob_token_ids" not in judge and judge["max_tokens"] == 9
    forced = forced_sampling_kwargs([7, 4], exact=False, top_k_logprobs=5)
    assert forced == {"max_tokens": 1, "temperature": 0.0, "allowed_token_ids": [4, 7], "logprobs": 5}
    assert forced_sampling_kwargs([7], exact=True, top_k_logprobs=5)["logprob_token_ids"] == [7]


def test_engine_kwargs_pass_parallelism_through_and_omit_unset():
    kw = engine_kwargs("m", VLLMConfig(tensor_parallel_size=4, max_model_len=8192, limit_mm_per_prompt={"image": 2}))
    assert kw["tensor_parallel_size"] == 4 and kw["max_model_len"] == 8192
    assert kw["limit_mm_per_prompt"] == {"image": 2} and kw["enable_prefix_caching"] is True
    assert "data_parallel_size" not in kw and "revision" not in kw
    assert engine_kwargs("m", VLLMConfig(data_parallel_size=2))["data_parallel_size"] == 2
    assert engine_kwargs("m", VLLMConfig(top_k_logprobs=50))["max_logprobs"] == 50


# -- outputs -------------------------------------------------------------------------------------
def test_step_letter_logprobs_sums_variants_by_token_id(tok, vocab):
    a, space_a = tok.convert_tokens_to_ids("A"), tok.convert_tokens_to_ids("ĠA")
    b = tok.convert_tokens_to_ids("B")
    step = {a: Logprob(math.log(0.5)), space_a: Logprob(math.log(0.2)), b: Logprob(math.log(0.1)), 7: Logprob(-1)}
    values, missing = step_letter_logprobs(step, vocab, ["A", "B", "C"])
    assert values["A"] == pytest.approx(math.log(0.7))
    assert values["B"] == pytest.approx(math.log(0.1))
    assert values["C"] == -math.inf and missing == ["C"]


def test_read_generation_reads_the_step_of_the_answer_letter(tok, vocab):
    text = "<think>B is wrong. C!</think><answer>C</answer>"
    ids = tok.encode(text, add_special_tokens=False)
    c_step = max(i for i, t in enumerate(ids) if tok.decode([t]) == "C")
    a, c = tok.convert_tokens_to_ids("A"), tok.convert_tokens_to_ids("C")
    out = _generated(tok, text, lp_at={c_step: {c: math.log(0.6), a: math.log(0.3)}})
    readout = read_generation(out, _request(), vocab, lambda t: tok.decode([t]))
    assert readout.letter_logprobs["C"] == pytest.approx(math.log(0.6))
    assert readout.letter_logprobs["A"] == pytest.approx(math.log(0.3))
    assert readout.note and "B" in readout.note  # B was not reported: top-k readout says so


def test_read_generation_without_clean_letter_asks_for_forced_pass(tok, vocab):
    decode = lambda t: tok.decode([t])  # noqa: E731
    text = "<think>so B</think><answer>the blue one</answer>"
    readout = read_generation(_generated(tok, text), _request(), vocab, decode)
    assert readout.letter_logprobs is None and readout.position is not None
    continuation, note = forced_continuation(text, readout, "<answer>")
    assert continuation == "<think>so B</think><answer>" and "no clean answer letter" in note

    no_marker = read_generation(_generated(tok, "<think>hmm"), _request(), vocab, decode)
    continuation, note = forced_continuation("<think>hmm", no_marker, "<answer>")
    assert continuation == "<think>hmm<answer>" and "no answer marker" in note


def test_completion_from_output_counts_tokens():
    out = RequestOutput(outputs=[CompletionOutput("hi", [1, 2, 3])], prompt="P", prompt_token_ids=[9] * 11)
    c = completion_from_output(out, "P")
    assert (c.text, c.prompt, c.n_prompt_tokens, c.n_completion_tokens) == ("hi", "P", 11, 3)
    assert c.letter_logprobs is None and c.uncertainty_source is None


# -- real engine ---------------------------------------------------------------------------------
def _gpu_and_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_and_vllm(), reason="needs CUDA and vllm")
def test_vllm_backend_generates_with_and_without_prefill(tiny_path):
    from robustcot.models.vllm_backend import VLLMBackend

    backend = VLLMBackend(
        str(tiny_path), VLLMConfig(max_new_tokens=16, gpu_memory_utilization=0.3, max_model_len=2048, enforce_eager=True)
    )
    img = Image.new("RGB", (56, 56), "red")
    reqs = [_request("Which? A. x B. y C. z", [img]), _request("Which? A. x B. y C. z", [img], prefill="<think>B")]
    completions = backend.generate(reqs)
    assert len(completions) == 2
    for c in completions:
        assert c.error is None and c.uncertainty_source in ("generation", "forced")
        assert set(c.letter_logprobs) == {"A", "B", "C"}
    assert completions[1].prompt.endswith("<think>B")
