"""Hugging Face transformers backend: batched, left-padded generation with letter readout.

Letter uncertainty is read from the generation itself. A logits processor keeps, at every step,
only the logits of the option-letter tokens and the full-vocabulary log-normaliser (a few hundred
floats per row instead of the vocabulary), so the readout costs nearly nothing. When the answer
letter was not generated cleanly after the answer marker, one teacher-forced forward pass over the
exact generated tokens up to the marker supplies the distribution instead; each row records which
way it was obtained.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from robustcot.models.base import Completion, GenerationRequest
from robustcot.models.letters import AnswerPosition, LetterVocabulary, letter_logprobs, locate_answer


class HFConfig(BaseModel):
    """Settings of the transformers backend."""

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype; ``auto`` is bfloat16 on CUDA and float32 on CPU."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1`` ..."""
    max_new_tokens: int = Field(512, ge=1)
    """Generation budget per response."""
    do_sample: bool = False
    """Greedy decoding by default, so runs are reproducible."""
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    """Torch seed set before each batch when sampling."""
    min_pixels: int | None = None
    """Passed to the image processor; ``None`` keeps the model's own setting."""
    max_pixels: int | None = None
    """Passed to the image processor; caps very large images the way the model's processor does."""
    attn_implementation: str | None = None
    """For example ``sdpa`` or ``flash_attention_2``; ``None`` lets transformers choose."""
    letter_readout: bool = True
    """Record the option-letter distribution at the answer position."""


