"""MMBench (open-compass), dev EN by default, with optional hints and CircularEval copies.

Published layouts:

* ``data_dir`` with VLMEvalKit's ``MMBench_DEV_EN.tsv`` (or any MMBench TSV via ``file``):
  ``index, question, hint, A, B, (C, D), answer, category, l2-category, source, split, image``;
* hub (default) — lmms-eval's ``lmms-lab-encoder/MMBench`` config ``en`` split ``dev``: same fields
  with ``L2-category`` and a PIL/struct ``image``.

**Circular copies.** Rows with ``index >= 1e6`` are rolled copies of question ``index % 1e6``
(VLMEvalKit ``g_index``); their ``image`` cell is usually the *index of the row holding the
picture* (a ≤64-character reference) rather than base64 — resolved by
:mod:`robustcot.data.adapters.tsv`, a dangling reference rejecting only that row. With
``circular=False`` (default) copies are dropped and each question is asked once; with
``circular=True`` they are kept (or generated when the source has none) and grouped in
``metadata["groups"]["circular"]``, so a question scores right only if every copy is right.

**Hint.** When present the hint is context the question depends on ("The passage below
describes..."), so it is prepended to ``question`` (``"{hint}\\n{question}"``, as lmms-eval joins
them); the raw ``hint`` and ``question`` stay in metadata for the reference prompt mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    RowError,
    collect,
    gold_from_letter,
    lettered_options,
    register_adapter,
    rotations,
    text,
)
from robustcot.data.adapters.media import image_from_field
from robustcot.data.adapters.rows import source_rows
from robustcot.data.adapters.tsv import ImageRefs, image_table, normalise_index, tsv_images
from robustcot.data.sample import Sample

BENCHMARK = "mmbench"
HUB_ID = "lmms-lab-encoder/MMBench"
CIRCULAR_OFFSET = 1_000_000
PATTERNS = ("MMBench_DEV_EN.tsv", "MMBench_DEV_EN_V11.tsv", "MMBench*.tsv", "*.tsv", "*.parquet", "**/*.parquet")


def _images(row: dict[str, Any], refs: ImageRefs) -> list:
    image = row.get("image")
    if isinstance(image, str):
        return tsv_images(row, refs)
    return [image_from_field(image)]


def _convert(row: dict[str, Any], sid: str, refs: ImageRefs, grouped: bool) -> Sample:
    options, letters = lettered_options(row)
    question = str(row["question"]).strip()
    hint = text(row.get("hint"))
    raw_index = normalise_index(row["index"])
    if not raw_index.isdigit():
        raise RowError(f"index {row['index']!r} is not a non-negative integer")
    index = int(raw_index)
    meta: dict[str, Any] = {
        "category": text(row.get("category")),
        "parent_category": text(row.get("l2-category")) or text(row.get("L2-category")),
        "source": text(row.get("source")),
        "split": text(row.get("split")),
        "hint": hint,
        "raw_question": question,
        "index": index,
    }
    if grouped:
        meta["groups"] = {"circular": f"{BENCHMARK}-{index % CIRCULAR_OFFSET}"}
        if index >= CIRCULAR_OFFSET:
            meta["augmentation"] = f"circular:{index // CIRCULAR_OFFSET}"
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=_images(row, refs),
        question=f"{hint}\n{question}" if hint else question,
        options=options,
        gold_index=gold_from_letter(row["answer"], letters),
        metadata=meta,
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    circular: bool = False,
    file: str | None = None,
    hub_id: str = HUB_ID,
    hub_config: str = "en",
    split: str = "dev",
    revision: str | None = None,
) -> LoadResult:
    """MMBench questions; ``limit`` counts questions (with ``circular`` each brings its copies)."""
    patterns = (file,) if file else PATTERNS
    rows = source_rows(data_dir, patterns, hub_id, name=hub_config, split=split, revision=revision)
    raw = [normalise_index(i) for i in rows.column("index")]
    indices = [int(r) if r.isdigit() else -1 for r in raw]  # a malformed index is rejected in _convert
    has_copies = any(i >= CIRCULAR_OFFSET for i in indices)
    eligible = [n for n, i in enumerate(indices) if circular or i < CIRCULAR_OFFSET]
    refs = image_table(rows)

    def convert(row: dict[str, Any], sid: str) -> Sample | list[Sample]:
        sample = _convert(row, sid, refs, grouped=circular and has_copies)
        return rotations(sample) if circular and not has_copies else sample

    return collect(
        BENCHMARK,
        rows,
        [f"{BENCHMARK}-{r}" for r in raw],
        convert,
        limit=limit,
        seed=seed,
        groups=[i % CIRCULAR_OFFSET if i >= 0 else r for i, r in zip(indices, raw, strict=True)],
        eligible=eligible,
    )


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "MMBench dev (EN): 20 ability dimensions, 2–4 options, optional hint; CircularEval copies "
        "(index >= 1e6) kept with circular=True. Options: circular, file, hub_id, hub_config, split."
    ),
    hub_id=HUB_ID,
    split="dev (config en)",
    size="1,164 questions (dev EN); ~4.3K rows with circular copies",
    options="2–4",
    licence="Apache-2.0 (open-compass/MMBench)",
    local_formats="VLMEvalKit MMBench_DEV_EN(.tsv|_V11.tsv) with shared-image references; lmms-eval parquet",
    notes="hint prepended to the question; copies grouped by index % 1e6.",
)

register_adapter(CARD, load)
