"""The transformers backend on the real Qwen2.5-VL class (tiny, random weights)."""

from __future__ import annotations

import math

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
