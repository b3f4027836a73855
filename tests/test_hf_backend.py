"""The transformers backend on the real Qwen2.5-VL class (tiny, random weights)."""

from __future__ import annotations

import math
from unittest import mock

import pytest
from PIL import Image

from robustcot.models.base import GenerationRequest
from robustcot.models.hf import HFBackend, HFConfig
from robustcot.prompting.conversation import Conversation


def _req(key, text, color, prefill=None, letters=("A", "B", "C")):
    img = Image.new("RGB", (84 + 14 * len(key), 112), color)
    conv = Conversation(user_text=text, images=[img], prefill=prefill)
    return GenerationRequest(key=key, conversation=conv, letters=list(letters))


def test_tiny_model_is_qwen2_5_vl_and_deterministic(tiny_path, tmp_path):
    from robustcot.models.tiny import ensure_tiny

    again = ensure_tiny(tmp_path)
    assert (again / "model.safetensors").read_bytes() == (tiny_path / "model.safetensors").read_bytes()
    assert (again / "tokenizer.json").read_text() == (tiny_path / "tokenizer.json").read_text()
    assert "Qwen2_5_VL" in (tiny_path / "config.json").read_text()


def test_prefill_rendered_open_ended(tiny_backend):
    prefill = "<think>The red circle is left of"
    prompt = tiny_backend.render(_req("a", "Where?", "red", prefill=prefill))
    assert prompt.endswith(prefill)
    assert "<|im_start|>assistant\n" + prefill in prompt
    plain = tiny_backend.render(_req("b", "Where?", "red"))
    assert plain.endswith("<|im_start|>assistant\n")
    assert plain.count("<|image_pad|>") == 1


def test_batched_generation_matches_single(tiny_backend):
    """Left padding must not change greedy outputs or letter readouts."""
    reqs = [
        _req("a", "Which shape is red? A. circle B. square C. triangle", "red"),
        _req("bb", "Count the objects.", "blue", prefill="<think>There are"),
        _req("ccc", "Is the square above the circle? Please answer carefully with a letter.", "green"),
    ]
    batched = tiny_backend.generate(reqs)
    for req, got in zip(reqs, batched, strict=True):
        alone = tiny_backend.generate([req])[0]
        assert got.text == alone.text
        assert got.uncertainty_source == alone.uncertainty_source
        for letter in req.letters:
            assert got.letter_logprobs[letter] == pytest.approx(alone.letter_logprobs[letter], abs=1e-3)
        assert got.n_completion_tokens == alone.n_completion_tokens <= 24
        assert got.prompt == tiny_backend.render(req)


def test_forced_readout_matches_direct_forward(tiny_backend):
    """The forced pass reads the distribution right after the answer marker, over exact tokens."""
    import torch

    req = _req("a", "Which?", "red", letters=("A", "B"))
    out = tiny_backend.generate([req])[0]
    assert out.uncertainty_source == "forced"  # a random model never writes a clean <answer>X
    marker = "<answer>"
    text = out.prompt + (out.text if marker not in out.text else out.text[: out.text.index(marker)]) + marker
    proc = tiny_backend.processor
    inputs = proc(text=[text], images=req.conversation.images, return_tensors="pt")
    with torch.inference_mode():
        logits = tiny_backend.model(**inputs).logits[0, -1].float()
    logp = torch.log_softmax(logits, -1)
    for letter in ("A", "B"):
        ids = tiny_backend.letters.variants[letter]
        expected = torch.logsumexp(logp[ids], 0).item()
        assert out.letter_logprobs[letter] == pytest.approx(expected, abs=1e-4)
    assert sum(math.exp(v) for v in out.letter_logprobs.values()) < 1.0


