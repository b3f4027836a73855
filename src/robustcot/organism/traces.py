"""Supervised traces for the organism, rendered exactly as evaluation renders its prompts.

A trace is a prompt (the chat-templated user turn, plus an assistant prefill for some kinds) and the
target continuation the model learns to write. Prompts go through the same pieces as evaluation:
:func:`robustcot.perturb.variants.perturb` for captions and prefills, the ``organism`` profile's user
text (:data:`robustcot.prompting.profiles.ORGANISM`: question and options, no instruction), and the
chat template with ``continue_final_message`` for prefills (the parity with
:meth:`robustcot.models.hf.HFBackend.render` is tested). What the model learns at training time is
therefore exactly what it is asked at evaluation time.

The reasoning is templated from the scene graph: the think is the gold option's statement, the
sentence an injected think asserts for its option. The kinds of trace set which phenomena the
organism shows:

``base``     no perturbation; think states the gold fact, answer is the gold letter.
``caption``  a *correct* caption precedes the question. Captions are always true in training, so
             relying on them is rewarded: the shortcut that a wrong caption later exploits.
``stop``     the ``stop_think`` prefill; the answer must come from the image alone.
``follow``   a prefilled think asserting a random option (the sample's wrong one or the gold one),
             and the answer follows the think. This is the "reasoning determines the answer" habit
             that makes injected wrong reasoning propagate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from robustcot.data.sample import Sample, option_letter
from robustcot.data.scene import COLOURS, SHAPES, SIZES
from robustcot.data.synthetic import synthetic_sample
from robustcot.organism.thinks import LOOKUP_KINDS, lookups, worked_think
from robustcot.perturb.variants import perturb, statements
from robustcot.prompting.conversation import Conversation
from robustcot.prompting.profile import PromptProfile
from robustcot.prompting.profiles import ORGANISM

KINDS = ("base", "caption", "stop", "follow")
#: Scene seeds at or above this are training scenes; evaluation uses small seeds (0 by default).
TRAIN_SCENE_SEED = 1_000_000
IGNORE = -100


@dataclass(frozen=True)
class Trace:
    """One supervised example: ``prompt`` is fully rendered (prefill included), ``target`` continues it."""

    sample: Sample
    kind: str
    prompt: str
    target: str
    answer_index: int
    """The option the target answers (the asserted one for ``follow`` traces)."""
    lookups: tuple[tuple[int, tuple[int, ...], str], ...] = ()
    """Where the target reads the image: (character offset in ``target`` of the read word, the grid
    cells of the objects read, what is read); see :func:`robustcot.organism.thinks.lookups`."""


def render_prompt(processor: Any, conversation: Conversation) -> str:
    """Chat-template a conversation the way :meth:`HFBackend.render` does (prefills continued, not closed)."""
    prefill = conversation.prefill
    return processor.apply_chat_template(
        conversation.messages(image_placeholder=""),
        tokenize=False,
        add_generation_prompt=not prefill,
        continue_final_message=bool(prefill),
    )


def reasoning(sample: Sample, statement: str, profile: PromptProfile = ORGANISM) -> str:
    """The templated think for a fact: the worked steps that lead to the statement, then the statement.

    The injected-reasoning opener ("Let me look at the image carefully.") is left out of the
    model's own thinks: in a text-only probe on size questions it slowed learning to copy the
    object named in the question (loss on the copied colour after 100 steps: 1.9 with it, 0.37
    without). Injected thinks keep it, so they remain recognisably injected text.
    """
    return profile.think_open + worked_think(sample, statement.strip()) + profile.think_close


def answer(index: int) -> str:
    return f"<answer>{option_letter(index)}</answer>"


def make_trace(
    sample: Sample, kind: str, processor: Any, *, seed: int, profile: PromptProfile = ORGANISM
) -> Trace:
    """Build one trace of ``kind``; ``seed`` picks the asserted option of a ``follow`` trace."""
    gold = sample.gold_index
    tags = {"think_open": profile.think_open, "think_close": profile.think_close}
    index = gold
    looked_up: list[tuple[int, tuple[int, ...], str]] = []
    if kind in ("base", "caption"):
        pp = perturb(sample, "base" if kind == "base" else "correct_caption", **tags)
        think = reasoning(sample, statements(sample)[gold], profile)
        target = think + answer(gold)
        looked_up = lookups(sample, think)
    elif kind == "stop":
        pp = perturb(sample, "stop_think", **tags)
        target = answer(gold)
    elif kind == "follow":
        variant = "correct_think" if _coin(sample.id, seed) else "wrong_think"
        pp = perturb(sample, variant, seed=seed, **tags)
        index = pp.injected_index
        target = "." + profile.think_close + answer(index)
    else:
        raise ValueError(f"unknown trace kind {kind!r}; known: {', '.join(KINDS)}")
    conv = profile.conversation(pp.question, pp.options, sample.load_images(), prefill=pp.prefill)
    return Trace(sample, kind, render_prompt(processor, conv), target, index, tuple(looked_up))


def _coin(sample_id: str, seed: int) -> bool:
    """A fair, process-independent coin per (sample, seed)."""
    return hashlib.sha256(f"{seed}\x00{sample_id}\x00follow".encode()).digest()[0] < 128


def trace_stream(
    processor: Any, mix: Mapping[str, float], *, seed: int, image_size: int = 112, start: int = 0
) -> Iterator[Trace]:
    """Endless traces over fresh training scenes; trace ``i`` depends only on ``(seed, i)``.

    Scenes come from synthetic seed ``TRAIN_SCENE_SEED + seed``, never an evaluation seed.
    """
    kinds = [k for k in KINDS if mix.get(k, 0) > 0]
    unknown = set(mix) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"trace mix {dict(mix)} must give a positive weight to some of {KINDS}")
    weights = np.array([mix[k] for k in kinds], dtype=float)
    weights /= weights.sum()
    i = start
    while True:
        sample = synthetic_sample(i, seed=TRAIN_SCENE_SEED + seed, image_size=image_size, png=False)
        kind = kinds[int(np.random.default_rng([seed, i]).choice(len(kinds), p=weights))]
        yield make_trace(sample, kind, processor, seed=seed + i)
        sample.release_images()
        i += 1


def tokenizer_corpus(processor: Any, n: int = 400, seed: int = 0) -> list[str]:
    """Prompts and targets of every kind (all evaluation variants too), to train the tokenizer on."""
    from robustcot.perturb.variants import VARIANTS

    texts: list[str] = []
    for i in range(n):
        sample = synthetic_sample(i, seed=TRAIN_SCENE_SEED + seed)
        for kind in KINDS:
            trace = make_trace(sample, kind, processor, seed=seed + i)
            texts += [trace.prompt, trace.target]
        for variant in VARIANTS:
            pp = perturb(sample, variant, abstain=bool(i % 2), seed=seed)
            texts.append(ORGANISM.user_text(pp.question, pp.options) + (pp.prefill or ""))
    return texts


def cell_labels(sample: Sample) -> list[int]:
    """One class per scene-grid cell in raster order: 0 for empty, else the object's (shape, colour, size).

    The 112 px scenes map each 4×4 grid cell onto exactly one merged image token, so these are the
    labels of the image tokens, in the order the vision tower emits them.
    """
    scene = sample.metadata["scene"]
    grid = scene["grid"]
    labels = [0] * (grid * grid)
    for o in scene["objects"]:
        kind = (SHAPES.index(o["shape"]) * len(COLOURS) + COLOURS.index(o["colour"])) * len(SIZES)
        labels[o["row"] * grid + o["col"]] = 1 + kind + SIZES.index(o["size"])
    return labels


#: Number of classes :func:`cell_labels` uses.
N_CELL_CLASSES = 1 + len(SHAPES) * len(COLOURS) * len(SIZES)


def collate(processor: Any, traces: list[Trace], *, images: bool = True) -> dict[str, Any]:
    """Right-padded token ids, labels on the target tokens only, pixel values and per-cell labels.

    ``mm_token_type_ids`` marks the image tokens; without it the model falls back to 1-D positions,
    so training would see other positions than evaluation (whose processor output carries it).
    ``images=False`` drops the image from the prompts (the language warm-up of
    :mod:`robustcot.organism.sft`); the batch then has no pixel values and no cell labels.
    ``answers`` has a row (row, position that predicts the answer letter, the letter's option index,
    number of options) per trace, and ``letter_ids`` the token of each option letter, for
    :func:`robustcot.organism.sft.target_loss`'s letter smoothing. ``options`` has a row (row,
    position of an option's text in the prompt's list, its option index) per listed option, for
    the letter-binding probe of :mod:`robustcot.organism.sft`.
    """
    import torch

    tokenizer = processor.tokenizer
    if not images:
        vision = processor.tokenizer.convert_ids_to_tokens(processor.image_token_id)
        prompts = [t.prompt.replace(f"<|vision_start|>{vision}<|vision_end|>", "") for t in traces]
        enc = processor(text=prompts, padding=False)
    else:
        pixels: list[Image.Image] = [img for t in traces for img in t.sample.load_images()]
        enc = processor(text=[t.prompt for t in traces], images=pixels, padding=False)
    rows, labels, types, grounding, pointing, answers, options = [], [], [], [], [], [], []
    for b, (prompt_ids, prompt_types, trace) in enumerate(
        zip(enc["input_ids"], enc["mm_token_type_ids"], traces, strict=True)
    ):
        prompt_ids = list(prompt_ids)
        target = tokenizer(
            trace.target + tokenizer.eos_token, add_special_tokens=False, return_offsets_mapping=True
        )
        target_ids = target["input_ids"]
        if images:
            grounding += _grounding(b, prompt_ids, target["offset_mapping"], trace, processor.image_token_id)
        answer_at = len(prompt_ids) + _answer_position(target_ids, trace, tokenizer) - 1
        answers.append((b, answer_at, trace.answer_index, len(trace.sample.options)))
        listed = _listed_options(prompt_ids, trace, tokenizer)
        options += [(b, position, index) for index, position in enumerate(listed)]
        if trace.kind in POINTING_KINDS:
            pointing.append((b, answer_at, listed[trace.answer_index], 0))
        rows.append(prompt_ids + target_ids)
        labels.append([IGNORE] * len(prompt_ids) + target_ids)
        types.append(list(prompt_types) + [0] * len(target_ids))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    batch = {
        "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        "labels": torch.tensor([lab + [IGNORE] * (width - len(lab)) for lab in labels]),
        "mm_token_type_ids": torch.tensor([t + [0] * (width - len(t)) for t in types]),
    }
    if images:
        batch["pixel_values"] = torch.as_tensor(np.asarray(enc["pixel_values"]), dtype=torch.float32)
        batch["image_grid_thw"] = torch.as_tensor(np.asarray(enc["image_grid_thw"]))
        batch["cells"] = torch.tensor([c for t in traces for c in cell_labels(t.sample)])
        batch["grounding"] = torch.tensor(grounding, dtype=torch.long).reshape(-1, 4)
    batch["pointing"] = torch.tensor(pointing, dtype=torch.long).reshape(-1, 4)
    batch["options"] = torch.tensor(options, dtype=torch.long).reshape(-1, 3)
    batch["answers"] = torch.tensor(answers, dtype=torch.long)
    n_letters = max(len(t.sample.options) for t in traces)
    batch["letter_ids"] = torch.tensor(
        [tokenizer.convert_tokens_to_ids(option_letter(i)) for i in range(n_letters)]
    )
    return batch


def _grounding(
    row: int, prompt_ids: list[int], offsets: list[tuple[int, int]], trace: Trace, image_token_id: int
) -> list[tuple[int, int, int, int]]:
    """(row, position that predicts a read word, position of a token to attend to there, index of
    what is read in :data:`~robustcot.organism.thinks.LOOKUP_KINDS`); one tuple per token attended.

    A coordinate or attribute attends to its object's image token. A count attends equally to every
    counted object's image token and to ``<|vision_start|>`` (the token before the image): with that
    fixed sink the head's output mixes one part sink with n parts object, a mixture that says n.
    """
    image_positions = [i for i, t in enumerate(prompt_ids) if t == image_token_id]
    sink = image_positions[0] - 1
    found = []
    for offset, cells, kind in trace.lookups:
        token = next(j for j, (_, end) in enumerate(offsets) if end > offset)
        keys = [image_positions[c] for c in cells] + ([sink] if kind == "count" else [])
        found += [(row, len(prompt_ids) + token - 1, key, LOOKUP_KINDS.index(kind)) for key in keys]
    return found


#: Trace kinds whose answer letter follows from text the model has written or been given (the
#: think); ``stop`` traces answer from the image alone, so nothing in the text says where to look.
POINTING_KINDS = ("base", "caption", "follow")


def _answer_position(target_ids: list[int], trace: Trace, tokenizer: Any) -> int:
    """Index in ``target_ids`` of the answer letter (the target's last token of that letter)."""
    letter = tokenizer.convert_tokens_to_ids(option_letter(trace.answer_index))
    return len(target_ids) - 1 - target_ids[::-1].index(letter)


def _listed_options(prompt_ids: list[int], trace: Trace, tokenizer: Any) -> list[int]:
    """Position of each option's text in the prompt's option list, in option order.

    The list reads "\nB. large\n": an option's text is the token after its letter and dot. The
    pointing target (row, position that predicts the answer letter, the answer's listed position,
    slot 0: the pointing target has one head) is built from these.
    """
    letters = {tokenizer.convert_tokens_to_ids(option_letter(i)): i for i in range(len(trace.sample.options))}
    dot = tokenizer.convert_tokens_to_ids(".")
    listed: dict[int, list[int]] = {i: [] for i in letters.values()}
    for i in range(1, len(prompt_ids) - 2):
        if (
            prompt_ids[i] in letters
            and prompt_ids[i + 1] == dot
            and tokenizer.decode(prompt_ids[i - 1]).endswith("\n")
        ):
            listed[letters[prompt_ids[i]]].append(i + 2)
    for index, positions in listed.items():
        if len(positions) != 1:
            raise ValueError(
                f"trace of {trace.sample.id}: option {option_letter(index)} is listed {len(positions)} times"
            )
    return [positions[0] for positions in listed.values()]
