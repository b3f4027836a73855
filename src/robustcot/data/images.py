"""Image policy: decode lazily, resize very large images the way Qwen2.5-VL's processor would.

Why resize before the processor at all? MME-RealWorld remote-sensing images exceed 5000×5000 and
V* images are ~2000×1500: holding a batch of decoded originals costs gigabytes, API backends pay
per image token, and the HF processor would shrink them anyway. The default policy reproduces the
processor's own ``smart_resize`` (transformers' implementation, imported — not re-written): both
sides a multiple of ``factor`` = patch 14 × merge 2 = 28, pixel count within
``[min_pixels, max_pixels]``, aspect ratio kept, BICUBIC resampling. Because ``smart_resize`` is
idempotent on its own output, an image resized here passes through the processor unchanged, so a
model sees the same pixels whether or not this policy ran (the tests check this).

Defaults are those of the released Qwen2.5-VL-7B-Instruct ``preprocessor_config.json`` as used by
qwen-vl-utils: ``min_pixels = 4·28·28 = 3136``, ``max_pixels = 16384·28·28 = 12 845 056``. Lower
``max_pixels`` (e.g. ``1280·28·28``, the model card's suggestion for limited memory) to trade
detail for speed; record the policy with the run, since it changes what the model sees.
``max_side`` additionally caps the longer side (ViGoRL's evaluation uses ``max_image_side 1260``).

Failures never crash a run: an unreadable, missing or degenerate image raises
:class:`~robustcot.errors.SampleError` naming the sample, which the evaluation records as that
sample's error row.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image

from robustcot.errors import SampleError

FACTOR = 28
QWEN25_MIN_PIXELS = 4 * FACTOR * FACTOR
QWEN25_MAX_PIXELS = 16384 * FACTOR * FACTOR
MAX_ASPECT_RATIO = 200


def _smart_resize():
    """transformers' Qwen2-VL ``smart_resize`` (the PIL backend's copy needs no torchvision)."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    except ImportError:  # older transformers: the original module (needs torchvision there)
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize
    return smart_resize


@dataclass(frozen=True)
class ImagePolicy:
    """How images are sized before they reach a backend.

    ``max_pixels``/``min_pixels`` of ``None`` disable that bound; with both ``None`` and no
    ``max_side`` images pass through untouched (``NO_RESIZE``).
    """

    max_pixels: int | None = QWEN25_MAX_PIXELS
    min_pixels: int | None = QWEN25_MIN_PIXELS
    factor: int = FACTOR
    max_side: int | None = None
    """Cap on the longer side, applied before the pixel bounds (None: no cap)."""

    @property
    def active(self) -> bool:
        return self.max_pixels is not None or self.min_pixels is not None or self.max_side is not None

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` the policy resizes a ``width``×``height`` image to.

        Raises ``ValueError`` for degenerate images (a zero side, or an aspect ratio above 200:1,
        which Qwen2-VL's processor rejects too).
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image has a zero side ({width}x{height})")
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            raise ValueError(f"aspect ratio {max(width, height) / min(width, height):.0f}:1 exceeds {MAX_ASPECT_RATIO}:1")
        if not self.active:
            return width, height
        w, h = float(width), float(height)
        if self.max_side is not None and max(w, h) > self.max_side:
            scale = self.max_side / max(w, h)
            w, h = w * scale, h * scale
        if self.max_pixels is None and self.min_pixels is None:
            return max(1, round(w)), max(1, round(h))
        new_h, new_w = _smart_resize()(
            height=max(1, round(h)),
            width=max(1, round(w)),
            factor=self.factor,
            min_pixels=self.min_pixels if self.min_pixels is not None else self.factor * self.factor,
            max_pixels=self.max_pixels if self.max_pixels is not None else math.inf,
        )
        return int(new_w), int(new_h)

    def apply(self, image: Image.Image) -> Image.Image:
        """``image`` resized by the policy (the same object when the size does not change)."""
        size = self.target_size(*image.size)
        if size == image.size:
            return image
        return image.resize(size, resample=Image.Resampling.BICUBIC)

    def describe(self) -> dict[str, Any]:
        """Settings to record with a run (the policy changes what the model sees)."""
        return asdict(self)


#: Default: what Qwen2.5-VL-7B-Instruct's processor does to any image.
QWEN25_VL = ImagePolicy()
#: Pass-through (the processor or API then decides).
NO_RESIZE = ImagePolicy(max_pixels=None, min_pixels=None)


def load_images(sample: Any, policy: ImagePolicy = QWEN25_VL) -> list[Image.Image]:
    """Decoded, policy-sized RGB images of ``sample`` (a ``Sample`` or an ``OpenSample``).

    Decoding goes through the sample's own cache (``sample.load_images()``), so variants of one
    sample decode its images once; call ``sample.release_images()`` when done. Any failure becomes
    a :class:`SampleError` naming the sample.
    """
    images = sample.load_images()  # raises SampleError for unreadable images
    out = []
    for i, img in enumerate(images):
        try:
            out.append(policy.apply(img))
        except (ValueError, OSError) as exc:
            raise SampleError(sample.id, f"image {i} cannot be sized: {exc}") from exc
    return out


def check_images(sample: Any) -> str | None:
    """Why ``sample``'s images cannot be used, or None; reads headers only (cheap, for pre-flight).

    ``Image.open`` parses the header without decoding pixels, so this catches missing files,
    truncated headers and non-image bytes for a whole benchmark in seconds.
    """
    import io

    for i, src in enumerate(sample.images):
        try:
            if src.pil is not None:
                continue
            handle = Image.open(io.BytesIO(src.data)) if src.data is not None else Image.open(src.path)
            with handle as img:
                QWEN25_VL.target_size(*img.size)  # degenerate sizes fail here too
        except Exception as exc:  # PIL raises several unrelated types for bad files
            return f"image {i} ({src.describe()}) is unusable: {exc}"
    return None
