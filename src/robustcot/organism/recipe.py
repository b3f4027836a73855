"""The organism's architecture and tokenizer: a small Qwen2.5-VL sized for the synthetic scenes.

The sizes follow the scenes, not a scaled-down 7B: a 112 px image is 8×8 patches of 14 px, and the
2×2 patch merger turns it into 4×4 image tokens, one per cell of the scene grid (each cell holds at
most one object). The vision window covers the whole image, so every vision block attends over all
64 patches in one call instead of four window calls per image, which is what the time goes on at
this size on a CPU.

Input and output embeddings are untied (as in Qwen2.5-VL-7B). Tied, the output gradient pulls every
colour word towards one "a colour comes next" direction (measured cosine similarity 0.97 between
colour embeddings after 600 steps); as inputs they then look alike, the model cannot copy the object
named in the question, and training sits on a plateau at chance. For the same reason the input
embeddings start at unit scale instead of the config's 0.02: a token's identity must dominate the
residual stream from the first step, or the layers' outputs drown it before copying is learned.

The tokenizer is the ``tiny`` model's byte-level BPE retrained on the organism's own prompts and
traces, with the think/answer tags as single tokens: every word of the benchmark becomes one token,
which cut a training sequence from ~200 to ~130 tokens (~72 since the ``organism`` prompt
profile). Pre-tokenisation still splits letters from punctuation, so option letters stay separate
tokens and the letter readout works unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast, ProcessorMixin, Qwen2_5_VLForConditionalGeneration

#: Everything that determines the untrained organism; stored next to the checkpoint.
ARCHITECTURE: dict[str, Any] = {
    "vocab_size": 1536,
    "embedding_std": 1.0,
    "linear_std": 0.09,
    "text": {
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "max_position_embeddings": 1024,
        "rope_theta": 10000.0,
        "mrope_section": [2, 3, 3],
    },
    "vision": {
        "depth": 2,
        "hidden_size": 96,
        "intermediate_size": 192,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "fullatt_block_indexes": [1],
        "window_size": 112,
    },
    "image": {"min_pixels": 112 * 112, "max_pixels": 112 * 112},
}

#: Tags the traces use; single tokens so a trace costs fewer steps and the answer marker is exact.
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")


def build_tokenizer(vocab_size: int = ARCHITECTURE["vocab_size"]) -> PreTrainedTokenizerFast:
    """Retrain the ``tiny`` tokenizer's pipeline on the organism's texts (deterministic).

    The corpus is rendered with the organism's processor around the ``tiny`` tokenizer: rendering
    only needs the chat template.
    """
    from tokenizers import AddedToken

    from robustcot.models.tiny import build_tokenizer as tiny_tokenizer
    from robustcot.organism.traces import tokenizer_corpus

    base = tiny_tokenizer()
    corpus = tokenizer_corpus(build_processor(base))
    tokenizer = base.train_new_from_iterator(corpus, vocab_size=vocab_size, show_progress=False)
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in TAG_TOKENS])
    tokenizer.padding_side = "left"
    return tokenizer


def build_processor(tokenizer: PreTrainedTokenizerFast) -> ProcessorMixin:
    """Image-only Qwen2.5-VL processor that keeps the 112 px scenes at exactly 4×4 image tokens,
    with a chat template that writes no default system turn (the ``organism`` prompt profile)."""
    from robustcot.models.chat_template import NO_DEFAULT_SYSTEM_CHAT_TEMPLATE
    from robustcot.models.processor import image_only_processor

    return image_only_processor(
        tokenizer, **ARCHITECTURE["image"], chat_template=NO_DEFAULT_SYSTEM_CHAT_TEMPLATE
    )


def build_model(tokenizer: PreTrainedTokenizerFast, seed: int) -> Qwen2_5_VLForConditionalGeneration:
    """A freshly initialised organism; ``seed`` fixes the initial weights."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from robustcot.models.tiny import qwen25_vl_config

    config = qwen25_vl_config(
        tokenizer, ARCHITECTURE["text"], ARCHITECTURE["vision"], tie_word_embeddings=False
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, ARCHITECTURE["embedding_std"])
        for module in model.model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, ARCHITECTURE["linear_std"])
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    return model