class _LetterRecorder:
    """Logits processor that records letter logits and the log-normaliser per step, unchanged scores."""

    def __init__(self, letter_ids) -> None:
        self.letter_ids = letter_ids
        self.letter_logits: list[Any] = []
        self.log_norm: list[Any] = []

    def __call__(self, input_ids, scores):
        import torch

        logits = scores.float()
        self.letter_logits.append(logits.index_select(1, self.letter_ids))
        self.log_norm.append(torch.logsumexp(logits, dim=-1))
        return scores


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class HFBackend:
    """Any chat VLM loadable with ``AutoModelForImageTextToText`` and its processor."""

    def __init__(self, model_path: str | Path, config: HFConfig | None = None, *, name: str | None = None) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        from robustcot.models.processor import load_processor

        self.config = config or HFConfig()
        self.model_path = str(model_path)
        self.name = name or f"hf:{model_path}"
        self.device = resolve_device(self.config.device)
        dtype = self.config.dtype
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
        if self.config.attn_implementation:
            kwargs["attn_implementation"] = self.config.attn_implementation
        if self.device.startswith("cuda"):
            kwargs["device_map"] = self.device  # load shards straight onto the GPU, not via host memory
        self.model = AutoModelForImageTextToText.from_pretrained(self.model_path, **kwargs).to(self.device).eval()
        self.processor = load_processor(
            self.model_path, min_pixels=self.config.min_pixels, max_pixels=self.config.max_pixels
        )
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.letters = LetterVocabulary(self.tokenizer)
        self._letter_ids = torch.tensor(self.letters.ids, device=self.device)
        self._token_text = [self.tokenizer.decode([i]) for i in range(len(self.tokenizer))]
        eos = self.model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        # chat models end a turn with their template's end token even when generation_config omits it;
        # look it up in the vocabulary (convert_tokens_to_ids would map an unknown token to <unk>)
        vocab = self.tokenizer.get_vocab()
        self._eos.update(vocab[t] for t in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>") if t in vocab)
        if self.tokenizer.eos_token_id is not None:
            self._eos.add(self.tokenizer.eos_token_id)

    # -- rendering -----------------------------------------------------------------------------
    def render(self, request: GenerationRequest) -> str:
        """Chat-template the conversation; a prefill is continued, never closed."""
        conv = request.conversation
        prefill = conv.prefill
        try:
            text = self.processor.apply_chat_template(
                conv.messages(image_placeholder=""),
                tokenize=False,
                add_generation_prompt=not prefill,
                continue_final_message=bool(prefill),
            )
        except ValueError as exc:
            if not prefill:
                raise
            raise ValueError(f"request {request.key!r}: the chat template cannot continue the prefill: {exc}") from exc
        if prefill and not text.endswith(prefill):
            raise ValueError(
                f"request {request.key!r}: the chat template altered the prefill; the rendered prompt "
                f"ends with {text[-len(prefill) - 20:]!r}"
            )
        return text

    # -- generation ----------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        import torch
        from transformers import LogitsProcessorList

        if not requests:
            return []
        start = time.perf_counter()
        prompts = [self.render(r) for r in requests]
        images = [img for r in requests for img in r.conversation.images]
        inputs = self.processor(text=prompts, images=images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        recorder = _LetterRecorder(self._letter_ids) if self.config.letter_readout else None
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": self.config.max_new_tokens,
            "do_sample": self.config.do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": sorted(self._eos),
        }
        if self.config.do_sample:
            gen_kwargs.update(temperature=self.config.temperature, top_p=self.config.top_p)
            torch.manual_seed(self.config.seed)
        else:
            gen_kwargs.update(temperature=None, top_p=None, top_k=None)
        if recorder is not None:
            gen_kwargs["logits_processor"] = LogitsProcessorList([recorder])
        with torch.inference_mode():
            sequences = self.model.generate(**inputs, **gen_kwargs)
        prompt_len = inputs["input_ids"].shape[1]
        generated = sequences[:, prompt_len:].tolist()
        n_prompt = inputs["attention_mask"].sum(dim=1).tolist()

        completions = []
        for row, raw in enumerate(generated):
            ids = self._until_eos(raw)
            completions.append(
                Completion(
                    text=self.tokenizer.decode(ids, skip_special_tokens=True),
                    prompt=prompts[row],
                    n_prompt_tokens=int(n_prompt[row]),
                    n_completion_tokens=len(ids),
                )
            )
            generated[row] = ids
        if recorder is not None:
            self._read_letters(requests, inputs, generated, recorder, completions)
        per_item = (time.perf_counter() - start) / len(requests)
        for c in completions:
            c.latency_s = per_item
        return completions

    def _until_eos(self, ids: list[int]) -> list[int]:
        for i, t in enumerate(ids):
            if t in self._eos:
                return ids[:i]
        return ids

    def _read_letters(self, requests, inputs, generated, recorder, completions) -> None:
        import torch

        letter_logits = torch.stack(recorder.letter_logits, dim=1).cpu()  # (B, steps, L)
        log_norm = torch.stack(recorder.log_norm, dim=1).cpu()  # (B, steps)
        forced: list[tuple[int, AnswerPosition | None]] = []
        for row, req in enumerate(requests):
            if not req.letters:  # e.g. judge prompts: nothing to read
                continue
            ids = generated[row]
            texts = [self._token_text[t] for t in ids]
            prefill = req.conversation.prefill or ""
            pos = locate_answer(texts, ids, self.letters, req.answer_marker, req.letters, prefill=prefill)
            if pos is not None and pos.letter_step is not None:
                step, source, note = pos.letter_step, "generation", None
            elif pos is not None and not pos.tail and pos.cut < letter_logits.shape[1]:
                # the step after the marker was decoded over exactly prompt + generated[:cut]: its
                # recorded distribution *is* the teacher-forced one, so no extra forward pass
                step, source = pos.cut, "forced"
                note = "forced: no clean answer letter after the marker; read at the marker's recorded step"
            else:
                forced.append((row, pos))
                continue
            completions[row].letter_logprobs = letter_logprobs(
                self.letters, letter_logits[row, step].tolist(), float(log_norm[row, step]), req.letters
            )
            completions[row].uncertainty_source = source
            completions[row].uncertainty_note = note
        if forced:
            self._forced_pass(requests, inputs, generated, forced, completions)

    def _forced_pass(self, requests, inputs, generated, forced, completions) -> None:
        """One teacher-forced forward over prompt + generated tokens up to the answer marker."""
        import torch

        rows = [row for row, _ in forced]
        input_ids, attention = inputs["input_ids"], inputs["attention_mask"]
        seqs, notes = [], []
        for row, pos in forced:
            prompt_ids = input_ids[row][attention[row].bool()].tolist()
            req = requests[row]
            if pos is None:
                cont = generated[row] + self.tokenizer.encode(req.answer_marker, add_special_tokens=False)
                notes.append("forced: no answer marker in the response; marker appended after it")
            else:
                cont = generated[row][: pos.cut] + self.tokenizer.encode(pos.tail, add_special_tokens=False)
                notes.append("forced: no clean answer letter after the marker")
            seqs.append(prompt_ids + cont)
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
        extra = self._vision_inputs_for_rows(inputs, requests, rows)
        if "mm_token_type_ids" in inputs:  # marks image positions for M-RoPE; continuations are text
            types = []
            for (row, _), seq in zip(forced, seqs, strict=True):
                prompt_types = inputs["mm_token_type_ids"][row][attention[row].bool()].tolist()
                types.append([0] * (width - len(seq)) + prompt_types + [0] * (len(seq) - len(prompt_types)))
            extra["mm_token_type_ids"] = torch.tensor(types, device=self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, **extra).logits[:, -1].float()
        log_norm = torch.logsumexp(logits, dim=-1).cpu()
        letter_logits = logits.index_select(1, self._letter_ids).cpu()
        for i, row in enumerate(rows):
            completions[row].letter_logprobs = letter_logprobs(
                self.letters, letter_logits[i].tolist(), float(log_norm[i]), requests[row].letters
            )
            completions[row].uncertainty_source = "forced"
            completions[row].uncertainty_note = notes[i]

    @staticmethod
    def _vision_inputs_for_rows(inputs, requests, rows) -> dict[str, Any]:
        """Slice the batch's image tensors down to the images of ``rows`` (patches are concatenated)."""
        import torch

        if "pixel_values" not in inputs:
            return {}
        grid = inputs["image_grid_thw"]
        patches = grid.prod(dim=1).tolist()
        owner = [row for row, req in enumerate(requests) for _ in req.conversation.images]
        keep_img = [i for i, o in enumerate(owner) if o in set(rows)]
        offsets = [0]
        for n in patches:
            offsets.append(offsets[-1] + n)
        if not keep_img:
            return {}
        pix = torch.cat([inputs["pixel_values"][offsets[i] : offsets[i + 1]] for i in keep_img])
        return {"pixel_values": pix, "image_grid_thw": grid[keep_img]}

    def fingerprint(self) -> dict[str, Any]:
        cfg = self.model.config
        files = sorted(Path(self.model_path).glob("*.safetensors")) if Path(self.model_path).is_dir() else []
        digest = hashlib.sha256()
        for f in files:
            digest.update(f"{f.name}:{f.stat().st_size}".encode())
            if f.stat().st_size < 64 * 1024 * 1024:
                digest.update(f.read_bytes())
        return {
            "backend": "hf",
            "model": self.model_path,
            "architecture": type(self.model).__name__,
            "commit": getattr(cfg, "_commit_hash", None),
            "weights_digest": digest.hexdigest()[:16] if files else None,
            "dtype": str(self.model.dtype),
            "device": self.device,
            "letter_variants": {c: len(v) for c, v in self.letters.variants.items()},
        }
