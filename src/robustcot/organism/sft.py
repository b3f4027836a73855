"""Supervised fine-tuning of the organism from scratch on templated traces over fresh scenes.

A plain PyTorch loop rather than a trainer class: the model is ~1.4 M parameters, every batch is
new data drawn from the scene generator (no epochs, no dataset to shard), and on a 2-core CPU the
fixed cost of a trainer's machinery would be a visible share of a step. The loss is computed on the
assistant tokens only, and the vocabulary projection is applied only at those positions.

The organism starts from random weights where a real VLM starts from a pretrained language model
and vision encoder. Stand-ins for that pretraining (see docs/organism.md for how far they get):

* a language warm-up: the first ``text_warmup_steps`` steps show the prompts without the image.
  Copying the object named in the question into the think is the first thing the model must learn;
  without images in the way it learns it in a few hundred steps (with them, it had not after 600).
* an auxiliary linear probe on the merged image tokens, trained to name each grid cell's object
  (or "empty") from the scene graph, which gives the vision tower a direct signal;
* an auxiliary linear probe on the language model's image tokens after its first layers, trained to
  name each token's grid row and column. The vision tower cannot know where a patch is (its only
  positions are relative rotary ones, and blank patches all look alike), so an image token's place
  must be worked out by the language model from the token order and M-RoPE, as a pretrained VLM
  has learned to; the probe teaches that early instead of through the answer loss alone;
* an auxiliary linear probe on each option's text in the prompt's list ("B. large"), read before
  the pointing layer, trained to name the option's letter. The pointing head finds the option the
  think concluded; what it carries to the answer is only what that token knows, and a token knows
  its letter only if an earlier layer moved it there from two tokens back (see ``letter_weight``).
* an auxiliary linear probe after the grounding layer, at each position that predicts a word read
  from the image (a row, a colour, a count), trained to name that word: the grounding head finds
  its object, and the probe asks that what it brings back says the word (see ``read_weight``).

The probes are discarded; the saved model is a plain Qwen2.5-VL.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from robustcot.data.sample import LETTERS
from robustcot.data.scene import GRID
from robustcot.data.synthetic import FAMILIES
from robustcot.organism.thinks import LOOKUP_KINDS
from robustcot.organism.traces import IGNORE, KINDS, N_CELL_CLASSES
from robustcot.prompting.profiles import ORGANISM, write_checkpoint_profile

DEFAULT_MIX = {"base": 0.5, "caption": 0.2, "stop": 0.1, "follow": 0.2}


class SFTConfig(BaseModel):
    """Settings of one SFT run; together with the code version they determine the checkpoint."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    """Initial weights, training scenes, trace kinds and asserted options."""
    steps: int = Field(4500, ge=1)
    batch_size: int = Field(16, ge=1)
    """Sequences per step. What the recipe needs is sequences seen: batch 8 for the same 4 500 steps
    ended at 0.42-0.54 base accuracy where 16 reaches ~0.9 (docs/organism.md)."""
    lr: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(10, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float | None = Field(None, gt=0)
    """Gradient clipping; off by default: with Adam it made no measurable difference at this scale."""
    mix: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIX))
    """Weights of the trace kinds (see :mod:`robustcot.organism.traces`)."""
    aux_weight: float = Field(1.0, ge=0)
    """Weight of the auxiliary per-cell scene-graph loss on the image tokens (0 turns it off)."""
    position_weight: float = Field(1.0, ge=0)
    """Weight of the auxiliary row/column loss on the language model's image tokens (0 turns it off)."""
    position_layer: int = Field(1, ge=0)
    """Decoder layer whose output the row/column probe reads (0 is the first layer)."""
    ground_weight: float = Field(1.0, ge=0)
    """Weight of the grounding loss: one attention head is pointed at the image token of the object
    a think reads an attribute of (0 turns it off)."""
    ground_layer: int = Field(2, ge=0)
    """Decoder layer of the grounding head; it needs a layer before it to gather the object's name."""
    ground_heads: dict[str, int] = Field(
        default_factory=lambda: {"row": 0, "column": 0, "attribute": 0, "count": 2}
    )
    """Attention head (within ``ground_layer``) that the grounding loss points, per kind of lookup
    (``row``, ``column``, ``attribute``, ``count``); a kind left out is not grounded. A count spreads
    its attention over many tokens, so it gets a head of its own key/value group (heads 0 and 1
    share one). Kinds that share a head share its value (16 dimensions); giving the rows a head of
    their own made them read right in two seeds of two, and one of the two then read another kind
    wrong, also when every kind had its own key/value group (bench/organism_diagnosis.py,
    docs/organism.md)."""
    lookup_loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"row": 5.0, "column": 10.0, "attribute": 5.0, "count": 5.0}
    )
    """Weight, in the next-token loss, of the tokens read from the image, per kind of lookup (a
    coordinate, an attribute, a count; a kind left out weighs 1 like every other token). They are
    ~1% of the target tokens; the rest is template and text copied from the prompt, learned first
    and then most of the gradient. Rows and columns compete: with both at 5 the row is learned and
    the column only half-way, with the column at 20 the column is learned and the row lost; at 10
    left/right is answered 0.98-1.00 in three seeds of three and the row is kept in one, mostly kept
    (above/below 0.75) in two (docs/organism.md)."""
    point_weight: float = Field(1.0, ge=0)
    """Weight of the option-pointing loss: one attention head is pointed, where the answer letter is
    predicted, at the text of the option the think concluded (0 turns it off)."""
    point_layer: int = Field(3, ge=0)
    """Decoder layer of the pointing head (the last: the letter it finds goes straight to the output)."""
    point_head: int = Field(0, ge=0)
    """Attention head (within ``point_layer``) that the pointing loss points."""
    letter_weight: float = Field(1.0, ge=0)
    """Weight of the letter-binding loss: a linear probe on each listed option's text names its
    letter (0 turns it off). Without it the pointing head found the concluded option in every seed
    (attention 1.0 on it) and two seeds of five still answered colour questions near chance: the
    option's token did not carry its letter. With it the letter was right in every seed of five; on
    its own it lost rows in more seeds, with ``read_weight`` it did not (docs/organism.md)."""
    letter_layer: int = Field(2, ge=0)
    """Decoder layer whose output the letter probe reads: the one the pointing head reads."""
    read_weight: float = Field(1.0, ge=0)
    """Weight of the read loss: a linear probe on the output of ``ground_layer``, at each position
    that predicts a word read from the image, names that word (0 turns it off). Without it the
    grounding head found its object in every seed (attention 1.0) and the word was still wrong in
    some (rows, columns or attributes, depending on the seed and on which kinds share a head): what
    the head brought back did not say it. The probe asks for the word one layer after the lookup,
    where the next-token loss asks for it only at the end; with it every row, column and attribute
    was read right (0.98-1.00) in every seed of five, the two that had lost one included, and base
    accuracy after SFT went from 0.900 ± 0.071 to 0.964 ± 0.011 (docs/organism.md)."""
    text_warmup_steps: int = Field(300, ge=0)
    """First steps train on the prompts with the image left out (the language warm-up)."""
    focus_families: list[str] = Field(default_factory=list)
    """Question families shown alone for the first ``focus_steps`` steps with images (a lookup
    curriculum: on size questions alone the image lookup starts within a few hundred steps, with
    all families mixed it had not after 3 000)."""
    focus_steps: int = Field(0, ge=0)

    threads: int = Field(2, ge=1)
    """torch intra-op threads. Alone on a 2-core machine, two make a step ~1.6–1.7× faster
    (bench/bench_organism_speed.py); when runs share the cores, one each (two threads each were
    measured 4× slower under load). The thread count changes the floating-point summation order,
    so it is part of what reproduces a run: the packaged checkpoint was trained with two."""

    @field_validator("lookup_loss_weights")
    @classmethod
    def _weights_of_known_lookup_kinds(cls, weights: dict[str, float]) -> dict[str, float]:
        if set(weights) - set(LOOKUP_KINDS) or min(weights.values(), default=1.0) <= 0:
            raise ValueError(
                f"lookup_loss_weights must map some of {LOOKUP_KINDS} to weights > 0; got {weights}"
            )
        return weights

    @field_validator("ground_heads")
    @classmethod
    def _heads_of_known_lookup_kinds(cls, heads: dict[str, int]) -> dict[str, int]:
        if set(heads) - set(LOOKUP_KINDS) or min(heads.values(), default=0) < 0:
            raise ValueError(
                f"ground_heads must map some of {LOOKUP_KINDS} to head indices >= 0; got {heads}"
            )
        return heads


