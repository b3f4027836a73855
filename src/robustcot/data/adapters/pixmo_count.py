"""Pixmo-Count (allenai/pixmo-count): "how many X?" with integer answers — open-ended samples.

Published layout (hub ``allenai/pixmo-count``, splits ``train`` 36 916 / ``validation`` 540 /
``test`` 540; or the same rows as parquet/JSON-lines under ``data_dir``): ``image_url``,
``image_sha256``, ``count``, ``points`` (train only), ``label``. **The images are not in the
dataset**: only URLs. robustcot never downloads at load or test time, so images are read from a
local cache directory (``image_cache``, default ``data_dir/images``) holding files named by their
sha256 (``<sha256>`` or ``<sha256>.<ext>``), which you fill with your own downloader. A row whose
image is not in the cache — or, with ``verify_sha256=True``, whose file hash differs — becomes a
per-sample reject naming the URL, never a crash and never a silent drop.

Rows in lmms-eval's re-host layout (``kcz358/pixmo-count``: ``image``, ``question``, ``answer``)
are read too; their image is embedded.

Counting has no options, so items are :class:`~robustcot.data.adapters.open_ended.OpenSample` with
``answer_type="integer"`` (scored by the first integer in the reply). The question is built from
``label`` with ``question_template`` (default is one of Molmo's counting templates).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    RowError,
    collect,
    register_adapter,
    text,
)
from robustcot.data.adapters.media import image_from_field
from robustcot.data.adapters.open_ended import OpenSample
from robustcot.data.adapters.rows import source_rows
from robustcot.data.sample import ImageInput
from robustcot.errors import ConfigError

BENCHMARK = "pixmo_count"
HUB_ID = "allenai/pixmo-count"
QUESTION_TEMPLATE = "How many {label} are there in the image?"


class ImageCache:
    """Files of a local image cache indexed by sha256 (file stem), listed once per load."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._by_sha: dict[str, Path] = {}
        if root is not None and root.is_dir():
            for p in root.iterdir():
                if p.is_file():
                    self._by_sha.setdefault(p.name.split(".")[0].lower(), p)

    def get(self, sha256: str, url: str | None, verify: bool) -> ImageInput:
        path = self._by_sha.get(sha256.lower())
        if path is None:
            where = self.root if self.root is not None else "(no image_cache given)"
            raise RowError(
                f"image {url or '?'} (sha256 {sha256}) is not in the local cache {where}; "
                "robustcot never downloads — fetch it into the cache, named by its sha256"
            )
        if verify:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != sha256.lower():
                raise RowError(f"cached image {path.name} has sha256 {digest}, expected {sha256}")
        return ImageInput(path=str(path))


def _convert(row: dict[str, Any], sid: str, cache: ImageCache, verify: bool, template: str) -> OpenSample:
    if row.get("image") is not None:  # lmms-eval re-host: image embedded, question and answer given
        return OpenSample(
            id=sid,
            benchmark=BENCHMARK,
            images=[image_from_field(row["image"])],
            question=str(row["question"]).replace("<image>", "").strip(),
            answer=str(row["answer"]).strip(),
            answer_type="integer",
            metadata={"category": None},
        )
    sha = text(row.get("image_sha256"))
    if sha is None:
        raise RowError("row has no image_sha256")
    label = str(row["label"]).strip()
    count = row["count"]
    return OpenSample(
        id=sid,
        benchmark=BENCHMARK,
        images=[cache.get(sha, text(row.get("image_url")), verify)],
        question=template.format(label=label),
        answer=str(int(count)),
        answer_type="integer",
        metadata={
            "category": label,
            "label": label,
            "count": int(count),
            "image_url": text(row.get("image_url")),
            "image_sha256": sha,
            "n_points": len(row.get("points") or []),
        },
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    split: str = "train",
    image_cache: str | Path | None = None,
    verify_sha256: bool = False,
    question_template: str = QUESTION_TEMPLATE,
    hub_id: str = HUB_ID,
    revision: str | None = None,
) -> LoadResult:
    """Pixmo-Count rows of ``split`` with images from ``image_cache`` (never downloaded)."""
    if "{label}" not in question_template:
        raise ConfigError("question_template must contain {label}")
    patterns = (f"{split}-*.parquet", f"{split}.parquet", f"**/{split}-*.parquet", f"{split}.jsonl", f"{split}.json")
    rows = source_rows(data_dir, patterns, hub_id, split=split, revision=revision)
    default_cache = Path(data_dir) / "images" if data_dir is not None else None
    cache = ImageCache(Path(image_cache) if image_cache else default_cache)
    ids = [f"{BENCHMARK}-{split}-{i}" for i in range(len(rows))]
    return collect(
        BENCHMARK,
        rows,
        ids,
        lambda row, sid: _convert(row, sid, cache, verify_sha256, question_template),
        limit=limit,
        seed=seed,
    )


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "Pixmo-Count: count objects of a label (integer answers; OpenSample). Images are URLs: read from a "
        "local sha256-named cache, missing ones reported per sample. Options: split, image_cache, verify_sha256, "
        "question_template."
    ),
    hub_id=HUB_ID,
    split="train (also validation, test)",
    size="36,916 train / 540 validation / 540 test",
    options="open (integer)",
    licence="ODC-BY (dataset); images from the web under their owners' terms",
    local_formats="parquet/jsonl of the hub rows + image cache dir of <sha256>[.ext] files",
    task="open",
    role="train",
    notes="never downloads; eval splits count 2–10.",
)

register_adapter(CARD, load)
