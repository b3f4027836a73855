"""VLMEvalKit's benchmark TSV layout: letter option columns, base64 images, shared-image references.

One TSV per dataset; columns ``index``, ``question``, ``A``..``Z`` (any present letter column with a
value is an option), ``answer`` (letter), optional ``hint``, ``category``, ``l2-category``, ``split``
and ``image``. The ``image`` cell is one of:

* a base64-encoded image;
* a short string (≤ 64 characters) that is another row's ``index``: the image is shared, which is
  how circular copies of MMBench questions avoid storing the picture N times;
* a Python list literal of the above, for multi-image questions.

This module resolves the three cases (a dangling reference is a per-row error, not a crash) and
turns letter columns into options. Benchmark specifics stay in the adapter modules.
"""

from __future__ import annotations

import ast
from typing import Any

from robustcot.data.adapters.common import RowError, is_missing
from robustcot.data.adapters.media import image_from_base64
from robustcot.data.adapters.rows import Rows
from robustcot.data.sample import ImageInput

#: VLMEvalKit treats an image cell of at most this many characters as a reference to another row.
MAX_REFERENCE_LEN = 64


def normalise_index(value: Any) -> str:
    """The canonical text of an ``index`` cell (``"12.0"`` and ``12`` both → ``"12"``)."""
    s = str(value).strip()
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else s


class ImageRefs:
    """``index`` → image cell for rows that store an image themselves, built on first lookup.

    Laziness matters: only TSV rows that *refer* to another row need the table, and building it
    for a parquet source would pull every image's bytes into memory for nothing.
    """

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._table: dict[str, str] | None = None

    def _build(self) -> dict[str, str]:
        if self._table is None:
            self._table = {}
            for idx, cell in zip(self._rows.column("index"), self._rows.column("image"), strict=True):
                if isinstance(cell, str) and len(cell) > MAX_REFERENCE_LEN and not cell.lstrip().startswith("["):
                    self._table[normalise_index(idx)] = cell
        return self._table

    def __contains__(self, index: str) -> bool:
        return index in self._build()

    def __getitem__(self, index: str) -> str:
        return self._build()[index]


def image_table(rows: Rows) -> ImageRefs:
    """Lazy shared-image table of ``rows`` (see :class:`ImageRefs`)."""
    return ImageRefs(rows)


def _one(cell: str, table: ImageRefs | dict[str, str]) -> ImageInput:
    cell = cell.strip()
    if len(cell) <= MAX_REFERENCE_LEN:
        ref = normalise_index(cell)
        if ref not in table:
            raise RowError(f"image cell refers to row index {cell!r}, which holds no image")
        return image_from_base64(table[ref])
    return image_from_base64(cell)


def tsv_images(row: dict[str, Any], table: ImageRefs | dict[str, str]) -> list[ImageInput]:
    """The images of one TSV row, following shared-image references through ``table``."""
    cell = row.get("image")
    if is_missing(cell):
        raise RowError("row has no image")
    cell = str(cell)
    if cell.lstrip().startswith("["):
        try:
            items = ast.literal_eval(cell)
        except (ValueError, SyntaxError) as exc:
            raise RowError(f"image list cell is not a list literal: {exc}") from exc
        if not isinstance(items, list) or not items:
            raise RowError("image list cell is empty")
        return [_one(str(x), table) for x in items]
    return [_one(cell, table)]
