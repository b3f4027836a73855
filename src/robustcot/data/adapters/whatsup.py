"""What'sUp (amitakamath/whatsup_vlms): which caption describes the spatial relation in the image?

Published layout (the JSON files the repository fetches with gdown into ``data/``):

=======================  ==========================================  ==========================================
subset                   file                                        row
=======================  ==========================================  ==========================================
``controlled_a``         ``controlled_images_dataset.json``          ``{"image_path", "caption_options": [4]}``
``controlled_b``         ``controlled_clevr_dataset.json``           same
``coco_qa_one_obj``      ``coco_qa_one_obj.json``                    ``[image_id, correct, wrong]``
``coco_qa_two_obj``      ``coco_qa_two_obj.json``                    same
``vg_qa_one_obj``        ``vg_qa_one_obj.json``                      same
``vg_qa_two_obj``        ``vg_qa_two_obj.json``                      same
=======================  ==========================================  ==========================================

Images: ``image_path`` as written (``data/controlled_images/x.jpeg``, relative to the repository
root — resolved against ``data_dir`` and its parent), COCO ``val2017/{id:012d}.jpg``, VG
``vg_images/{id}.jpg`` under ``data_dir``.

**The correct caption is always first in the source** (README: "the first option is always the
correct one"), so options are shuffled with a generator seeded by ``(seed, sample id)``: the
order depends on neither load order nor ``limit``, and ``A`` is right only about 1/N of the time.
The captions are declarative sentences, so they double as ``option_statements`` for the caption /
think perturbations. The question text is ours (WhatsUp was evaluated contrastively, with no
generative prompt): ``QUESTION``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    RowError,
    as_list,
    collect_tagged,
    register_adapter,
    shuffled,
)
from robustcot.data.adapters.media import image_from_path
from robustcot.data.adapters.rows import read_json_rows, tagged_rows
from robustcot.data.sample import ImageInput, Sample
from robustcot.errors import ConfigError

BENCHMARK = "whatsup"
QUESTION = "Which caption best describes the image?"


def _controlled(row: dict[str, Any]) -> tuple[str, list[str]]:
    return str(row["image_path"]), [str(c) for c in as_list(row["caption_options"])]


def _coco(row: dict[str, Any]) -> tuple[str, list[str]]:
    image_id, *captions = as_list(row["_value"])
    return f"val2017/{int(image_id):012d}.jpg", [str(c) for c in captions]


def _vg(row: dict[str, Any]) -> tuple[str, list[str]]:
    image_id, *captions = as_list(row["_value"])
    return f"vg_images/{image_id}.jpg", [str(c) for c in captions]


#: subset → (file name, row reader returning (image path, captions with the correct one first)).
SUBSETS: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[str, list[str]]]]] = {
    "controlled_a": ("controlled_images_dataset.json", _controlled),
    "controlled_b": ("controlled_clevr_dataset.json", _controlled),
    "coco_qa_one_obj": ("coco_qa_one_obj.json", _coco),
    "coco_qa_two_obj": ("coco_qa_two_obj.json", _coco),
    "vg_qa_one_obj": ("vg_qa_one_obj.json", _vg),
    "vg_qa_two_obj": ("vg_qa_two_obj.json", _vg),
}


def _image(path: str, root: Path) -> ImageInput:
    """The image at a published path, relative to the repository (``data/...``) or to ``data_dir``."""
    names = [path, path.removeprefix("data/")] if path.startswith("data/") else [path]
    for name in names:
        try:
            return image_from_path(name, [root, root.parent])
        except RowError:
            continue
    raise RowError(f"image file {path!r} not found under {root} or {root.parent}")


def _preposition(captions: list[str]) -> str | None:
    """The relation word(s) of the correct caption, for per-preposition breakdowns."""
    words = captions[0].lower().rstrip(".").split()
    for rel in ("left of", "right of", "in front of", "in-front of", "behind", "under", "on", "above", "below", "top"):
        if f" {rel} " in f" {' '.join(words)} ":
            return rel
    return words[-1] if words else None


def _convert(row: dict[str, Any], sid: str, root: Path, seed: int) -> Sample:
    subset = row["_subset"]
    path, captions = SUBSETS[subset][1](row)
    if len(captions) < 2:
        raise RowError(f"row has {len(captions)} caption(s); need the correct one and at least one distractor")
    options, gold, order = shuffled(captions, 0, seed, sid)
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=[_image(path, root)],
        question=QUESTION,
        options=options,
        gold_index=gold,
        option_statements=list(options),
        metadata={
            "category": _preposition(captions),
            "source": subset,
            "image_path": path,
            "source_order": order,
        },
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    subsets: str | list[str] = "all",
    circular: bool = False,
) -> LoadResult:
    """WhatsUp subsets (``all`` or a comma-separated / list selection of ``SUBSETS``)."""
    if data_dir is None:
        raise ConfigError("whatsup has no hub copy: pass data_dir= (the repository's data/ folder)")
    root = Path(data_dir)
    names = list(SUBSETS) if subsets == "all" else (subsets.split(",") if isinstance(subsets, str) else subsets)
    unknown = [n for n in names if n not in SUBSETS]
    if unknown:
        raise ConfigError(f"unknown whatsup subset(s) {unknown}; known: {list(SUBSETS)}")
    rows: list[dict[str, Any]] = []
    for name in names:
        path = root / SUBSETS[name][0]
        if not path.is_file():
            if subsets == "all":
                continue  # 'all' means every subset that was downloaded
            raise ConfigError(f"whatsup subset {name!r} needs {path}")
        rows += tagged_rows(read_json_rows(path), name)
    if not rows:
        raise ConfigError(f"no WhatsUp JSON files found in {root} (expected any of {[f for f, _ in SUBSETS.values()]})")
    convert = partial(_convert, root=root, seed=seed)
    return collect_tagged(BENCHMARK, rows, convert, limit=limit, seed=seed, circular=circular)


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "What'sUp: pick the caption with the right spatial preposition (Controlled A/B: 4 captions; "
        "COCO/VG QA: 2). Correct caption is first in the source → options shuffled with the seed. "
        "Options: subsets, circular."
    ),
    hub_id=None,
    split="all",
    size="not published in the repository (Controlled A+B ≈ 820, third-party)",
    options="4 (Controlled) / 2 (COCO, VG QA)",
    licence="MIT (code); COCO / Visual Genome images under their own terms",
    local_formats="data/{controlled_images,controlled_clevr}_dataset.json, {coco,vg}_qa_{one,two}_obj.json + images",
    notes="question text is robustcot's; captions are the option statements.",
)

register_adapter(CARD, load)