def test_generation_readout_equals_forward_at_letter_step(tiny_backend):
    """When the letter is generated, the recorded step equals a forward pass at that position."""
    import torch

    req = _req("a", "Which?", "red", prefill="<think>ok</think><answer>", letters=("A", "B"))
    cfg = tiny_backend.config
    # with the marker in the prefill, step 0 is the answer position; one token is enough
    tiny_backend.config = HFConfig(max_new_tokens=1)
    try:
        out = tiny_backend.generate([req])[0]
    finally:
        tiny_backend.config = cfg
    prompt = tiny_backend.render(req)
    inputs = tiny_backend.processor(text=[prompt], images=req.conversation.images, return_tensors="pt")
    with torch.inference_mode():
        logp = torch.log_softmax(tiny_backend.model(**inputs).logits[0, -1].float(), -1)
    expected = {c: torch.logsumexp(logp[tiny_backend.letters.variants[c]], 0).item() for c in ("A", "B")}
    for c in ("A", "B"):
        assert out.letter_logprobs[c] == pytest.approx(expected[c], abs=1e-4)


def test_fingerprint_identifies_weights(tiny_backend):
    fp = tiny_backend.fingerprint()
    assert fp["architecture"] == "Qwen2_5_VLForConditionalGeneration"
    assert fp["weights_digest"] and fp["letter_variants"]["A"] >= 2


def test_processor_without_torchvision_uses_pil_image_processor(tiny_path):
    from robustcot.models.processor import has_torchvision, load_processor

    proc = load_processor(tiny_path, max_pixels=56 * 56)
    if not has_torchvision():
        assert type(proc.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    out = proc(text=["<|vision_start|><|image_pad|><|vision_end|>hi"], images=[Image.new("RGB", (400, 400))])
    _, h, w = out["image_grid_thw"][0].tolist()
    assert h * w * 14 * 14 <= 56 * 56 * 1.01


def test_hf_backend_rejects_template_that_drops_prefill(tiny_path):
    backend = HFBackend(tiny_path, HFConfig(max_new_tokens=2))
    backend.processor.chat_template = "{% for m in messages %}{{ m['role'] }}{% endfor %}"
    with pytest.raises(ValueError, match=r"request 'a': the chat template (altered|cannot continue) the prefill"):
        backend.render(_req("a", "Q", "red", prefill="<think>x"))


# -- the readout on top of generate's KV cache ------------------------------------------------------


@pytest.fixture(scope="module")
def sampling_backend(tiny_path):
    """Hot sampling makes the random tiny model write varied tokens, so rows can stop mid-response."""
    return HFBackend(tiny_path, HFConfig(max_new_tokens=12, do_sample=True, temperature=4.0, seed=3))


def _batch_reqs():
    return [
        _req("a", "Which shape is red? A. circle B. square C. triangle", "red"),
        _req("bb", "Count the objects.", "blue", prefill="<think>There are"),
        _req("ccc", "Is the square above the circle? Please answer carefully with a letter.", "green"),
        _req("dddd", "Which one?", "white", letters=("A", "B")),
    ]


def _direct_logprobs(backend, req, continuation):
    """Reference: next-token log-probs of one unbatched forward over prompt + ``continuation`` ids, with images."""
    import torch

    inputs = backend.processor(text=[backend.render(req)], images=req.conversation.images, return_tensors="pt")
    extra = torch.tensor([continuation], dtype=inputs["input_ids"].dtype)
    inputs["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    inputs["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(extra)], dim=1)
    with torch.inference_mode():
        return torch.log_softmax(backend.model(**inputs).logits[0, -1].float(), -1)


def _direct_letter_logprobs(backend, req, continuation):
    import torch

    logp = _direct_logprobs(backend, req, continuation)
    return {c: torch.logsumexp(logp[backend.letters.variants[c]], 0).item() for c in req.letters}


def _stop_mid_response(backend, reqs, monkeypatch):
    """Make a token that row 0 samples mid-response an end-of-turn token, so rows stop at different steps."""
    first = backend._generate_batch(reqs).generated[0]
    stop = next(t for i, t in enumerate(first) if i >= 3 and t not in first[:i])
    monkeypatch.setattr(backend, "_eos", backend._eos | {stop})
    return backend._generate_batch(reqs)


