"""Scene graphs of simple coloured shapes, drawn with PIL.

The synthetic benchmark needs images whose content is known exactly, so that every answer and every
option statement can be derived from data rather than from a model. A scene places each object in its
own cell of a square grid and keeps it inside that cell: two objects in different columns are then
unambiguously left/right of each other (their extents do not even overlap horizontally), and likewise
for rows. This removes borderline cases that would make a "wrong" answer arguably right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 195, 20),
    "purple": (140, 60, 180),
    "orange": (245, 130, 20),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
SIZES: tuple[str, ...] = ("small", "large")

GRID = 4  # cells per side; fixed so that the layout statistics do not depend on image_size
MIN_IMAGE_SIZE = 32  # below this the small shapes shrink to a few pixels
_RADIUS_FRACTION = {"small": 0.22, "large": 0.40}  # of the cell side; large shapes still fit a cell
_BACKGROUND = (255, 255, 255)
_OUTLINE = (30, 30, 30)  # keeps light colours (yellow) visible against the white background


@dataclass(frozen=True)
class SceneObject:
    """One shape: what it is and where it is, in pixels of the rendered image.

    ``col``/``row`` name the grid cell; spatial relations are decided on them, never on raw pixel
    centres, so they are exact by construction.
    """

    shape: str
    colour: str
    size: str
    x: int
    y: int
    radius: int
    col: int
    row: int

    @property
    def name(self) -> str:
        """The object's unique name in its scene, e.g. ``red circle``."""
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene graph. Colour–shape pairs are unique within a scene, so "the red circle" always
    refers to exactly one object."""

    width: int
    height: int
    objects: tuple[SceneObject, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, stored in the sample metadata for audit and analysis."""
        return {
            "width": self.width,
            "height": self.height,
            "grid": GRID,
            "objects": [asdict(o) for o in self.objects],
        }


def random_scene(rng: np.random.Generator, image_size: int, n_objects: int) -> Scene:
    """Place ``n_objects`` shapes with distinct colour–shape pairs in distinct grid cells."""
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
    if not 1 <= n_objects <= min(GRID * GRID, len(SHAPES) * len(COLOURS)):
        raise ValueError(f"cannot place {n_objects} objects")
    cell = image_size / GRID
    kinds = rng.choice(len(SHAPES) * len(COLOURS), size=n_objects, replace=False)
    cells = rng.choice(GRID * GRID, size=n_objects, replace=False)
    sizes = rng.integers(0, len(SIZES), size=n_objects)
    jitter = rng.random((n_objects, 2))
    objects = []
    for k, c, s, (jx, jy) in zip(kinds, cells, sizes, jitter, strict=True):
        size = SIZES[s]
        radius = max(2, round(_RADIUS_FRACTION[size] * cell))
        col, row = int(c % GRID), int(c // GRID)
        # Centre anywhere that keeps the whole shape inside its cell (1 px margin).
        slack = max(0.0, cell - 2 * radius - 2)
        x = round(col * cell + 1 + radius + jx * slack)
        y = round(row * cell + 1 + radius + jy * slack)
        shape, colour = SHAPES[k // len(COLOURS)], COLOURS[k % len(COLOURS)]
        objects.append(SceneObject(shape, colour, size, x, y, radius, col, row))
    return Scene(image_size, image_size, tuple(objects))


def render(scene: Scene) -> Image.Image:
    """Draw the scene as an RGB image; deterministic for a given scene and Pillow version."""
    img = Image.new("RGB", (scene.width, scene.height), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    for o in scene.objects:
        box = (o.x - o.radius, o.y - o.radius, o.x + o.radius, o.y + o.radius)
        fill = PALETTE[o.colour]
        if o.shape == "circle":
            draw.ellipse(box, fill=fill, outline=_OUTLINE)
        elif o.shape == "square":
            draw.rectangle(box, fill=fill, outline=_OUTLINE)
        else:
            apex, left, right = (o.x, box[1]), (box[0], box[3]), (box[2], box[3])
            draw.polygon([apex, left, right], fill=fill, outline=_OUTLINE)
    return img
