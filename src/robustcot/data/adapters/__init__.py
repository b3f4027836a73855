"""Benchmark adapters: one module per benchmark, each registering itself on import.

Every adapter exposes ``load(limit=None, seed=0, data_dir=None, **options)``: with ``data_dir`` it
reads local files in the benchmark's original published format, without it the hub copy through
HF ``datasets``. It returns a :class:`LoadResult` — the list of samples, with the rows that could
not be turned into samples in ``.rejects`` (each a :class:`Reject` naming the sample and the
problem). Multiple-choice benchmarks produce :class:`~robustcot.data.sample.Sample`; open-ended
ones (``task == "open"``) produce :class:`OpenSample`. See ``docs/benchmarks.md``.
"""

from robustcot.data.adapters.common import (
    BenchmarkCard,
    LoadResult,
    Reject,
    RowError,
    get_card,
    list_benchmark_info,
    rejects_of,
    rotations,
    task_of,
)
from robustcot.data.adapters.open_ended import OpenSample, score_open

#: Adapter modules, for ``robustcot.data.registry.BUILTIN_ADAPTERS``.
ADAPTER_MODULES: tuple[str, ...] = tuple(
    f"robustcot.data.adapters.{name}"
    for name in (
        "cvbench",
        "threedsrbench",
        "spatial_mm_obj",
        "spatial_mm_multihop",
        "whatsup",
        "vstar",
        "mme_realworld_lite",
        "mmbench",
        "sat",
        "pixmo_count",
        "geometry3k",
    )
)

__all__ = [
    "ADAPTER_MODULES",
    "BenchmarkCard",
    "LoadResult",
    "OpenSample",
    "Reject",
    "RowError",
    "get_card",
    "list_benchmark_info",
    "rejects_of",
    "rotations",
    "score_open",
    "task_of",
]
