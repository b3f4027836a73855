"""Spatial-MM one- and two-object questions (FatemehShiri/Spatial-MM).

Published layout (GitHub repository, ``data/``): ``spatial_mm_one_obj.json`` (502 rows) and
``spatial_mm_two_obj.json`` (1 074 rows), each a JSON list of
``{"image_name", "question", "answer", "object1", "object2"}``; images come separately (Google
Drive) and are looked up by ``image_name`` under ``image_dir`` (default: ``data_dir/images``, then
``data_dir``, then ``data_dir/..`` + ``images``). There is no hub copy, so ``data_dir`` is required.

The options are embedded in ``question`` (``"...?\\nA. bottom left\\nB. left"``): the stem is the
text before the first option line, the options are the ``<Letter>. <text>`` lines. ``answer`` is
``"<Letter>. <text>"``.

**Authoritative answer field.** Six rows (one_obj 25 and 62; two_obj 263, 527, 594 and 851) have
an answer whose letter names a different option than its text (e.g. options ``A. middle ... C.
left`` with answer ``"C. middle"``). We take the **text** as authoritative by default
(``answer_field="text"``): the text is what the annotator wrote about the image, while the letter
is bookkeeping that goes stale when options are reordered — and the text of every mismatching
row names an existing option. Every such row is flagged with ``metadata["answer_mismatch"]``
(letter, text, the two candidate indices) so it can be audited or excluded;
``answer_field="letter"`` follows the letter instead and ``answer_field="drop"`` rejects the row.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any, Literal

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    RowError,
    collect_tagged,
    register_adapter,
)
from robustcot.data.adapters.media import image_from_path
from robustcot.data.adapters.rows import find_files, read_json_rows, tagged_rows
from robustcot.data.sample import LETTERS, Sample
from robustcot.errors import ConfigError

BENCHMARK = "spatial_mm_obj"
AnswerField = Literal["text", "letter", "drop"]
Subset = Literal["one", "two", "all"]

FILES: dict[str, tuple[str, ...]] = {
    "one": ("spatial_mm_one_obj.json", "data/spatial_mm_one_obj.json"),
    "two": ("spatial_mm_two_obj.json", "data/spatial_mm_two_obj.json"),
}
_OPTION_LINE = re.compile(r"^([A-Z])\.\s*(.*?)\s*$")
_ANSWER = re.compile(r"^\s*([A-Z])\.\s*(.*?)\s*$", re.DOTALL)


def split_question(question: str) -> tuple[str, list[str]]:
    """Stem and options of a question with embedded ``A. ...`` lines (letters must run A, B, C...)."""
    lines = question.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith("A.")), None)
    if first is None or first == 0:
        raise RowError("question has no embedded 'A. ...' option line after a stem")
    options = []
    for k, line in enumerate(lines[first:]):
        m = _OPTION_LINE.match(line)
        if not m or m.group(1) != LETTERS[k]:
            raise RowError(f"option line {line!r} breaks the A, B, C... sequence")
        options.append(m.group(2))
    return "\n".join(lines[:first]).strip(), options


def resolve_answer(answer: str, options: list[str], field: AnswerField) -> tuple[int, dict[str, Any] | None]:
    """Gold index from ``"<Letter>. <text>"`` and the mismatch record when letter and text disagree."""
    m = _ANSWER.match(str(answer))
    if not m:
        raise RowError(f"answer {answer!r} is not '<Letter>. <text>'")
    letter, answer_text = m.group(1), m.group(2)
    by_letter = LETTERS.index(letter) if LETTERS.index(letter) < len(options) else None
    folded = [o.casefold() for o in options]
    by_text = folded.index(answer_text.casefold()) if answer_text.casefold() in folded else None
    if by_letter is not None and by_letter == by_text:
        return by_letter, None
    mismatch = {"letter": letter, "text": answer_text, "letter_index": by_letter, "text_index": by_text}
    if field == "drop":
        raise RowError(f"answer {answer!r}: letter and text name different options (answer_field='drop')")
    chosen = by_text if field == "text" else by_letter
    if chosen is None:
        chosen = by_letter if field == "text" else by_text
    if chosen is None:
        raise RowError(f"answer {answer!r} matches no option by letter or text")
    mismatch["used"] = "text" if chosen == by_text else "letter"
    return chosen, mismatch


def _convert(row: dict[str, Any], sid: str, roots: list[Path], field: AnswerField) -> Sample:
    stem, options = split_question(str(row["question"]))
    gold, mismatch = resolve_answer(str(row["answer"]), options, field)
    objects = [o for o in (row.get("object1"), row.get("object2")) if o]
    meta: dict[str, Any] = {
        "category": "two_obj" if row.get("_subset") == "two" else "one_obj",
        "source": f"spatial_mm_{row.get('_subset')}_obj",
        "objects": objects,
        "perspective": "camera" if "camera's perspective" in stem else ("object" if "perspective" in stem else None),
        "source_index": row.get("_index"),
        "answer_raw": row["answer"],
    }
    if mismatch is not None:
        meta["answer_mismatch"] = mismatch
    return Sample(
        id=sid,
        benchmark=BENCHMARK,
        images=[image_from_path(str(row["image_name"]), roots)],
        question=stem,
        options=options,
        gold_index=gold,
        metadata=meta,
    )


def load(
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    subset: Subset = "all",
    image_dir: str | Path | None = None,
    answer_field: AnswerField = "text",
    circular: bool = False,
) -> LoadResult:
    """Spatial-MM one/two-object MCQs from the repository JSON files."""
    if data_dir is None:
        raise ConfigError("spatial_mm_obj has no hub copy: pass data_dir= (the Spatial-MM repository or its data/)")
    if answer_field not in ("text", "letter", "drop"):
        raise ConfigError(f"answer_field must be text, letter or drop, got {answer_field!r}")
    root = Path(data_dir)
    parts = ["one", "two"] if subset == "all" else [subset]
    rows: list[dict[str, Any]] = []
    for part in parts:
        if part not in FILES:
            raise ConfigError(f"spatial_mm_obj subset must be one, two or all, got {subset!r}")
        rows += tagged_rows(read_json_rows(find_files(root, FILES[part])[0]), part)
    roots = [Path(image_dir)] if image_dir else [root / "images", root, root.parent / "images"]
    convert = partial(_convert, roots=roots, field=answer_field)
    return collect_tagged(BENCHMARK, rows, convert, limit=limit, seed=seed, circular=circular)


CARD = BenchmarkCard(
    name=BENCHMARK,
    description=(
        "Spatial-MM one- and two-object spatial MCQs (options embedded in the question; camera vs object "
        "perspective). Options: subset=one|two|all, image_dir, answer_field=text|letter|drop, circular."
    ),
    hub_id=None,
    split="all",
    size="1,576 (502 one-object + 1,074 two-object)",
    options="2 or 4",
    licence="see the Spatial-MM repository (no licence file read); images via the authors' Drive",
    local_formats="data/spatial_mm_one_obj.json, data/spatial_mm_two_obj.json + images/<image_name>",
    notes="6 rows whose answer letter and text disagree: text is authoritative, flagged answer_mismatch.",
)

register_adapter(CARD, load)
