"""Benchmark registry: adapters register themselves by name; callers look them up by name.

An adapter module calls :func:`register_benchmark` at import time. Built-in adapters are listed in
``BUILTIN_ADAPTERS`` and imported on the first lookup, so importing the registry stays cheap and
adding a benchmark means adding one module (and one line here), never another ``if/elif`` branch.
Third-party code can call :func:`register_benchmark` directly.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robustcot.data.sample import Sample
from robustcot.errors import ConfigError

#: Modules that register built-in benchmarks when imported.
BUILTIN_ADAPTERS: tuple[str, ...] = (
    "robustcot.data.synthetic",
    "robustcot.data.adapters.cvbench",
    "robustcot.data.adapters.threedsrbench",
    "robustcot.data.adapters.spatial_mm_obj",
    "robustcot.data.adapters.spatial_mm_multihop",
    "robustcot.data.adapters.whatsup",
    "robustcot.data.adapters.vstar",
    "robustcot.data.adapters.mme_realworld_lite",
    "robustcot.data.adapters.mmbench",
    "robustcot.data.adapters.sat",
    "robustcot.data.adapters.pixmo_count",
    "robustcot.data.adapters.geometry3k",
)


@dataclass(frozen=True)
class BenchmarkInfo:
    """What the CLI and reports show about a benchmark, and how to load it.

    ``loader`` is called as ``loader(limit=..., seed=..., **options)`` and returns at most ``limit``
    samples (all of them when ``limit`` is None); ``seed`` fixes any subsampling or generation.
    """

    name: str
    description: str
    loader: Callable[..., list[Sample]]
    source: str
    licence: str


_REGISTRY: dict[str, BenchmarkInfo] = {}
_builtins_loaded = False


def register_benchmark(info: BenchmarkInfo) -> None:
    """Add ``info`` under its name; registering the same info again is a no-op, a different one an error."""
    known = _REGISTRY.get(info.name)
    if known is not None and known != info:
        raise ConfigError(f"benchmark {info.name!r} is already registered (from {known.source})")
    _REGISTRY[info.name] = info


def _ensure_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTIN_ADAPTERS:
            importlib.import_module(module)
        _builtins_loaded = True


def list_benchmarks() -> list[BenchmarkInfo]:
    """All registered benchmarks, sorted by name."""
    _ensure_builtins()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_benchmark(name: str) -> BenchmarkInfo:
    """The benchmark called ``name``; the error lists the known names."""
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(f"unknown benchmark {name!r}; known benchmarks: {known}") from None


def load_benchmark(name: str, *, limit: int | None = None, seed: int = 0, **options: Any) -> list[Sample]:
    """Load up to ``limit`` samples of benchmark ``name``.

    ``options`` are passed to the adapter's loader; they are checked against its signature first,
    so a misspelt option is reported as such instead of surfacing as a ``TypeError`` from inside.
    """
    info = get_benchmark(name)
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of samples, got {limit}")
    try:
        inspect.signature(info.loader).bind(limit=limit, seed=seed, **options)
    except TypeError as exc:
        raise ConfigError(f"invalid options for benchmark {name!r}: {exc}") from None
    return info.loader(limit=limit, seed=seed, **options)
