"""SAT — Spatial Aptitude Training (array/SAT): binary spatial questions over 1 or 2 images.

Published layouts:

* hub (default) ``array/SAT`` splits ``train`` (175K), ``static`` (127K), ``val`` (4K), ``test``
  (150 real-image dynamic questions); ``data_dir`` with the same parquet files
  ``SAT_{split}.parquet``. Fields: ``image_bytes`` (list of 1–2 images), ``question``, ``answers``
  (list of option texts), ``question_type``, ``correct_answer`` (the option **text**);
* lmms-eval's re-host ``nv-njb/SAT`` (``hub_id="nv-njb/SAT"``): same images and question, with
  ``correct_answer_idx`` (int) and answers pre-shuffled (``random.Random(42)``).

The card asks users to randomise the answer order when presenting choices, so options from
``array/SAT`` are shuffled with a generator seeded by ``(seed, sample id)``; rows that already
carry ``correct_answer_idx`` keep their published order. A ``correct_answer`` that is not among
``answers`` rejects the row. Known upstream quirks kept as-is and documented: some choices
contain "in the first frame"; motion questions have two images (both kept, in order). The card
recommends circular evaluation (``circular=True``: both orders of every question).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    RowError,
    as_list,
    collect,
    register_adapter,
    shuffled,
    text,
)
from robustcot.data.adapters.media import images_from_field
from robustcot.data.adapters.rows import source_rows
from robustcot.data.sample import Sample

BENCHMARK = "sat"
HUB_ID = "array/SAT"


def _convert(row: dict[str, Any], sid: str, seed: int) -> Sample:
    answers = [str(a).strip() for a in as_list(row["answers"])]
    images = images_from_field(row.get("image_bytes", row.get("images")))
    if row.get("correct_answer_idx") is not None:
        options, gold, order = answers, int(row["correct_answer_idx"]), list(range(len(answers)))
        if not 0 <= gold < len(options):
            raise RowError(f"correct_answer_idx {gold} is out of range for {len(options)} answers")
    else:
        correct = str(row["correct_answer"]).strip()
        if correct not in answers:
            raise RowError(f"correct_answer {correct!r} is not among the answers {answers}")
        options, gold, order = shuffled(answers, answers.index(correct), seed, sid)
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=images,
        question=str(row["question"]).strip(),
        options=options,
        gold_index=gold,
        metadata={
            "category": text(row.get("question_type")),
            "n_images": len(images),
            "source_order": order,
        },
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    split: str = "train",
    circular: bool = False,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """SAT questions of ``split`` (train, static, val or test)."""
    patterns = (f"SAT_{split}.parquet", f"{split}-*.parquet", f"**/SAT_{split}.parquet", f"{split}.parquet")
    rows = source_rows(data_dir, patterns, hub_id, split=split, revision=revision)
    ids = [f"{BENCHMARK}-{split}-{i}" for i in range(len(rows))]
    return collect(
        BENCHMARK, rows, ids, lambda row, sid: _convert(row, sid, seed), limit=limit, seed=seed, circular=circular
    )


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "SAT (Spatial Aptitude Training): binary spatial questions on ProcTHOR renders (1–2 images; motion "
        "questions use two). Training data for the study's GRPO. Options: split, circular, hub_id."
    ),
    hub_id=HUB_ID,
    split="train (also static, val, test)",
    size="175K train / 127K static / 4K val / 150 test",
    options="2",
    licence="MIT",
    local_formats="SAT_{train,static,val,test}.parquet (array/SAT); nv-njb/SAT parquet (correct_answer_idx)",
    role="train",
    notes="answers are option text → shuffled with the seed; circular eval recommended by the authors.",
)

register_adapter(CARD, load)
