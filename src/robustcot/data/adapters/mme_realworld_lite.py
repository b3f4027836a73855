"""MME-RealWorld-Lite: 5-option questions over very high-resolution real-world images.

Published layouts:

* hub (default) — lmms-eval's ``yifanzhang114/MME-RealWorld-lite-lmms-eval`` (split ``train``):
  ``index, question, multi-choice options (list of "(A) ..."), answer (letter), category,
  l2-category, bytes`` (base64 image);
* ``data_dir`` with VLMEvalKit's ``mme_realworld_lite.tsv``: ``index, image`` (base64),
  ``question, multi-choice options`` (a Python list literal), ``answer, category, l2-category``;
* ``data_dir`` with the official JSON list (``Question_id, Image`` (relative path), ``Text,
  Answer choices, Ground truth, Task, Subtask, Category``) and the images under ``data_dir`` or
  ``image_dir``.

Always five options A–E; E is typically a "none of these" option. The ``(A) `` prefixes are
stripped from option texts. Images can exceed 5000×5000 px (remote sensing): nothing is decoded
at load time, and :mod:`robustcot.data.images` sizes them before a backend sees them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    RowError,
    as_list,
    collect,
    letter_index,
    register_adapter,
    text,
)
from robustcot.data.adapters.media import image_from_base64, image_from_field, image_from_path, image_roots
from robustcot.data.adapters.rows import source_rows
from robustcot.data.adapters.tsv import normalise_index
from robustcot.data.sample import LETTERS, Sample

BENCHMARK = "mme_realworld_lite"
HUB_ID = "yifanzhang114/MME-RealWorld-lite-lmms-eval"
PATTERNS = ("mme_realworld_lite.tsv", "*.tsv", "*.parquet", "**/*.parquet", "*.json")
_PREFIX = re.compile(r"^\(([A-Z])\)\s*")


def strip_option(value: str, position: int) -> str:
    """Option text without its ``(A) `` prefix; the prefix letter must match the position."""
    m = _PREFIX.match(value.strip())
    if m and m.group(1) != LETTERS[position]:
        raise RowError(f"option {value!r} is at position {LETTERS[position]}")
    return value.strip()[m.end():].strip() if m else value.strip()


def _options(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError) as exc:
            raise RowError(f"options cell is not a list literal: {exc}") from exc
    return [strip_option(str(o), i) for i, o in enumerate(as_list(value))]


def _image(row: dict[str, Any], roots: list[Path]):
    if row.get("Image") is not None:
        return image_from_path(str(row["Image"]), roots)
    cell = row.get("bytes", row.get("image"))
    if isinstance(cell, str):
        return image_from_base64(cell)
    return image_from_field(cell, roots)


def _convert(row: dict[str, Any], sid: str, roots: list[Path]) -> Sample:
    official = "Question_id" in row
    options = _options(row["Answer choices"] if official else row["multi-choice options"])
    if official:
        category = f"{row.get('Task')}/{row.get('Subtask')}"
        fine = text(row.get("Category"))
    else:
        category, fine = text(row.get("category")), text(row.get("l2-category"))
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=[_image(row, roots)],
        question=str(row["Text"] if official else row["question"]).strip(),
        options=options,
        gold_index=letter_index(row["Ground truth"] if official else row["answer"], len(options)),
        metadata={
            "category": category,
            "parent_category": category.split("/")[0] if category else None,
            "l2_category": fine,
            "source": text(row.get("Dataset")),
        },
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    file: str | None = None,
    image_dir: str | Path | None = None,
    circular: bool = False,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """MME-RealWorld-Lite questions (≈50 per task)."""
    rows = source_rows(data_dir, (file,) if file else PATTERNS, hub_id, split="train", revision=revision)
    roots = image_roots(image_dir, data_dir, [".", "images"])
    official = "Question_id" in rows.columns
    raw_ids = rows.column("Question_id" if official else "index")
    ids = [f"{BENCHMARK}-{normalise_index(i) if i is not None else n}" for n, i in enumerate(raw_ids)]
    return collect(
        BENCHMARK, rows, ids, lambda row, sid: _convert(row, sid, roots), limit=limit, seed=seed, circular=circular
    )


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "MME-RealWorld-Lite: 5-option (A–E) perception and reasoning questions on very high-resolution "
        "images (OCR, remote sensing, diagrams, monitoring, driving). Options: file, image_dir, circular, hub_id."
    ),
    hub_id=HUB_ID,
    split="train (lmms-eval export of the Lite set)",
    size="~1,919 (50 per task; unverified)",
    options="5 (A–E)",
    licence="restrictive per the MME-RealWorld README; Apache-2.0 on the HF page — check before redistribution",
    local_formats="VLMEvalKit mme_realworld_lite.tsv; lmms-eval parquet; official JSON + images",
    notes="images up to >5000² px: sized by robustcot.data.images (Qwen2.5-VL smart_resize by default).",
)

register_adapter(CARD, load)
