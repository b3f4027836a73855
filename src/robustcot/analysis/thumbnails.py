"""Image thumbnails for the sample browser.

Records do not hold images (a run directory stays small and images may be licensed), so the report
shows thumbnails only when the caller supplies images: a mapping ``sample_id → PIL image``, or an
:data:`ImageLoader` that is asked once per benchmark for the embedded sample ids.
:func:`registry_image_loader` is such a loader: it reloads each benchmark the way its run loaded it
(name, limit, seed and data directory from ``run.json``), which is what ``robustcot report`` uses.

Thumbnails are small JPEGs (longest side ``size`` pixels) embedded as data URIs; only the browser's
subset of samples gets one, so the page stays small.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from PIL import Image

from robustcot.store import RunStore

#: ``loader(benchmark, sample_ids) → {sample_id: image}``; ids it cannot serve are simply absent.
ImageLoader = Callable[[str, Sequence[str]], Mapping[str, Image.Image]]
ImageSource = Mapping[str, Image.Image] | ImageLoader

_JPEG_QUALITY = 70


def thumbnail_uri(image: Image.Image, size: int) -> str:
    """A JPEG data URI of ``image`` shrunk to fit ``size`` × ``size`` (aspect ratio kept)."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def collect_thumbnails(source: ImageSource | None, wanted: Sequence[tuple[str, str]], size: int
                       ) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Thumbnails for ``wanted`` (benchmark, sample_id) pairs, and notes on what could not be had.

    A loader that raises for one benchmark costs that benchmark its thumbnails, not the report.
    """
    if source is None or not wanted:
        return {}, []
    by_benchmark: dict[str, list[str]] = {}
    for benchmark, sample_id in wanted:
        by_benchmark.setdefault(benchmark, []).append(sample_id)
    out: dict[tuple[str, str], str] = {}
    notes = []
    for benchmark, ids in by_benchmark.items():
        try:
            images = source(benchmark, ids) if callable(source) else source
        except Exception as exc:  # a missing dataset must not stop the report
            notes.append(f"no thumbnails for {benchmark}: {type(exc).__name__}: {exc}")
            continue
        for sample_id in ids:
            image = images.get(sample_id)
            if image is not None:
                out[(benchmark, sample_id)] = thumbnail_uri(image, size)
    return out, notes


def registry_image_loader(run_dirs: Sequence[str | Path]) -> ImageLoader:
    """A loader that reloads each benchmark through the registry with its run's settings.

    Only ``run.json`` is read here; samples are loaded when the report asks for them. The first
    image of each sample is used. Benchmarks no run describes yield no thumbnails.
    """
    from robustcot.data.registry import load_benchmark

    settings = {}
    for run_dir in run_dirs:
        config = dict((RunStore(run_dir).read_meta() or {}).get("config") or {})
        if config.get("benchmark"):
            settings.setdefault(config["benchmark"], config)

    def load(benchmark: str, sample_ids: Sequence[str]) -> Mapping[str, Image.Image]:
        config = settings.get(benchmark)
        if config is None:
            return {}
        options = {"data_dir": config["data_dir"]} if config.get("data_dir") else {}
        wanted = set(sample_ids)
        samples = load_benchmark(benchmark, limit=config.get("limit"), seed=config.get("seed", 0), **options)
        return {s.id: s.images[0].load() for s in samples if s.id in wanted and s.images}

    return load
