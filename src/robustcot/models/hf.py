"""Hugging Face transformers backend: batched, left-padded generation with letter readout.

Letter uncertainty is read from the generation itself. A forward hook keeps, at every step, only
the full-vocabulary log-probabilities of the option-letter tokens (a few hundred floats per row
instead of the vocabulary), so the readout costs nearly nothing. When the answer letter was not
generated cleanly after the answer marker, a teacher-forced continuation over the exact generated
tokens up to the marker supplies the distribution instead, fed on top of the generation's KV cache
(see :mod:`robustcot.models.hf_readout`); each row records which way it was obtained.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from robustcot.models.base import Completion, GenerationRequest
from robustcot.models.letters import LetterVocabulary, letter_logprobs, locate_answer

if TYPE_CHECKING:  # torch is imported lazily, so the config classes load without it
    import torch

    from robustcot.models.base import UncertaintySource
    from robustcot.models.hf_readout import Continuation, StepRecorder


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


@dataclass
class _Batch:
    """One generated batch, as the letter readout needs it."""

    prompts: list[str]
    inputs: Any
    """The processor's output (padded ids, attention mask, image tensors) on the model's device."""
    generated: list[list[int]]
    """Each row's generated token ids up to, not including, its first end-of-turn token."""
    recorder: StepRecorder | None
    cache: Any
    """``generate``'s KV cache when the readout is on (a forced continuation reuses it)."""


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
        self._encoded: dict[str, list[int]] = {}
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
        if not requests:
            return []
        start = time.perf_counter()
        batch = self._generate_batch(requests)
        completions = [
            Completion(
                text=self.tokenizer.decode(ids, skip_special_tokens=True),
                prompt=prompt,
                n_prompt_tokens=n_prompt,
                n_completion_tokens=len(ids),
            )
            for ids, prompt, n_prompt in zip(
                batch.generated, batch.prompts, batch.inputs["attention_mask"].sum(dim=1).tolist(), strict=True
            )
        ]
        if batch.recorder is not None:
            self._read_letters(requests, batch, completions)
        per_item = (time.perf_counter() - start) / len(requests)
        for c in completions:
            c.latency_s = per_item
        return completions

    def _generate_batch(self, requests: list[GenerationRequest]) -> _Batch:
        """Render, tokenise and decode one batch; with the letter readout, record it and keep the KV cache."""
        import torch

        from robustcot.models.hf_readout import StepRecorder

        prompts = [self.render(r) for r in requests]
        images = [img for r in requests for img in r.conversation.images]
        inputs = self.processor(text=prompts, images=images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        readout = self.config.letter_readout
        recorder = StepRecorder(self._letter_ids, self.config.max_new_tokens) if readout else None
        if self.config.do_sample:
            torch.manual_seed(self.config.seed)
        with torch.inference_mode(), recorder.attached(self.model) if recorder else nullcontext():
            out = self.model.generate(**inputs, **self._generation_kwargs(), return_dict_in_generate=True)
        prompt_len = inputs["input_ids"].shape[1]
        generated = [self._until_eos(row) for row in out.sequences[:, prompt_len:].tolist()]
        return _Batch(prompts, inputs, generated, recorder, out.past_key_values if readout else None)

    def _generation_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.config.max_new_tokens,
            "do_sample": self.config.do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": sorted(self._eos),
        }
        if self.config.do_sample:
            kwargs.update(temperature=self.config.temperature, top_p=self.config.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def _until_eos(self, ids: list[int]) -> list[int]:
        for i, t in enumerate(ids):
            if t in self._eos:
                return ids[:i]
        return ids

    def _read_letters(self, requests: list[GenerationRequest], batch: _Batch, completions: list[Completion]) -> None:
        """Read each row's letter distribution from the recorded steps, else from a forced continuation."""
        from robustcot.models.hf_readout import Continuation

        recorded = batch.recorder.logprobs()  # (B, steps, letters)
        conts: list[Continuation] = []
        for row, req in enumerate(requests):
            if not req.letters:  # e.g. judge prompts: nothing to read
                continue
            ids = batch.generated[row]
            texts = [self._token_text[t] for t in ids]
            prefill = req.conversation.prefill or ""
            pos = locate_answer(texts, ids, self.letters, req.answer_marker, req.letters, prefill=prefill)
            if pos is not None and pos.letter_step is not None:
                self._set_readout(completions[row], req, recorded[row, pos.letter_step], "generation", None)
            elif pos is not None and not pos.tail and pos.cut < recorded.shape[1]:
                # the step after the marker was decoded over exactly prompt + generated[:cut]: its
                # recorded distribution *is* the teacher-forced one, so nothing more to compute
                note = "forced: no clean answer letter after the marker; read at the marker's recorded step"
                self._set_readout(completions[row], req, recorded[row, pos.cut], "forced", note)
            elif pos is None:
                note = "forced: no answer marker in the response; marker appended after it"
                conts.append(Continuation(row, len(ids), self._encode(req.answer_marker), note))
            else:
                note = "forced: no clean answer letter after the marker"
                conts.append(Continuation(row, pos.cut, self._encode(pos.tail), note))
        if conts:
            values = self._forced_readout(requests, batch, conts).cpu()
            for cont, row_values in zip(conts, values, strict=True):
                self._set_readout(completions[cont.row], requests[cont.row], row_values, "forced", cont.note)

    def _encode(self, text: str) -> list[int]:
        """Token ids of a marker (or a marker's tail), memoised: every forced row of a run needs the same few."""
        ids = self._encoded.get(text)
        if ids is None:
            ids = self._encoded[text] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def _set_readout(
        self,
        completion: Completion,
        req: GenerationRequest,
        values: torch.Tensor,
        source: UncertaintySource,
        note: str | None,
    ) -> None:
        completion.letter_logprobs = letter_logprobs(self.letters, values.tolist(), req.letters)
        completion.uncertainty_source = source
        completion.uncertainty_note = note

    def _forced_readout(
        self, requests: list[GenerationRequest], batch: _Batch, conts: list[Continuation]
    ) -> torch.Tensor:
        """Letter log-probs after each continuation: from the KV cache when it allows, else a full pass."""
        import torch

        from robustcot.models.hf_readout import cache_reusable, continue_from_cache

        positions = batch.recorder.prompt_positions
        if not cache_reusable(batch.cache, positions):
            return self._full_pass(requests, batch, conts)
        with torch.inference_mode():
            return continue_from_cache(
                self.model,
                batch.cache,
                positions,
                batch.inputs["attention_mask"],
                batch.generated,
                conts,
                self._letter_ids,
                self.tokenizer.pad_token_id,
            )

    def _full_pass(
        self, requests: list[GenerationRequest], batch: _Batch, conts: list[Continuation]
    ) -> torch.Tensor:
        """One teacher-forced forward over prompt + continuation, images included (caches that drop positions)."""
        import torch

        from robustcot.models.hf_readout import letter_columns

        inputs = batch.inputs
        rows = [c.row for c in conts]
        input_ids, attention = inputs["input_ids"], inputs["attention_mask"]
        seqs = [input_ids[c.row][attention[c.row].bool()].tolist() + c.tokens(batch.generated[c.row]) for c in conts]
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
        extra = self._vision_inputs_for_rows(inputs, requests, rows)
        if "mm_token_type_ids" in inputs:  # marks image positions for M-RoPE; continuations are text
            types = []
            for row, seq in zip(rows, seqs, strict=True):
                prompt_types = inputs["mm_token_type_ids"][row][attention[row].bool()].tolist()
                types.append([0] * (width - len(seq)) + prompt_types + [0] * (len(seq) - len(prompt_types)))
            extra["mm_token_type_ids"] = torch.tensor(types, device=self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, **extra).logits[:, -1]
        return letter_columns(logits, self._letter_ids)

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

    @cached_property
    def _weights_digest(self) -> str | None:
        """Taken once: the backend holds the weights it loaded, whatever happens on disk later.

        A run asks for the fingerprint before and after generating; hashing small shards each time
        was a fixed cost of every run.
        """
        return weights_digest(Path(self.model_path))

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": "hf",
            "model": self.model_path,
            "architecture": type(self.model).__name__,
            "commit": getattr(self.model.config, "_commit_hash", None),
            "weights_digest": self._weights_digest,
            "dtype": str(self.model.dtype),
            "device": self.device,
            "letter_variants": {c: len(v) for c, v in self.letters.variants.items()},
        }


def weights_digest(path: Path) -> str | None:
    """Hash of a model directory's safetensors files (names and sizes; contents of those under 64 MiB),
    None when it has none (a hub id, or weights in another format)."""
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}:{f.stat().st_size}".encode())
        if f.stat().st_size < 64 * 1024 * 1024:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16] if files else None
