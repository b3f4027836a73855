"""3DSRBench (ccvl): 3D spatial reasoning over 12 fine categories, with flip and circular copies.

Published layouts read from ``data_dir``:

* VLMEvalKit TSVs ``3dsrbench_v1_vlmevalkit.tsv`` (flip-augmented) and
  ``3dsrbench_v1_vlmevalkit_circular.tsv`` (+ circular copies): ``index, question, A..D, answer,
  category, qid, image`` (base64);
* lmms-eval's parquet export (``oscarqjh/3DSRBench_lmmseval``, configs ``3dsr`` /
  ``3dsr_circular``): ``image, question, A..D, answer, category, index, qid``;
* the ccvl parquet (``index, question, A..D, answer, category, image_source, image_url``; layout
  from a third-party adapter, unverified) with images found by the basename of ``image_url``
  under ``image_dir`` (default ``data_dir/coco_images``, then ``data_dir``).

``qid`` encodes the copies (lmms-eval docstring): ``XXXXXXXX`` base, ``XXXXXXXX-N`` circular copy,
``XXXXXXXX-flip`` flipped, ``XXXXXXXX-flip-N``. Each sample keeps ``qid`` and three group keys in
``metadata["groups"]``, exactly as VLMEvalKit/lmms-eval group them:

* ``circular``: ``qid[:13]`` if ``-flip`` in qid else ``qid[:8]`` (rotations of one question);
* ``flip``: ``qid`` with ``-flip`` removed (a question and its flipped twin);
* ``flip_circular``: ``qid[:8]`` (everything derived from one base question).

``circular=False`` (default) drops the rotated copies (``-N``) and keeps base and flipped rows;
``circular=True`` keeps the copies a file has, or generates rotations when it has none.
"""

from __future__ import annotations

import re
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
from robustcot.data.adapters.media import image_from_field, image_roots
from robustcot.data.adapters.rows import source_rows
from robustcot.data.adapters.tsv import ImageRefs, image_table, normalise_index, tsv_images
from robustcot.data.sample import Sample

BENCHMARK = "3dsrbench"
HUB_ID = "oscarqjh/3DSRBench_lmmseval"

#: Fine category → main category (lmms-eval ``CATEGORY_MAPPING``).
MAIN_CATEGORY: dict[str, str] = {
    "height_higher": "height",
    "location_above": "location",
    "location_closer_to_camera": "location",
    "location_next_to": "location",
    "orientation_in_front_of": "orientation",
    "orientation_on_the_left": "orientation",
    "orientation_viewpoint": "orientation",
    "multi_object_closer_to": "multi_object",
    "multi_object_facing": "multi_object",
    "multi_object_viewpoint_towards_object": "multi_object",
    "multi_object_parallel": "multi_object",
    "multi_object_same_direction": "multi_object",
}

PATTERNS = (
    "3dsrbench_v1_vlmevalkit_circular.tsv",
    "3dsrbench_v1_vlmevalkit.tsv",
    "3DSRBench*.tsv",
    "*.tsv",
    "*.parquet",
    "**/*.parquet",
)
_ROTATED = re.compile(r"-\d+$")


def qid_groups(qid: str) -> dict[str, str]:
    """The circular / flip / flip+circular group keys of a 3DSRBench ``qid``."""
    return {
        "circular": qid[:13] if "-flip" in qid else qid[:8],
        "flip": qid.replace("-flip", ""),
        "flip_circular": qid[:8],
    }


def qid_augmentation(qid: str) -> str | None:
    """``None`` for a base question, else ``flip``, ``circular:N`` or ``flip+circular:N``."""
    rotation = _ROTATED.search(qid)
    flip = "-flip" in qid
    if rotation and flip:
        return f"flip+circular:{rotation.group()[1:]}"
    if rotation:
        return f"circular:{rotation.group()[1:]}"
    return "flip" if flip else None


