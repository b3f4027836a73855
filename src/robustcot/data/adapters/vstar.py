"""V*Bench (penghao-wu/vstar): attributes and relative positions of small objects in large images.

Published layouts:

* hub (default) — lmms-eval's export ``lmms-lab-encoder/vstar-bench`` (split ``test``): ``image``,
  ``text``, ``label``, ``question_id``, ``category``;
* ``data_dir`` = a snapshot of ``craigwu/vstar_bench``: ``test_questions.jsonl`` rows
  ``{"image": "direct_attributes/sa_4690.jpg", "text", "category", "question_id", "label"}`` with
  the images beside it;
* ``data_dir`` without ``test_questions.jsonl``: the original per-image annotations
  ``<category>/<name>.json`` = ``{"target_object", "bbox", "question", "options"}`` next to
  ``<name>.jpg``, whose **first option is the correct one** — shuffled with the seed, as WhatsUp.

``text`` holds the stem and the options as ``(A) red`` lines, possibly followed by an instruction
line; :func:`parse_text` splits them (the instruction is kept in metadata, not in the question).
Only ``direct_attributes`` (4 options) and ``relative_position`` (2 options) form the 191-question
benchmark; other folders (``OCR``, ``GPT4V-hard``) are skipped. The images are large (≈2000×1500
and up): sizing is left to :mod:`robustcot.data.images`.
"""

from __future__ import annotations

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
    shuffled,
    text,
    unreadable_row,
)
from robustcot.data.adapters.media import image_from_field, image_from_path
from robustcot.data.adapters.rows import ListRows, Rows, hub_rows, read_json_rows
from robustcot.data.sample import LETTERS, Sample
from robustcot.errors import ConfigError

BENCHMARK = "vstar"
HUB_ID = "lmms-lab-encoder/vstar-bench"
CATEGORIES = ("direct_attributes", "relative_position")
_OPTION = re.compile(r"\(([A-Z])\)\s*")


def parse_text(value: str) -> tuple[str, list[str], str | None]:
    """Stem, options and trailing instruction of a V* ``text`` field.

    Options are the ``(A) ...`` entries, one per line or inline; a line after the last option that
    does not start with ``(`` is an instruction (e.g. "Answer with the option's letter ...").
    """
    first = value.find("(A)")
    if first < 0:
        raise RowError("text has no '(A)' option")
    stem, rest = value[:first].strip(), value[first:]
    instruction = None
    lines = rest.rstrip().split("\n")
    if len(lines) > 1 and not lines[-1].lstrip().startswith("("):
        instruction = lines[-1].strip()
        rest = "\n".join(lines[:-1])
    parts = _OPTION.split(rest)
    # parts = ['', 'A', 'red\n', 'B', 'blue', ...]
    letters, texts = parts[1::2], [p.strip() for p in parts[2::2]]
    if letters != list(LETTERS[: len(letters)]):
        raise RowError(f"option letters {letters} are not A, B, C...")
    return stem, texts, instruction


def _convert_question(row: dict[str, Any], sid: str, roots: list[Path]) -> Sample:
    stem, options, instruction = parse_text(str(row["text"]))
    category = text(row.get("category")) or str(row.get("image", "")).split("/")[0]
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=[image_from_field(row["image"], roots)],
        question=stem,
        options=options,
        gold_index=letter_index(row["label"], len(options)),
        metadata={"category": category, "text": row["text"], "instruction": instruction},
    )


def _convert_annotation(row: dict[str, Any], sid: str, seed: int) -> Sample:
    options, gold, order = shuffled([str(o) for o in as_list(row["options"])], 0, seed, sid)
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=[image_from_path(row["_image"], [Path("/")])],
        question=str(row["question"]).strip(),
        options=options,
        gold_index=gold,
        metadata={
            "category": row["_category"],
            "target_object": row.get("target_object"),
            "bbox": row.get("bbox"),
            "source_order": order,
        },
    )


def _annotations(root: Path) -> list[dict[str, Any]]:
    rows = []
    for category in CATEGORIES:
        for ann in sorted((root / category).glob("*.json")):
            try:
                row = read_json_rows(ann).take([0])[0]
            except (ConfigError, OSError) as exc:  # one broken annotation rejects one sample
                row = unreadable_row(str(exc))
            image = next((p for p in sorted(ann.parent.glob(ann.stem + ".*")) if p.suffix != ".json"), None)
            rows.append({**row, "_category": category, "_image": str(image or ann.with_suffix(".jpg")), "_name": ann.stem})
    return rows


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    categories: str | list[str] = "all",
    circular: bool = False,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """V*Bench's 191 questions (or the chosen ``categories``)."""
    wanted = list(CATEGORIES) if categories == "all" else (
        categories.split(",") if isinstance(categories, str) else list(categories)
    )
    if set(wanted) - set(CATEGORIES):
        raise ConfigError(f"vstar categories must be among {CATEGORIES}, got {wanted}")
    root = Path(data_dir) if data_dir is not None else Path(".")
    if data_dir is not None and not (root / "test_questions.jsonl").is_file():
        ann = [r for r in _annotations(root) if r["_category"] in wanted]
        if not ann:
            raise ConfigError(f"{root} has neither test_questions.jsonl nor {CATEGORIES} annotation folders")
        ids = [f"{BENCHMARK}-{r['_category']}-{r['_name']}" for r in ann]
        return collect(
            BENCHMARK, ListRows(ann), ids, lambda row, sid: _convert_annotation(row, sid, seed),
            limit=limit, seed=seed, circular=circular,
        )
    rows: Rows = (
        read_json_rows(root / "test_questions.jsonl")
        if data_dir is not None
        else hub_rows(hub_id, split="test", revision=revision)
    )
    cats = [text(c) or str(img).split("/")[0] for c, img in zip(rows.column("category"), rows.column("image"), strict=True)]
    ids = [f"{BENCHMARK}-{q if q is not None else i}" for i, q in enumerate(rows.column("question_id"))]
    return collect(
        BENCHMARK, rows, ids, lambda row, sid: _convert_question(row, sid, [root]),
        limit=limit, seed=seed, circular=circular, eligible=[i for i, c in enumerate(cats) if c in wanted],
    )


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "V*Bench: attribute (4 options) and relative-position (2 options) questions about small objects in "
        "high-resolution images. Options: categories, circular, hub_id, revision."
    ),
    hub_id=HUB_ID,
    split="test",
    size="191 (115 direct_attributes + 76 relative_position)",
    options="4 / 2",
    licence="see craigwu/vstar_bench (SA-1B images under the SA-1B licence)",
    local_formats="craigwu/vstar_bench snapshot (test_questions.jsonl + images) or per-image <name>.json annotations",
    notes="options parsed from `text` '(A) ...' lines; annotation layout lists the correct option first → shuffled.",
)

register_adapter(CARD, load)
