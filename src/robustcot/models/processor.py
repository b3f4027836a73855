"""Processors for Qwen2-VL-family models that work without torchvision.

``AutoProcessor`` for Qwen2.5-VL also builds a *video* processor, which imports torchvision; on
machines without it (CPU-only installs where no torchvision wheel exists) the processor cannot be
built at all. Images never need torchvision: transformers ships a PIL/numpy image processor for
the same model family. This module assembles the real ``Qwen2_5_VLProcessor`` from that image
processor and the model's tokenizer, with no video processor.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def image_only_processor(
    tokenizer: Any,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    chat_template: str | None = None,
    image_processor_kwargs: dict[str, Any] | None = None,
):
    """A ``Qwen2_5_VLProcessor`` whose image processor is transformers' PIL backend."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    kwargs = dict(image_processor_kwargs or {})
    if min_pixels is not None:
        kwargs["min_pixels"] = min_pixels
    if max_pixels is not None:
        kwargs["max_pixels"] = max_pixels
    image_processor = Qwen2VLImageProcessorPil(**kwargs)
    template = chat_template or getattr(tokenizer, "chat_template", None)
    return _image_only_class()(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)


@functools.cache
def _image_only_class():
    """``Qwen2_5_VLProcessor`` with the video processor removed from its sub-processors.

    ``ProcessorMixin`` derives the required sub-processors from ``__init__``'s parameters, so the
    subclass only narrows the signature; prompt expansion and image handling stay transformers' own.
    Built on first use (transformers is slow to import) and then always the same class, reachable as
    this module's ``ImageOnlyQwen2_5_VLProcessor``, so processors pickle (data-loader workers).
    """
    from transformers import Qwen2_5_VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            self.video_processor = None
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    ImageOnlyQwen2_5_VLProcessor.__module__ = __name__
    ImageOnlyQwen2_5_VLProcessor.__qualname__ = ImageOnlyQwen2_5_VLProcessor.__name__
    return ImageOnlyQwen2_5_VLProcessor


def __getattr__(name: str) -> Any:
    """Module attribute hook (PEP 562): where pickle finds the image-only processor class."""
    if name == "ImageOnlyQwen2_5_VLProcessor":
        return _image_only_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_processor(path: str | Path, *, min_pixels: int | None = None, max_pixels: int | None = None):
    """Load a model's processor, falling back to the image-only path when torchvision is missing.

    With torchvision present, ``AutoProcessor`` is used as-is (pixel limits passed through). The
    fallback reads the saved image-processor settings so resizing matches what the model was
    trained with.
    """
    from transformers import AutoProcessor, AutoTokenizer

    pixel_kwargs = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    if has_torchvision():
        return AutoProcessor.from_pretrained(path, **pixel_kwargs)
    saved = _saved_image_processor_config(path)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    settings = {
        k: saved[k]
        for k in ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std", "size")
        if k in saved
    }
    settings.setdefault("min_pixels", saved.get("min_pixels"))
    settings.setdefault("max_pixels", saved.get("max_pixels"))
    settings = {k: v for k, v in settings.items() if v is not None}
    if pixel_kwargs:
        settings.pop("size", None)
        settings.update(pixel_kwargs)
    template = getattr(tokenizer, "chat_template", None) or _saved_chat_template(path)
    return image_only_processor(tokenizer, chat_template=template, image_processor_kwargs=settings)


def _saved_file(path: str | Path, names: tuple[str, ...]) -> tuple[str, Path] | None:
    """The first of ``names`` saved with the model (local folder or hub cache), and where it is.

    Processor settings and chat templates have each been saved under more than one file name across
    transformers versions, so the lookup tries each name in order of preference.
    """
    from transformers.utils import cached_file

    for name in names:
        try:
            file = cached_file(str(path), name, _raise_exceptions_for_missing_entries=False)
        except OSError:
            file = None
        if file:
            return name, Path(file)
    return None


def _saved_image_processor_config(path: str | Path) -> dict[str, Any]:
    found = _saved_file(path, ("preprocessor_config.json", "processor_config.json"))
    if found is None:
        return {}
    data = json.loads(found[1].read_text())
    return data.get("image_processor", data)


def _saved_chat_template(path: str | Path) -> str | None:
    found = _saved_file(path, ("chat_template.jinja", "chat_template.json"))
    if found is None:
        return None
    name, file = found
    text = file.read_text()
    return json.loads(text)["chat_template"] if name.endswith(".json") else text
