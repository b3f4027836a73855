"""Geometry3K (InterGPS): 4-choice geometry problems with a diagram — training data for the ablation.

Published layouts:

* hub (default) ``hiyouga/geometry3k`` (splits ``train`` 2 101 / ``validation`` 300 / ``test``
  601) or its parquet files under ``data_dir``: ``images`` (list with the diagram), ``problem``
  (starts with ``<image>``), ``choices`` (4 strings), ``answer``, ``ground_truth``, ``id``. Which
  of ``answer``/``ground_truth`` holds the letter is not documented; the gold is taken from the
  first that is a letter A–D, else from the one that equals a choice text;
* ``data_dir`` with the original InterGPS per-problem folders (``<id>/data.json`` +
  ``img_diagram.png``), at any depth (``train/``, ``val/``, ``test/`` or ``data_examples/``).
  ``data.json``: ``problem_text``, ``choices`` (4), ``answer`` (letter), ``id``,
  ``problem_type_graph``, ``problem_type_goal``, ``data_type`` (train/val/test), ... Only
  folders whose ``data_type`` matches ``split`` are loaded (``split=None``: all).

Choices are LaTeX-ish strings (``5 \\sqrt { 2 }``) and are kept verbatim; diagrams are small
RGBA PNGs, converted to RGB when decoded.
"""

from __future__ import annotations

import json
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
    unreadable_row,
)
from robustcot.data.adapters.media import image_from_path, images_from_field
from robustcot.data.adapters.rows import ListRows, source_rows
from robustcot.data.sample import Sample
from robustcot.errors import ConfigError

BENCHMARK = "geometry3k"
HUB_ID = "hiyouga/geometry3k"
#: HF split name → InterGPS ``data_type``.
DATA_TYPE = {"train": "train", "validation": "val", "val": "val", "test": "test"}
IMAGE_TAG = "<image>"


def _gold(row: dict[str, Any], choices: list[str]) -> int:
    for key in ("ground_truth", "answer"):
        value = str(row.get(key) or "").strip()
        if len(value) <= 3:
            try:
                return letter_index(value, len(choices))
            except RowError:
                pass
    for key in ("answer", "ground_truth"):
        value = str(row.get(key) or "").strip()
        if value in choices:
            return choices.index(value)
    raise RowError(f"neither answer {row.get('answer')!r} nor ground_truth {row.get('ground_truth')!r} names a choice")


def _convert_hf(row: dict[str, Any], sid: str) -> Sample:
    choices = [str(c).strip() for c in as_list(row["choices"])]
    problem = str(row["problem"])
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=images_from_field(row["images"]),
        question=problem.replace(IMAGE_TAG, "").strip(),
        options=choices,
        gold_index=_gold(row, choices),
        metadata={"category": None, "raw_problem": problem, "source_id": row.get("id")},
    )


def _convert_folder(row: dict[str, Any], sid: str) -> Sample:
    choices = [str(c).strip() for c in as_list(row["choices"])]
    goal = as_list(row.get("problem_type_goal"))
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=[image_from_path("img_diagram.png", [Path(row["_folder"])])],
        question=str(row["problem_text"]).strip(),
        options=choices,
        gold_index=letter_index(row["answer"], len(choices)),
        metadata={
            "category": goal[0] if goal else None,
            "graph_types": as_list(row.get("problem_type_graph")),
            "source_id": row.get("id"),
            "data_type": row.get("data_type"),
            "precise_value": as_list(row.get("precise_value")),
        },
    )


def _folders(root: Path) -> list[dict[str, Any]]:
    """``data.json`` rows of every problem folder under ``root`` (unreadable files become rejects)."""
    rows = []
    for path in sorted(root.rglob("data.json"), key=lambda p: (len(p.parts), str(p))):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            row = unreadable_row(f"unreadable data.json ({path}: {exc})")
        rows.append({**row, "_folder": str(path.parent), "_name": path.parent.name})
    return rows


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    split: str | None = "train",
    circular: bool = False,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """Geometry3K problems of ``split`` (train, validation, test; ``None`` = all folders)."""
    if split is not None and split not in DATA_TYPE:
        raise ConfigError(f"geometry3k split must be one of {list(DATA_TYPE)} or None, got {split!r}")
    root = Path(data_dir) if data_dir is not None else None
    if root is not None and any(root.rglob("data.json")):
        folders = _folders(root)
        wanted = None if split is None else DATA_TYPE[split]
        eligible = [i for i, r in enumerate(folders) if wanted is None or r.get("data_type") in (wanted, None)]
        ids = [f"{BENCHMARK}-{r.get('id', r['_name'])}" for r in folders]
        return collect(
            BENCHMARK,
            ListRows(folders),
            ids,
            _convert_folder,
            limit=limit,
            seed=seed,
            eligible=eligible,
            circular=circular,
        )
    hf_split = split or "train"
    patterns = (f"{hf_split}-*.parquet", f"{hf_split}.parquet", f"**/{hf_split}-*.parquet")
    rows = source_rows(root, patterns, hub_id, split=hf_split, revision=revision)
    ids = [f"{BENCHMARK}-{hf_split}-{i if v is None else v}" for i, v in enumerate(rows.column("id"))]
    return collect(BENCHMARK, rows, ids, _convert_hf, limit=limit, seed=seed, circular=circular)


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "Geometry3K: 4-choice geometry problems with a diagram (ablation training data). Reads the HF "
        "conversion or the original InterGPS per-problem folders. Options: split, circular, hub_id."
    ),
    hub_id=HUB_ID,
    split="train (also validation, test)",
    size="3,002 (2,101 / 300 / 601)",
    options="4",
    licence="MIT",
    local_formats="hiyouga/geometry3k parquet; InterGPS folders <id>/data.json + img_diagram.png",
    role="train",
    notes="choices are LaTeX-ish strings kept verbatim; RGBA diagrams decoded to RGB.",
)

register_adapter(CARD, load)
