"""Open-ended questions (Spatial-MM multihop, Pixmo-Count): a separate sample type and its scoring.

``Sample`` is multiple choice by construction (2–26 options, a gold index) and every letter metric
— letter entropy, P(correct letter), wrong-option injection — assumes options exist. Open-ended
items have none, so they get their own type rather than fake options: an :class:`OpenSample` cannot
be passed where a ``Sample`` is expected by accident (``perturb`` and the letter readout would fail
loudly), and reports keep their accuracy apart from letter accuracy.

Scoring is deliberately simple and documented: :func:`score_open` compares a normalised prediction
with the normalised gold (``text``) or the first integer in the prediction with the gold count
(``integer``, as lmms-eval's Pixmo-Count task does, plus English number words up to twenty).
:mod:`robustcot.open_eval` runs them through the evaluation with their own variants and scoring.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from robustcot.data.sample import ImageInput, coerce_images, decode_images
from robustcot.errors import SampleError

AnswerType = Literal["text", "integer"]

_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip
NUMBER_WORDS = {w: i for i, w in enumerate(_WORDS)}
_ARTICLES = {"a", "an", "the"}

#: Why an open-ended row has no letter uncertainty (its ``uncertainty_note``; the summary's AUROC note).
NO_LETTERS_NOTE = "open-ended: no option letters"
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


class OpenSample(BaseModel):
    """One open-ended question about one or more images, with a short reference answer."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    benchmark: str
    images: list[ImageInput] = Field(default_factory=list)
    question: str
    answer: str
    answer_type: AnswerType = "text"
    aliases: list[str] = Field(default_factory=list)
    """Other accepted answers (normalised the same way)."""
    metadata: dict[str, Any] = Field(default_factory=dict)

    _decoded: list[Image.Image] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _coerce_images(cls, data: Any) -> Any:
        return coerce_images(data)

    @model_validator(mode="after")
    def _check(self) -> OpenSample:
        if not self.question.strip():
            raise SampleError(self.id, "has an empty question")
        if not self.answer.strip():
            raise SampleError(self.id, "has an empty answer")
        if self.answer_type == "integer" and parse_integer(self.answer) is None:
            raise SampleError(self.id, f"integer answer {self.answer!r} is not an integer")
        return self

    def load_images(self) -> list[Image.Image]:
        """Decode every image once; raises :class:`SampleError` naming the image that failed."""
        if self._decoded is None:
            self._decoded = decode_images(self.id, self.images)
        return self._decoded

    def release_images(self) -> None:
        self._decoded = None


def normalise_text(value: str) -> str:
    """Lower case, punctuation to spaces, articles dropped, whitespace collapsed."""
    words = str(value).lower().translate(_PUNCT).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def parse_integer(value: str) -> int | None:
    """The first integer written in digits or as an English number word (≤ twenty), else None."""
    m = re.search(r"-?\d+", str(value))
    words = re.findall(r"[a-z]+", str(value).lower())
    word_hit = next(((i, NUMBER_WORDS[w]) for i, w in enumerate(words) if w in NUMBER_WORDS), None)
    if m and word_hit is None:
        return int(m.group())
    if word_hit is not None and not m:
        return word_hit[1]
    if m and word_hit is not None:  # both forms: whichever comes first in the text
        digit_pos = m.start()
        word_pos = re.search(rf"\b{re.escape(words[word_hit[0]])}\b", str(value).lower())
        return word_hit[1] if word_pos is not None and word_pos.start() < digit_pos else int(m.group())
    return None


def score_open(sample: OpenSample, prediction: str | None) -> bool | None:
    """Whether ``prediction`` matches the sample's answer; None when there is no prediction."""
    if prediction is None or not str(prediction).strip():
        return None
    if sample.answer_type == "integer":
        got = parse_integer(prediction)
        return None if got is None else got == parse_integer(sample.answer)
    accepted = {normalise_text(a) for a in [sample.answer, *sample.aliases]}
    return normalise_text(prediction) in accepted
