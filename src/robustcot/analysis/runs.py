"""Reading run directories for a report: all their records in one table, and what each run was.

A report compares runs, so rows need a model label that tells runs apart. It is the ``model``
column (falling back to ``run.json``'s model and then the directory name); when two runs share a
model *and* a benchmark (two seeds, say) their rows would collide, so both get the run directory
appended and the collision is reported instead of silently merged.

Columns beyond the documented schema (``judge_<name>`` labels of LLM judges, a future
``prefill_mode``) are kept: the report discovers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from robustcot.errors import ConfigError
from robustcot.store import RunStore

#: Column holding the run a row came from (directory name), added to the combined records.
RUN_COLUMN = "run"


@dataclass(frozen=True)
class RunInfo:
    """One run directory as the report header describes it."""

    name: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    n_rows: int = 0

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta.get("config") or {})


def read_run(path: str | Path) -> tuple[pd.DataFrame, RunInfo]:
    """Records and metadata of one run directory.

    A compacted run is read straight from ``records.parquet`` so that columns outside the schema
    survive; a run with unfolded parts (interrupted) goes through :class:`RunStore`, which
    deduplicates them.
    """
    store = RunStore(path)
    if not store.path.is_dir():
        raise ConfigError(f"{store.path} is not a run directory")
    has_parts = store.parts_dir.exists() and any(store.parts_dir.glob("[0-9]*.parquet"))
    if store.records_path.exists() and not has_parts:
        records = pq.read_table(store.records_path).to_pandas()
    elif store.records_path.exists() or has_parts:
        records = store.records()
    else:
        raise ConfigError(f"{store.path} holds no records.parquet (and no parts)")
    meta = store.read_meta() or {}
    return records, RunInfo(store.path.name or str(store.path), store.path, meta, len(records))


@dataclass
class LoadedRuns:
    """The combined records of several runs, the runs themselves, and what loading had to change."""

    records: pd.DataFrame
    runs: list[RunInfo]
    notes: list[str]


def load_runs(run_dirs: Sequence[str | Path]) -> LoadedRuns:
    """All runs' records in one table with ``model`` filled in and a ``run`` column.

    Raises :class:`ConfigError` when no run is given or two directories have the same name.
    """
    if not run_dirs:
        raise ConfigError("no run directory given")
    frames, infos = [], []
    for path in run_dirs:
        records, info = read_run(path)
        fallback = info.config.get("model") or info.name
        model = records["model"] if "model" in records.columns else pd.Series(None, index=records.index)
        records = records.assign(model=model.fillna(fallback).astype(object), **{RUN_COLUMN: info.name})
        frames.append(records)
        infos.append(info)
    names = [i.name for i in infos]
    if len(set(names)) < len(names):
        raise ConfigError(f"run directories must have distinct names, got {names}")
    records, notes = combine_runs(frames)
    return LoadedRuns(records, infos, notes)


def combine_runs(frames: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """Concatenate per-run records (each with a ``run`` column); returns the table and notes.

    Runs that share a (model, benchmark) get their run name appended to the model label, and a note
    says so: pooling them would pair rows of different runs as if they were one.
    """
    combined = pd.concat(list(frames), ignore_index=True)
    pairs = combined[["model", "benchmark", RUN_COLUMN]].drop_duplicates()
    clash = pairs.duplicated(["model", "benchmark"], keep=False)
    clashing = pairs.loc[clash]
    if clashing.empty:
        return combined, []
    rows = combined[RUN_COLUMN].isin(set(clashing[RUN_COLUMN]))
    combined.loc[rows, "model"] = combined.loc[rows, "model"] + " [" + combined.loc[rows, RUN_COLUMN] + "]"
    notes = [f"runs {sorted(set(g[RUN_COLUMN]))} share model {m!r} on benchmark {b!r}; "
             "their model labels carry the run name and they are analysed separately"
             for (m, b), g in clashing.groupby(["model", "benchmark"])]
    return combined, notes