@dataclass
class SFTResult:
    """Where the checkpoint went and how training went (per-step loss, wall time)."""

    checkpoint: Path
    losses: list[float] = field(default_factory=list)
    probe_losses: list[dict[str, float]] = field(default_factory=list)
    """Per step: the auxiliary losses it had (``cells``, ``position``, ``grounding``, ``reads`` with
    images; ``pointing`` and ``letters`` from the first step), to see whether the parts of the
    lookup are learned before the answers show it."""
    seconds: float = 0.0


def target_loss(
    model: Any,
    batch: dict[str, Any],
    lookup_weights: Mapping[str, float] | None = None,
    letter_smoothing: float = 0.0,
) -> Any:
    """Next-token cross-entropy over the target tokens of a collated batch, a weighted mean in which
    a token read from the image (a grounding row's query position) weighs ``lookup_weights`` of its
    kind of lookup, and every other token 1. At the answer letter the target is the letter with
    probability ``1 - letter_smoothing``, the rest spread evenly over the question's other letters
    (the calibration stage, :mod:`robustcot.organism.calibrate`)."""
    import torch
    import torch.nn.functional as F

    hidden = model.model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        mm_token_type_ids=batch["mm_token_type_ids"],
        pixel_values=batch.get("pixel_values"),
        image_grid_thw=batch.get("image_grid_thw"),
    ).last_hidden_state[:, :-1]
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    logits = model.lm_head(hidden[keep]).float()
    losses = F.cross_entropy(logits, labels[keep], reduction="none")
    if letter_smoothing > 0:
        row, position, letter, options = batch["answers"].unbind(1)
        at = (keep.flatten().cumsum(0) - 1).view(keep.shape)[row, position]  # index among kept tokens
        slots = torch.arange(len(batch["letter_ids"]))
        spread = (letter_smoothing / (options - 1))[:, None] * (slots[None] < options[:, None])
        target = torch.where(slots[None] == letter[:, None], 1.0 - letter_smoothing, spread)
        smoothed = -(target * logits[at].log_softmax(-1)[:, batch["letter_ids"]]).sum(1)
        losses = losses.index_put((at,), smoothed)
    weights = torch.ones(labels.shape)
    if (lookups := batch.get("grounding")) is not None and len(lookups):
        per_kind = torch.tensor([(lookup_weights or {}).get(kind, 1.0) for kind in LOOKUP_KINDS])
        weights[lookups[:, 0], lookups[:, 1]] = per_kind[lookups[:, 3]]
    weights = weights[keep]
    return (losses * weights).sum() / weights.sum()


