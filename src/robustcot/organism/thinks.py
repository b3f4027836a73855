"""Step-by-step thinks for the organism's traces, written from the scene graph.

A relation question needs two lookups and a comparison. Asked to write the conclusion at once, a
small model must do all three inside one token's forward pass; written out, each token needs one
thing: the column of a named object (one attention lookup into the image tokens), then a comparison
of two digits already in the text. The organism learns the written-out form much faster, as a real
model's chain of thought helps it. The last sentence is always the gold option's statement, the
sentence an injected think asserts, so the rule judge reads the same conclusion from both.

Questions about one object (colour, size) and counting need a single lookup; their think is the
statement alone.
"""

from __future__ import annotations

import re
from typing import Any

from robustcot.data.sample import Sample

#: Scene-graph coordinate each relation family compares, and the word the think uses for it.
_AXES = {"left_right": ("col", "column"), "above_below": ("row", "row")}


def named_objects(question: str, scene: dict[str, Any]) -> list[dict[str, Any]]:
    """The scene's objects in the order the question names them (by their ``colour shape`` name)."""
    found = []
    for o in scene["objects"]:
        at = question.find(f"{o['colour']} {o['shape']}")
        if at >= 0:
            found.append((at, o))
    return [o for _, o in sorted(found, key=lambda pair: pair[0])]


def worked_think(sample: Sample, statement: str) -> str:
    """The think text (without tags) that leads to ``statement`` for ``sample``."""
    family = sample.metadata.get("category")
    if family not in _AXES:
        return statement
    key, word = _AXES[family]
    objects = named_objects(sample.question, sample.metadata["scene"])
    if len(objects) != 2:
        raise ValueError(
            f"sample {sample.id}: a {family} question must name two objects, found {len(objects)}"
        )
    steps = [f"The {o['colour']} {o['shape']} is in {word} {o[key] + 1}." for o in objects]
    return " ".join([*steps, "So " + statement[0].lower() + statement[1:]])


#: A sentence of a think that reads one object's attribute: "The red circle is in column 1.",
#: "The blue circle is large.", "The small square is yellow." (capitalised: the concluding "So the
#: ..." of a relation compares, it looks nothing up).
_LOOKUP = re.compile(r"The (?P<ref>[a-z]+(?: [a-z]+)*?) is (?:in (?P<axis>row|column) )?(?P<value>\w+)\.")

#: A counting statement: "There are 3 circles in the image.", "There is 1 square ...", "There are no
#: triangles ...". The verb already says whether the count is one, so it is read from the image too.
_COUNT = re.compile(r"There (?P<verb>is|are) (?P<value>no|\d+) (?P<shape>[a-z]+?)s? in the image\.")

#: What a lookup reads: a grid coordinate, an attribute of the object itself (size, colour), or how
#: many objects of a shape there are.
LOOKUP_KINDS = ("row", "column", "attribute", "count")


def referent(ref: str, scene: dict[str, Any]) -> dict[str, Any] | None:
    """The one object of ``scene`` that ``ref`` ("red circle", "small square", "triangle") names."""
    words = set(ref.split())
    found = [o for o in scene["objects"] if words <= {o["colour"], o["shape"], o["size"]}]
    return found[0] if len(found) == 1 else None


def lookups(sample: Sample, think: str) -> list[tuple[int, tuple[int, ...], str]]:
    """Where ``think`` reads the image: (offset of the read word's leading space in ``think``, the
    grid cells (raster order) of the objects it reads, what is read: one of :data:`LOOKUP_KINDS`).

    These are the tokens whose prediction needs image tokens; the organism's grounding loss
    (:mod:`robustcot.organism.sft`) points one attention head at those tokens there. A coordinate or
    attribute reads one object's cell; a count reads every object of the shape (none for a count of
    zero), and both the verb and the number need it.
    """
    scene = sample.metadata["scene"]
    grid = scene["grid"]
    found = []
    for match in _LOOKUP.finditer(think):
        obj = referent(match["ref"], scene)
        if obj is not None:
            cell = obj["row"] * grid + obj["col"]
            found.append((match.start("value") - 1, (cell,), match["axis"] or "attribute"))
    for match in _COUNT.finditer(think):
        cells = tuple(o["row"] * grid + o["col"] for o in scene["objects"] if o["shape"] == match["shape"])
        found += [(match.start(part) - 1, cells, "count") for part in ("verb", "value")]
    return found
