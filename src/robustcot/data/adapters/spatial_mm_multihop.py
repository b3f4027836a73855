"""Spatial-MM multihop ("Spatial-CoT") questions: open-ended, so loaded as :class:`OpenSample`.

Published layout: ``data/multihop_reasoning_309.json`` in FatemehShiri/Spatial-MM, a JSON list of
``{"image_name", "question", "answer", "reasoning", "hop"}`` (309 rows, hop 2–8). Answers are
short free text ("left", "no", "pink"), there are no options, so these items cannot carry letter
metrics; they are scored by normalised exact match (:func:`~robustcot.data.adapters.open_ended.score_open`)
and reported apart from the multiple-choice benchmarks. ``reasoning`` (the annotated hop chain,
``"{[a], [b]}"``) and ``hop`` are kept in metadata for per-hop breakdowns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustcot.data.adapters.common import BenchmarkCard, LoadResult, collect, register_adapter
from robustcot.data.adapters.media import image_from_path
from robustcot.data.adapters.open_ended import OpenSample
from robustcot.data.adapters.rows import find_files, read_json_rows
from robustcot.errors import ConfigError

BENCHMARK = "spatial_mm_multihop"
FILES = ("multihop_reasoning_309.json", "data/multihop_reasoning_309.json", "multihop*.json", "data/multihop*.json")


def _convert(row: dict[str, Any], sid: str, roots: list[Path]) -> OpenSample:
    hop = row.get("hop")
    return OpenSample(
        id=sid,
        benchmark=BENCHMARK,
        images=[image_from_path(str(row["image_name"]), roots)],
        question=str(row["question"]).strip(),
        answer=str(row["answer"]).strip(),
        answer_type="text",
        metadata={
            "category": f"hop_{hop}" if hop is not None else None,
            "hop": hop,
            "reasoning": row.get("reasoning"),
        },
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    image_dir: str | Path | None = None,
) -> LoadResult:
    """The 309 multihop questions as open-ended samples."""
    if data_dir is None:
        raise ConfigError("spatial_mm_multihop has no hub copy: pass data_dir= (the Spatial-MM repository)")
    root = Path(data_dir)
    rows = read_json_rows(find_files(root, FILES)[0])
    roots = [Path(image_dir)] if image_dir else [root / "images", root, root.parent / "images"]
    ids = [f"{BENCHMARK}-{i}" for i in range(len(rows))]
    return collect(BENCHMARK, rows, ids, lambda row, sid: _convert(row, sid, roots), limit=limit, seed=seed)


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "Spatial-MM multihop spatial questions with open-ended short answers (OpenSample; normalised "
        "exact match, kept out of letter metrics). Options: image_dir."
    ),
    hub_id=None,
    split="all",
    size="309 (hop 2–8)",
    options="open",
    licence="see the Spatial-MM repository (no licence file read)",
    local_formats="data/multihop_reasoning_309.json + images/<image_name>",
    task="open",
    notes="answers like 'left', 'no', 'pink'; reasoning chain and hop kept in metadata.",
)

register_adapter(CARD, load)
