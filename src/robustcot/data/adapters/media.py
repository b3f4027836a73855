"""Image fields as published (HF structs, base64 strings, relative paths) → lazy ``ImageInput``.

Nothing here decodes pixels: that happens when a batch needs them (``Sample.load_images`` and the
policy in :mod:`robustcot.data.images`). What *is* checked at load time is cheap and would
otherwise fail later anyway: a referenced file exists, a base64 string is base64. Such a failure
raises :class:`~robustcot.data.adapters.common.RowError`, which the collector records as a reject
for that one sample.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from robustcot.data.adapters.common import RowError, as_list, is_missing
from robustcot.data.sample import ImageInput

_DATA_URL = re.compile(r"^data:image/[\w.+-]*;base64,", re.IGNORECASE)


def image_from_base64(value: str) -> ImageInput:
    """An image from a base64 string (an optional ``data:image/...;base64,`` prefix is dropped)."""
    if is_missing(value):
        raise RowError("image cell is empty")
    payload = _DATA_URL.sub("", str(value).strip())
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RowError(f"image cell is not valid base64 ({exc})") from exc
    if not data:
        raise RowError("image cell decodes to no bytes")
    return ImageInput(data=data)


def resolve_path(name: str, roots: Sequence[Path]) -> Path:
    """The first existing ``root / name``; ``name`` may also be absolute.

    Several roots exist because published layouts disagree on where paths are relative to (e.g.
    WhatsUp's ``data/controlled_images/...`` is relative to the repository, not to ``data/``).
    """
    candidates = [Path(name)] if Path(name).is_absolute() else [Path(r) / name for r in roots]
    for c in candidates:
        if c.is_file():
            return c
    where = ", ".join(str(r) for r in roots) or "."
    raise RowError(f"image file {name!r} not found (looked under {where})")


def image_roots(
    image_dir: str | Path | None, data_dir: str | Path | None, under: Sequence[str]
) -> list[Path]:
    """Folders to look image files up in: ``image_dir`` when given, else ``data_dir / u`` per ``u`` in ``under``.

    ``"."`` in ``under`` is ``data_dir`` itself. Hub data without an ``image_dir`` has no folders
    (its images are embedded).
    """
    if image_dir:
        return [Path(image_dir)]
    if data_dir is None:
        return []
    return [Path(data_dir) / u for u in under]


def image_from_path(name: str, roots: Sequence[Path]) -> ImageInput:
    return ImageInput(path=str(resolve_path(name, roots)))


def image_from_field(value: Any, roots: Sequence[Path] = ()) -> ImageInput:
    """One image from whatever a published row holds for it.

    ``{"bytes": b, "path": p}`` (HF Image storage) → bytes, or the path when bytes are absent;
    ``bytes`` → bytes; PIL image → as is; ``str`` → a file path under ``roots``.
    """
    if isinstance(value, ImageInput):
        return value
    if isinstance(value, Image.Image):
        return ImageInput(pil=value)
    if isinstance(value, bytes | bytearray):
        if not value:
            raise RowError("image has no bytes")
        return ImageInput(data=bytes(value))
    if isinstance(value, dict):
        if value.get("bytes"):
            return ImageInput(data=bytes(value["bytes"]))
        if value.get("path"):
            return image_from_path(str(value["path"]), roots)
        raise RowError("image struct has neither bytes nor path")
    if is_missing(value):
        raise RowError("image field is empty")
    if isinstance(value, str):
        return image_from_path(value, roots)
    raise RowError(f"unsupported image value of type {type(value).__name__}")


def images_from_field(value: Any, roots: Sequence[Path] = ()) -> list[ImageInput]:
    """A list of images from a list-valued field (SAT ``image_bytes``, Geometry3K ``images``) or one value."""
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        items = as_list(value)
        if not items:
            raise RowError("image list is empty")
        return [image_from_field(v, roots) for v in items]
    return [image_from_field(value, roots)]