class CellProbe:
    """The auxiliary scene-graph loss: a linear head on the image tokens the vision tower emits.

    It reads the merger's output through a forward hook. With the organism's window covering the
    whole image, the merger emits tokens in raster order, the order of
    :func:`~robustcot.organism.traces.cell_labels`.
    """

    def __init__(self, model: Any) -> None:
        import torch

        self.head = torch.nn.Linear(model.config.text_config.hidden_size, N_CELL_CLASSES)
        self._features = None
        self._hook = model.model.visual.merger.register_forward_hook(self._keep)

    def _keep(self, module: Any, inputs: Any, output: Any) -> None:
        self._features = output

    def loss(self, cells: Any) -> Any:
        import torch.nn.functional as F

        return F.cross_entropy(self.head(self._features), cells)

    def remove(self) -> None:
        self._hook.remove()


class DecoderLayerProbe:
    """A linear head on the output of one decoder layer of the language model, read by a forward
    hook; subclasses say which tokens it reads and what it names."""

    def __init__(self, model: Any, layer: int, n_outputs: int) -> None:
        import torch

        self.head = torch.nn.Linear(model.config.text_config.hidden_size, n_outputs)
        self._features = None
        self._hook = model.model.language_model.layers[layer].register_forward_hook(self._keep)

    def _keep(self, module: Any, inputs: Any, output: Any) -> None:
        self._features = output[0] if isinstance(output, tuple) else output

    def remove(self) -> None:
        self._hook.remove()


