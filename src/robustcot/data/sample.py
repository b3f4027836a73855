"""The one sample schema every benchmark adapter produces and every later stage consumes."""

from __future__ import annotations

import io
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from robustcot.errors import SampleError

LETTERS = string.ascii_uppercase
MIN_OPTIONS, MAX_OPTIONS = 2, 26


def option_letter(index: int) -> str:
    """Letter of the option at ``index`` (0 → ``A``)."""
    return LETTERS[index]


class ImageInput(BaseModel):
    """An image given by path, encoded bytes or an in-memory PIL image; decoded only when needed.

    Decoding is lazy so that loading a benchmark of high-resolution images costs nothing until a
    batch actually needs its pixels, and an unreadable file fails that one sample, not the load.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    path: str | None = None
    data: bytes | None = None
    pil: Any = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ImageInput:
        given = [x is not None for x in (self.path, self.data, self.pil)]
        if sum(given) != 1:
            raise ValueError("an image needs exactly one of path, data or pil")
        return self

    @classmethod
    def of(cls, value: ImageInput | str | Path | bytes | Image.Image) -> ImageInput:
        if isinstance(value, ImageInput):
            return value
        if isinstance(value, Image.Image):
            return cls(pil=value)
        if isinstance(value, bytes | bytearray):
            return cls(data=bytes(value))
        return cls(path=str(value))

    def load(self) -> Image.Image:
        """Decode to an RGB PIL image; raises ``OSError``/``ValueError`` when unreadable."""
        if self.pil is not None:
            img = self.pil
        elif self.data is not None:
            img = Image.open(io.BytesIO(self.data))
        else:
            img = Image.open(self.path)  # type: ignore[arg-type]
        img.load()
        return img if img.mode == "RGB" else img.convert("RGB")

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        if self.data is not None:
            return f"<{len(self.data)} bytes>"
        return f"<PIL {self.pil.size[0]}x{self.pil.size[1]}>"


def coerce_images(data: Any) -> Any:
    """Raw model input with its ``images`` (paths, bytes, PIL images) turned into :class:`ImageInput`.

    The body of the ``mode="before"`` validator of every sample type that carries images.
    """
    if isinstance(data, dict) and "images" in data:
        data = {**data, "images": [ImageInput.of(x) for x in data["images"]]}
    return data


def decode_images(sample_id: str, images: Sequence[ImageInput]) -> list[Image.Image]:
    """Decode ``images`` in order; raises :class:`SampleError` naming the sample and the image that failed."""
    decoded = []
    for i, img in enumerate(images):
        try:
            decoded.append(img.load())
        except Exception as exc:  # PIL raises several unrelated types for bad files
            raise SampleError(sample_id, f"image {i} ({img.describe()}) is unreadable: {exc}") from exc
    return decoded


class Sample(BaseModel):
    """One multiple-choice question about one or more images.

    ``option_statements`` holds one declarative sentence per option ("The red circle is left of
    the blue square."). Perturbations use it to write captions and injected reasoning; adapters
    without a scene graph leave it empty and a generic statement is built from the option text.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    benchmark: str
    images: list[ImageInput] = Field(default_factory=list)
    question: str
    options: list[str]
    gold_index: int
    option_statements: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    _decoded: list[Image.Image] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _coerce_images(cls, data: Any) -> Any:
        return coerce_images(data)

    @model_validator(mode="after")
    def _check(self) -> Sample:
        sid = self.id
        n = len(self.options)
        if n == 0:
            raise SampleError(sid, "has no options")
        if n < MIN_OPTIONS or n > MAX_OPTIONS:
            raise SampleError(sid, f"has {n} options; between {MIN_OPTIONS} and {MAX_OPTIONS} are supported")
        stripped = [o.strip().casefold() for o in self.options]
        dupes = sorted({o for o in stripped if stripped.count(o) > 1})
        if dupes:
            raise SampleError(sid, f"has duplicate options: {dupes}")
        if any(not o for o in stripped):
            raise SampleError(sid, "has an empty option")
        if not 0 <= self.gold_index < n:
            raise SampleError(sid, f"gold index {self.gold_index} is out of range for {n} options")
        if not self.question.strip():
            raise SampleError(sid, "has an empty question")
        if self.option_statements is not None and len(self.option_statements) != n:
            raise SampleError(
                sid, f"has {len(self.option_statements)} option statements for {n} options"
            )
        return self

    @property
    def letters(self) -> list[str]:
        return [option_letter(i) for i in range(len(self.options))]

    @property
    def gold_letter(self) -> str:
        return option_letter(self.gold_index)

    def load_images(self) -> list[Image.Image]:
        """Decode every image once; raises :class:`SampleError` naming the image that failed."""
        if self._decoded is None:
            self._decoded = decode_images(self.id, self.images)
        return self._decoded

    def validate_images(self) -> None:
        """Fail early (with the sample named) if any image cannot be decoded."""
        self.load_images()

    def release_images(self) -> None:
        """Drop decoded pixels; long runs over large benchmarks would otherwise hold them all."""
        self._decoded = None
