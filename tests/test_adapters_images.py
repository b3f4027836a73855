"""Image policy: Qwen2.5-VL smart_resize sizing, equivalence with the processor, per-sample errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustcot.data.images import NO_RESIZE, QWEN25_VL, ImagePolicy, check_images, load_images
from robustcot.data.sample import Sample
from robustcot.errors import SampleError


def _png(size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _sample(images, sid: str = "s") -> Sample:
    return Sample(id=sid, benchmark="t", images=images, question="Q?", options=["a", "b"], gold_index=0)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((6000, 5000), None),  # MME-RealWorld remote sensing scale: shrunk under max_pixels
        ((250, 251), (252, 252)),  # Geometry3K diagram: rounded to multiples of 28
        ((20, 30), (56, 84)),  # tiny: enlarged to min_pixels
        ((1000, 1000), (1008, 1008)),
    ],
)
def test_target_size_follows_qwen_smart_resize(size, expected) -> None:
    w, h = QWEN25_VL.target_size(*size)
    assert w % 28 == 0 and h % 28 == 0
    assert QWEN25_VL.min_pixels <= w * h <= QWEN25_VL.max_pixels
    if expected is not None:
        assert (w, h) == expected
    else:
        assert abs(w / h - size[0] / size[1]) < 0.02 and w * h > 0.8 * QWEN25_VL.max_pixels
    assert QWEN25_VL.target_size(w, h) == (w, h)  # idempotent: the processor will not resize again


def test_policy_options() -> None:
    small = ImagePolicy(max_pixels=256 * 28 * 28)
    w, h = small.target_size(4000, 3000)
    assert w * h <= 256 * 28 * 28 and w % 28 == h % 28 == 0
    assert ImagePolicy(max_side=1260, max_pixels=None, min_pixels=None).target_size(2000, 1000) == (1260, 630)
    assert NO_RESIZE.target_size(6000, 5000) == (6000, 5000) and not NO_RESIZE.active
    with pytest.raises(ValueError, match="aspect ratio"):
        QWEN25_VL.target_size(10_000, 10)


def test_resized_image_gives_the_processor_the_same_input() -> None:
    """Policy-then-processor equals processor alone: our resize is the one the processor would do."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    policy = ImagePolicy(max_pixels=64 * 28 * 28, min_pixels=4 * 28 * 28)
    processor = Qwen2VLImageProcessorPil(min_pixels=policy.min_pixels, max_pixels=policy.max_pixels)
    original = Image.open(io.BytesIO(_png((500, 333)))).convert("RGB")
    resized = policy.apply(original)
    assert resized.size != original.size
    direct = processor(images=[original], return_tensors="np")
    via_policy = processor(images=[resized], return_tensors="np")
    assert np.array_equal(direct["image_grid_thw"], via_policy["image_grid_thw"])
    np.testing.assert_allclose(direct["pixel_values"], via_policy["pixel_values"], atol=1e-5)


def test_load_images_sizes_and_caches() -> None:
    s = _sample([_png((900, 700))])
    (img,) = load_images(s, ImagePolicy(max_pixels=100 * 28 * 28))
    assert img.size[0] % 28 == 0 and img.size[0] * img.size[1] <= 100 * 28 * 28
    assert s.load_images()[0].size == (900, 700)  # the sample's own cache keeps the original


def test_missing_and_corrupt_images_are_sample_errors(tmp_path: Path) -> None:
    missing = _sample([str(tmp_path / "gone.jpg")], "missing")
    corrupt = _sample([b"\x89PNG\r\n\x1a\n not really"], "corrupt")
    sliver = _sample([_png((4000, 10))], "sliver")
    for s in (missing, corrupt):
        with pytest.raises(SampleError, match=s.id):
            load_images(s)
        assert "unusable" in check_images(s)
    with pytest.raises(SampleError, match="cannot be sized"):
        load_images(sliver)
    assert "aspect ratio" in check_images(sliver)
    assert check_images(_sample([_png((50, 40))])) is None