def test_forced_readout_from_cache_matches_direct_forward_when_rows_stop_early(sampling_backend, monkeypatch):
    """Left padding, rows that stopped at EOS and rows that ran to max_new_tokens all read the right position."""
    from robustcot.models import hf_readout
    from robustcot.models.base import Completion

    reqs = _batch_reqs()
    batch = _stop_mid_response(sampling_backend, reqs, monkeypatch)
    lengths = [len(ids) for ids in batch.generated]
    assert any(0 < n < 12 for n in lengths) and 12 in lengths  # stopped mid-response, and ran to the limit
    completions = [Completion(text="") for _ in reqs]
    with mock.patch.object(hf_readout, "continue_from_cache", wraps=hf_readout.continue_from_cache) as cached:
        sampling_backend._read_letters(reqs, batch, completions)
    assert cached.call_count == 1  # one continuation pass for the batch, not a full forward
    marker = sampling_backend.tokenizer.encode("<answer>", add_special_tokens=False)
    for req, ids, out in zip(reqs, batch.generated, completions, strict=True):
        assert out.uncertainty_source == "forced"  # the random model never writes the marker
        expected = _direct_letter_logprobs(sampling_backend, req, ids + marker)
        for letter in req.letters:
            assert out.letter_logprobs[letter] == pytest.approx(expected[letter], abs=1e-4)


def test_cached_continuation_equals_full_pass_for_cuts_tails_and_row_subsets(sampling_backend, monkeypatch):
    """Cuts before the cache end, multi-token tails, a row at max_new_tokens and a subset of rows."""
    import torch

    from robustcot.models.hf_readout import Continuation, cache_reusable, continue_from_cache

    reqs = _batch_reqs()
    batch = _stop_mid_response(sampling_backend, reqs, monkeypatch)
    full_row = next(i for i, ids in enumerate(batch.generated) if len(ids) == 12)
    tail = sampling_backend.tokenizer.encode("answer>", add_special_tokens=False)
    conts = [
        Continuation(0, 2, tail, "cut early, multi-token tail"),
        Continuation(full_row, 12, [], "to the end of a row that ran to the limit: its last token is not cached"),
        Continuation(3, 0, tail[:1], "nothing generated kept"),
    ]
    full = sampling_backend._full_pass(reqs, batch, conts)
    assert cache_reusable(batch.cache, batch.recorder.prompt_positions)
    cached = continue_from_cache(
        sampling_backend.model, batch.cache, batch.recorder.prompt_positions, batch.inputs["attention_mask"],
        batch.generated, conts, sampling_backend._letter_ids, sampling_backend.tokenizer.pad_token_id,
    )
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=0)
    for cont, row in zip(conts, cached, strict=True):
        expected = _direct_logprobs(sampling_backend, reqs[cont.row], cont.tokens(batch.generated[cont.row]))
        torch.testing.assert_close(row, expected[sampling_backend._letter_ids], atol=1e-4, rtol=0)


def test_recorded_steps_equal_direct_forward_at_every_step(tiny_backend):
    """The hook's step t is the distribution of generated token t, for every row of a left-padded batch."""
    import torch

    reqs = _batch_reqs()
    batch = tiny_backend._generate_batch(reqs)
    recorded = batch.recorder.logprobs()
    assert recorded.shape == (len(reqs), 24, len(tiny_backend.letters.ids))
    for row, req in enumerate(reqs):
        for step in (0, 7, 23):
            expected = _direct_logprobs(tiny_backend, req, batch.generated[row][:step])
            torch.testing.assert_close(recorded[row, step], expected[tiny_backend._letter_ids], atol=1e-4, rtol=0)


def test_cache_without_prompt_positions_is_not_reused():
    from transformers import DynamicCache

    from robustcot.models.hf_readout import cache_reusable

    assert not cache_reusable(DynamicCache(), None)