def _images(row: dict[str, Any], refs: ImageRefs, roots: list[Path]) -> list:
    image = row.get("image")
    if isinstance(image, dict | bytes) or hasattr(image, "size"):
        return [image_from_field(image, roots)]
    if text(image) is not None:
        return tsv_images(row, refs)
    url = text(row.get("image_url"))
    if url is None:
        raise RowError("row has neither image nor image_url")
    return [image_from_field(url.rsplit("/", 1)[-1], roots)]


def _convert(row: dict[str, Any], sid: str, refs: ImageRefs, roots: list[Path]) -> Sample:
    options, letters = lettered_options(row)
    qid = text(row.get("qid")) or normalise_index(row["index"])
    fine = text(row.get("category"))
    meta: dict[str, Any] = {
        "category": fine,
        "parent_category": MAIN_CATEGORY.get(fine or ""),
        "qid": qid,
        "groups": qid_groups(qid) if text(row.get("qid")) else {},
        "source": text(row.get("image_source")),
        "source_id": normalise_index(row.get("index")),
    }
    if aug := qid_augmentation(qid):
        meta["augmentation"] = aug
    if letters != [chr(65 + i) for i in range(len(letters))]:
        meta["source_letters"] = letters
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=_images(row, refs, roots),
        question=str(row["question"]).strip(),
        options=options,
        gold_index=gold_from_letter(row["answer"], letters),
        metadata=meta,
    )


def _rotated(sample: Sample) -> list[Sample]:
    """Generated circular copies named like the published ones (``qid-N``), with their groups."""
    out = []
    for k, copy in enumerate(rotations(sample)):
        qid = sample.metadata["qid"] if k == 0 else f"{sample.metadata['qid']}-{k}"
        meta = {**copy.metadata, "qid": qid, "groups": qid_groups(qid)}
        if aug := qid_augmentation(qid):
            meta["augmentation"] = aug
        out.append(copy.model_copy(update={"id": f"{BENCHMARK}-{qid}", "metadata": meta}))
    return out


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    circular: bool = False,
    file: str | None = None,
    image_dir: str | Path | None = None,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """3DSRBench questions; ``file`` names one TSV/parquet inside ``data_dir``."""
    patterns = (file,) if file else PATTERNS
    hub_config = "3dsr_circular" if circular else "3dsr"
    rows = source_rows(data_dir, patterns, hub_id, name=hub_config, split="test", revision=revision)
    roots = image_roots(image_dir, data_dir, ["coco_images", "."])
    qids = [text(q) for q in rows.column("qid")]
    indices = [normalise_index(i) for i in rows.column("index")]
    keep = [i for i, q in enumerate(qids) if circular or q is None or not _ROTATED.search(q)]
    refs = image_table(rows)
    ids = [f"{BENCHMARK}-{q or i}" for q, i in zip(qids, indices, strict=True)]
    groups = [q[:8] if q else i for q, i in zip(qids, indices, strict=True)]
    generate = circular and not any(q and _ROTATED.search(q) for q in qids)

    def convert(row: dict[str, Any], sid: str) -> Sample | list[Sample]:
        sample = _convert(row, sid, refs, roots)
        return _rotated(sample) if generate else sample

    return collect(BENCHMARK, rows, ids, convert, limit=limit, seed=seed, groups=groups, eligible=keep)


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "3DSRBench: 3D spatial reasoning (height, location, orientation, multi-object; 12 fine categories) "
        "with flipped and circular copies grouped by qid. Options: circular, file, image_dir, hub_id, revision."
    ),
    hub_id=HUB_ID,
    split="test",
    size="~2,772 base questions (paper; unverified) + flip/circular copies",
    options="2–4",
    licence="CC-BY-4.0 (ccvl/3DSRBench); COCO images under COCO terms",
    local_formats="VLMEvalKit 3dsrbench_v1_vlmevalkit(_circular).tsv; lmms-eval parquet; ccvl parquet + coco_images/",
    notes="metadata.groups: circular=qid[:8] (qid[:13] for -flip), flip=qid-'-flip', flip_circular=qid[:8].",
)

register_adapter(CARD, load)
