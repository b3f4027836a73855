"""CV-Bench (nyu-visionx, Cambrian-1): 2D relation/count on ADE20K+COCO, 3D depth/distance on Omni3D.

Published layouts read from ``data_dir``:

* the HF repository files ``test_2d.parquet`` / ``test_3d.parquet`` (image column embedded) or an
  older single ``test.parquet``;
* ``test_2d.jsonl`` / ``test_3d.jsonl`` / ``test.jsonl`` whose ``filename`` (``img/2D/count/...``)
  points at an image under ``data_dir``;
* VLMEvalKit's ``CV-Bench-2D.tsv`` / ``CV-Bench-3D.tsv`` (letter columns, base64 images).

Row fields (HF): ``idx, type ('2D'|'3D'), task, image, question, choices, answer ('(C)'), prompt,
filename, source ('ADE20K'|'COCO'|'Omni3D'), ...``. The gold letter is read from ``answer`` with
the parentheses stripped, as every harness does. ``source`` is kept because CV-Bench's official
score is ``mean((acc_ADE20K + acc_COCO) / 2, acc_Omni3D)`` (see
:func:`robustcot.data.grouped.cvbench_score`); ``prompt`` is kept for the reference prompt mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    as_list,
    collect,
    gold_from_letter,
    letter_index,
    lettered_options,
    register_adapter,
    text,
)
from robustcot.data.adapters.media import image_from_field
from robustcot.data.adapters.rows import ConcatRows, Rows, find_files, hub_rows, read_local
from robustcot.data.adapters.tsv import ImageRefs, image_table, normalise_index, tsv_images
from robustcot.data.sample import Sample
from robustcot.errors import ConfigError

BENCHMARK = "cvbench"
HUB_ID = "nyu-visionx/CV-Bench"
Subset = Literal["2D", "3D", "all"]

#: Local file patterns per subset, in order of preference.
PATTERNS: dict[str, tuple[str, ...]] = {
    "2D": ("test_2d.parquet", "test_2d.jsonl", "CV-Bench-2D.tsv", "**/test_2d.parquet"),
    "3D": ("test_3d.parquet", "test_3d.jsonl", "CV-Bench-3D.tsv", "**/test_3d.parquet"),
    "all": ("test.parquet", "test-*.parquet", "test.jsonl", "**/test.parquet"),
}
#: Hub config per subset (lmms-eval's cv_bench*.yaml).
HUB_CONFIG = {"2D": "2D", "3D": "3D", "all": "default"}


def _local_rows(data_dir: Path, subset: Subset) -> Rows:
    """Rows of ``subset``; ``all`` falls back to the 2D + 3D files when no combined file exists."""
    if subset != "all":
        return read_local(find_files(data_dir, PATTERNS[subset]))
    try:
        return read_local(find_files(data_dir, PATTERNS["all"]))
    except ConfigError:
        pass
    parts = []
    for part in ("2D", "3D"):
        try:
            parts.append(read_local(find_files(data_dir, PATTERNS[part])))
        except ConfigError:
            continue  # a download of only one half is still a valid 'all'
    if not parts:
        raise ConfigError(f"no CV-Bench files in {data_dir} (expected test_2d/test_3d .parquet/.jsonl or a TSV)")
    return ConcatRows(parts)


def _convert(row: dict[str, Any], sid: str, roots: list[Path], images_by_index: ImageRefs) -> Sample:
    if row.get("choices") is not None:  # HF parquet / jsonl layout
        options = [str(c).strip() for c in as_list(row["choices"])]
        gold = letter_index(row["answer"], len(options))
        source_image = row.get("image")
        images = [image_from_field(source_image if source_image is not None else row.get("filename"), roots)]
    else:  # VLMEvalKit TSV layout
        options, letters = lettered_options(row)
        gold = gold_from_letter(row["answer"], letters)
        images = tsv_images(row, images_by_index)
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=images,
        question=str(row["question"]).strip(),
        options=options,
        gold_index=gold,
        metadata={
            "category": text(row.get("task")) or text(row.get("category")),
            "parent_category": text(row.get("type")) or text(row.get("split")),
            "source": text(row.get("source")),
            "prompt": text(row.get("prompt")),
            "source_id": text(row.get("idx")) or text(row.get("index")),
        },
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    subset: Subset = "all",
    circular: bool = False,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """CV-Bench test questions; ``subset`` picks 2D, 3D or both."""
    if subset not in HUB_CONFIG:
        raise ConfigError(f"cvbench subset must be one of {list(HUB_CONFIG)}, got {subset!r}")
    if data_dir is not None:
        root = Path(data_dir)
        rows = _local_rows(root, subset)
    else:
        root = Path(".")
        rows = hub_rows(hub_id, name=HUB_CONFIG[subset], split="test", revision=revision)
    kinds = rows.column("type") if "type" in rows.columns else rows.column("split")
    idx = rows.column("idx") if "idx" in rows.columns else rows.column("index")
    ids = [f"{BENCHMARK}-{k or 'x'}-{normalise_index(i)}" for k, i in zip(kinds, idx, strict=True)]
    refs = image_table(rows)
    return collect(
        BENCHMARK,
        rows,
        ids,
        lambda row, sid: _convert(row, sid, [root], refs),
        limit=limit,
        seed=seed,
        circular=circular,
    )


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "CV-Bench (Cambrian-1): 2D spatial relation and object count (ADE20K, COCO), 3D depth order and "
        "relative distance (Omni3D). Options: subset=2D|3D|all, circular, hub_id, revision."
    ),
    hub_id=HUB_ID,
    split="test",
    size="2,638 (per-task counts unverified)",
    options="2 (relation, depth, distance); 4+ (count)",
    licence="Apache-2.0 (HF card); images from ADE20K, COCO, Omni3D under their own terms",
    local_formats="test_2d/test_3d(.parquet|.jsonl + img/), test.parquet, VLMEvalKit CV-Bench-2D/3D.tsv",
    notes="answer '(C)' → letter C; official score = mean((ADE20K+COCO)/2, Omni3D) by `source`.",
)

register_adapter(CARD, load)