class PositionProbe(DecoderLayerProbe):
    """The auxiliary grid-position loss: linear heads for row and column on the language model's
    image tokens."""

    def __init__(self, model: Any, layer: int, grid: int) -> None:
        super().__init__(model, layer, 2 * grid)
        self.grid = grid
        self.image_token_id = model.config.image_token_id

    def loss(self, input_ids: Any) -> Any:
        """Cross-entropy of row and column; image tokens come in raster order, ``grid``² per image."""
        import torch
        import torch.nn.functional as F

        mask = input_ids == self.image_token_id
        logits = self.head(self._features[mask])
        cell = torch.arange(self.grid * self.grid).repeat(int(mask.sum()) // (self.grid * self.grid))
        row, col = cell // self.grid, cell % self.grid
        return F.cross_entropy(logits[:, : self.grid], row) + F.cross_entropy(logits[:, self.grid :], col)


class LetterProbe(DecoderLayerProbe):
    """The auxiliary letter-binding loss: a linear head on the language model's option-text tokens,
    trained to name each option's letter."""

    def __init__(self, model: Any, layer: int) -> None:
        super().__init__(model, layer, len(LETTERS))

    def loss(self, options: Any) -> Any:
        """Cross-entropy of the letter at each (row, position, option index) of a batch's ``options``."""
        import torch.nn.functional as F

        row, position, index = options.unbind(1)
        return F.cross_entropy(self.head(self._features[row, position]), index)


class ReadProbe(DecoderLayerProbe):
    """The auxiliary read loss: a linear head on the output of the grounding layer, at each position
    that predicts a word read from the image, trained to name that word."""

    def __init__(self, model: Any, layer: int) -> None:
        super().__init__(model, layer, model.config.text_config.vocab_size)

    def loss(self, batch: dict[str, Any]) -> Any | None:
        """Cross-entropy of the next token at each distinct (row, query) of the batch's
        ``grounding`` rows (a count's query has a row per counted object); None without any."""
        import torch
        import torch.nn.functional as F

        lookups = batch.get("grounding")
        if lookups is None or len(lookups) == 0:
            return None
        row, query = torch.unique(lookups[:, :2], dim=0).unbind(1)
        return F.cross_entropy(self.head(self._features[row, query]), batch["input_ids"][row, query + 1])


class AttentionTarget:
    """An auxiliary loss that points one attention head at a known token: −log of its attention
    weight there, at the positions the batch names under ``key`` (rows of (row, query, key position,
    slot)); ``heads[slot]`` is the head pointed.

    Two stand-ins for skills a pretrained VLM arrives with, each a lookup that stayed at chance for
    thousands of steps when only the next-token loss taught it (docs/organism.md):

    * ``grounding``: where a think reads an attribute of a named object ("The red circle is in
      column ..."), look at that object's image token;
    * ``pointing``: where the answer letter is predicted, look at the text of the option the think
      concluded, in the prompt's option list (its letter is two tokens before it).

    The weights are read by a forward hook on one layer's self-attention. The text model runs with
    eager attention while a target is attached (the only implementation that returns the weights);
    sdpa is restored before the checkpoint is saved. Eager only in the layers read, sdpa elsewhere,
    made a step ~5% faster but changed the floating-point results, so the packaged checkpoint would
    no longer be what this code trains from its seed; not kept (docs/performance.md).
    """

    def __init__(self, model: Any, key: str, layer: int, heads: list[int | None]) -> None:
        import torch

        n_layers = model.config.text_config.num_hidden_layers
        n_heads = model.config.text_config.num_attention_heads
        if layer >= n_layers or max((h for h in heads if h is not None), default=0) >= n_heads:
            raise ValueError(
                f"{key} heads {heads} of layer {layer} do not all exist ({n_layers} layers, {n_heads} heads)"
            )
        self.model = model
        self.key = key
        self.heads = torch.tensor([-1 if h is None else h for h in heads])
        """Head per slot; -1: that slot's rows are not pointed."""
        self._weights = None
        model.set_attn_implementation({"text_config": "eager"})
        attention = model.model.language_model.layers[layer].self_attn
        self._hook = attention.register_forward_hook(self._keep)

    def _keep(self, module: Any, inputs: Any, output: Any) -> None:
        self._weights = output[1]

    def loss(self, batch: dict[str, Any]) -> Any | None:
        """Cross-entropy of the head's attention against a uniform distribution over each query's
        targets, averaged over queries; None when the batch has none. With one target per query
        this is −log of the attention weight there."""
        import torch

        targets = batch.get(self.key)
        if targets is not None:
            targets = targets[self.heads[targets[:, 3]] >= 0]
        if targets is None or len(targets) == 0:
            return None
        row, query, key, slot = targets.unbind(1)
        weights = self._weights[row, self.heads[slot], query, key]
        _, group, size = torch.unique(targets[:, :2], dim=0, return_inverse=True, return_counts=True)
        nll = -torch.log(weights.float().clamp_min(1e-9)) / size[group]
        return nll.sum() / len(size)

    def remove(self) -> None:
        self._hook.remove()
        self.model.set_attn_implementation("sdpa")


class LinearPatchEmbedding:
    """The vision tower's patch embedding computed as one matrix product while training.

    Qwen2.5-VL embeds patches with a bias-free Conv3d whose kernel equals its stride: a linear map
    of each flattened patch. On a CPU the convolution took ~10 ms forward and backward for a batch's
    1 024 patches, the same product as a linear layer ~2 ms (bench/bench_organism_speed.py), ~5% of
    an SFT step. The weights are the convolution's own, viewed as a matrix, so the saved checkpoint
    is unchanged in form; results agree to ~4e-6.
    """

    def __init__(self, model: Any) -> None:
        import torch.nn.functional as F

        self.embed = model.model.visual.patch_embed
        weight = self.embed.proj.weight
        self.embed.forward = lambda pixels: F.linear(pixels.to(weight.dtype), weight.view(len(weight), -1))

    def remove(self) -> None:
        del self.embed.forward


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up then cosine decay to 10% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def save_checkpoint(model: Any, processor: Any, out: Path, meta: dict[str, Any]) -> Path:
    """Weights (safetensors), tokenizer, processor, the prompt profile and the recipe that made them."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    write_checkpoint_profile(out, ORGANISM.name)
    (out / "organism.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


def train_sft(
    config: SFTConfig,
    out: Path,
    *,
    save_every: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
    prefetch: bool | None = None,
) -> SFTResult:
    """Train the organism from random weights and save it to ``out``; deterministic for a seed.

    ``save_every`` also saves ``out/steps/<step>`` along the way, for learning curves. ``prefetch``
    builds the batches in a worker process (:mod:`robustcot.organism.batches`), else in line (same
    weights either way). None: a worker when the training threads leave a core free — on 2 cores it
    made a one-thread step 1.11× faster and a two-thread step 0.89× as fast (it competes for the
    cores; bench/bench_organism_speed.py).
    """
    import torch

    from robustcot.organism.batches import prefetched
    from robustcot.organism.recipe import ARCHITECTURE, build_model, build_processor, build_tokenizer

    unknown = set(config.mix) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown trace kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    unknown = set(config.focus_families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown question families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    model = build_model(tokenizer, config.seed).train()
    patch_embedding = LinearPatchEmbedding(model)
    probe = CellProbe(model) if config.aux_weight > 0 else None
    where = PositionProbe(model, config.position_layer, GRID) if config.position_weight > 0 else None
    binding = LetterProbe(model, config.letter_layer) if config.letter_weight > 0 else None
    reader = ReadProbe(model, config.ground_layer) if config.read_weight > 0 else None
    targets = []
    if config.ground_weight > 0:
        heads = [config.ground_heads.get(k) for k in LOOKUP_KINDS]
        targets.append(AttentionTarget(model, "grounding", config.ground_layer, heads))
    if config.point_weight > 0:
        targets.append(AttentionTarget(model, "pointing", config.point_layer, [config.point_head]))
    params = list(model.named_parameters())
    probes = [aux for aux in (probe, where, binding, reader) if aux]
    params += [(f"probe.{n}", p) for aux in probes for n, p in aux.head.named_parameters()]
    decay = [p for n, p in params if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in params if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.warmup_steps, config.steps)
    )
    weights = {
        "cells": config.aux_weight,
        "position": config.position_weight,
        "grounding": config.ground_weight,
        "pointing": config.point_weight,
        "letters": config.letter_weight,
        "reads": config.read_weight,
    }
    result = SFTResult(checkpoint=out)
    for step, batch in enumerate(prefetched(config, processor, prefetch)):
        with_images = step >= config.text_warmup_steps
        loss = target_loss(model, batch, config.lookup_loss_weights)
        aux = {}
        if probe and with_images:
            aux["cells"] = probe.loss(batch["cells"])
        if where and with_images:
            aux["position"] = where.loss(batch["input_ids"])
        if binding:
            aux["letters"] = binding.loss(batch["options"])
        if reader and (value := reader.loss(batch)) is not None:
            aux["reads"] = value
        for target in targets:
            if (value := target.loss(batch)) is not None:
                aux[target.key] = value
        total = loss + sum(weights[k] * v for k, v in aux.items())
        total.backward()
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        result.losses.append(float(loss.detach()))
        if aux:
            result.probe_losses.append({k: float(v.detach()) for k, v in aux.items()})
        if on_step is not None:
            on_step(step, result.losses[-1])
        if save_every and (step + 1) % save_every == 0 and step + 1 < config.steps:
            save_checkpoint(
                model, processor, out / "steps" / str(step + 1), {"stage": "sft", "step": step + 1}
            )
    result.seconds = time.perf_counter() - start
    for aux in (probe, where, binding, reader, *targets, patch_embedding):
        if aux is not None:
            aux.remove()
    meta = {
        "stage": "sft",
        "sft": config.model_dump(),
        "architecture": ARCHITECTURE,
        "train_seconds": round(result.seconds, 1),
        "final_loss": result.losses[-1],
    }
    save_checkpoint(model.eval(), processor, out, meta)
    return result
