"""The built-in ``tiny`` model: a randomly initialised Qwen2.5-VL with a locally trained tokenizer.

It has the same model class, processor class and chat layout as Qwen2.5-VL-7B, so tests and the
demo exercise the real code paths (image placeholders, M-RoPE positions, batched left-padded
generation, prefill) without downloading anything. It is built deterministically in seconds and
cached in the user cache directory, keyed by a hash of its recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import tempfile
from pathlib import Path

from platformdirs import user_cache_dir

from robustcot.models.chat_template import QWEN_STYLE_CHAT_TEMPLATE

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

#: Everything that determines the built artefact; changing any value changes the cache key.
RECIPE = {
    "version": 1,
    "seed": 1234,
    "vocab_size": 1024,
    "text": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rope_theta": 10000.0,
        "mrope_section": [2, 3, 3],
    },
    "vision": {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "fullatt_block_indexes": [1],
        "window_size": 56,
    },
    "image": {"min_pixels": 28 * 28, "max_pixels": 112 * 112},
}


def _tokenizer_corpus() -> list[str]:
    """Text the tokenizer's BPE merges are learned from: prompt scaffolding and answer formats.

    Byte-level BPE can encode any text; the corpus only decides which strings get short encodings,
    so it covers the words the synthetic benchmark and the perturbation templates use.
    """
    words = ["the", "a", "an", "is", "are", "of", "to", "in", "on", "and", "or", "but", "not", "which", "what", "where", "how", "many", "there", "image", "picture", "left", "right", "above", "below", "top", "bottom", "red", "green", "blue", "yellow", "purple", "orange", "black", "white", "gray", "circle", "circles", "square", "squares", "triangle", "triangles", "shape", "shapes", "object", "objects", "small", "large", "big", "colour", "color", "size", "count", "number", "answer", "question", "options", "option", "think", "final", "let's", "see", "okay", "should", "be", "this", "that", "it", "I", "could", "wrong", "correct", "maybe", "sure", "not", "I'm", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "zero", "first", "select", "letter", "reason", "step", "explain", "carefully", "looking", "at", "compared", "closer", "further", "side", "face", "camera", "facing", "behind", "front", "description", "caption"]
    lines = []
    for i, w in enumerate(words):
        lines.append(f"{w} {words[(i * 7) % len(words)]} {words[(i * 13) % len(words)]}.")
        lines.append(w.capitalize())
    for letter in string.ascii_uppercase[:8]:
        lines += [
            f"{letter}. option",
            f" {letter}",
            f"({letter})",
            f"<answer>{letter}</answer>",
            f"<answer> {letter} </answer>",
            f"The answer is {letter}.",
        ]
    lines += ["<think>", "</think>", "<answer>", "</answer>", "Options:", "Question:"] * 20
    lines += [str(d) for d in range(100)]
    return lines * 3


def tiny_dir(cache_root: Path | None = None) -> Path:
    """Directory holding the built tiny model for the current recipe."""
    key = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:12]
    root = cache_root or Path(user_cache_dir("robustcot")) / "models"
    return root / f"tiny-qwen2_5_vl-{key}"


def build_tokenizer():
    """Train a small byte-level BPE tokenizer (deterministic for a fixed corpus)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=RECIPE["vocab_size"],
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        chat_template=QWEN_STYLE_CHAT_TEMPLATE,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )


def build_processor(tokenizer):
    """Image-only Qwen2.5-VL processor (see :mod:`robustcot.models.processor`)."""
    from robustcot.models.processor import image_only_processor

    return image_only_processor(tokenizer, **RECIPE["image"], chat_template=QWEN_STYLE_CHAT_TEMPLATE)


def qwen25_vl_config(tokenizer, text: dict, vision: dict, *, tie_word_embeddings: bool):
    """A ``Qwen2_5_VLConfig`` sized by ``text``/``vision`` with the special-token ids of ``tokenizer``."""
    from transformers import Qwen2_5_VLConfig

    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text["hidden_size"],
            "intermediate_size": text["intermediate_size"],
            "num_hidden_layers": text["num_hidden_layers"],
            "num_attention_heads": text["num_attention_heads"],
            "num_key_value_heads": text["num_key_value_heads"],
            "max_position_embeddings": text["max_position_embeddings"],
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": text["rope_theta"],
                "mrope_section": text["mrope_section"],
            },
            "tie_word_embeddings": tie_word_embeddings,
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**vision, "out_hidden_size": text["hidden_size"]},
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=tie_word_embeddings,
    )


def build_model(tokenizer):
    """A randomly initialised Qwen2.5-VL sized to run on a laptop CPU."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    config = qwen25_vl_config(tokenizer, RECIPE["text"], RECIPE["vision"], tie_word_embeddings=True)
    torch.manual_seed(RECIPE["seed"])
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    return model.eval()


def ensure_tiny(cache_root: Path | None = None) -> Path:
    """Build the tiny model into the cache if it is not there yet; return its directory.

    The build is written to a temporary sibling directory and renamed into place, so concurrent
    test workers or an interrupted build never leave a half-written model behind.
    """
    target = tiny_dir(cache_root)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    model = build_model(tokenizer)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "robustcot_recipe.json").write_text(json.dumps(RECIPE, indent=2))
    try:
        os.rename(tmp, target)
    except OSError:  # another process won the race; its copy is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target
