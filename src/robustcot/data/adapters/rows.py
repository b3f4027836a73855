"""Hub-or-local row sources: one interface over HF datasets, parquet, JSON(L), CSV and TSV files.

Adapters convert *rows* (plain dicts in the published column layout) into samples, and never care
where the rows came from. A :class:`Rows` source can report a cheap column (ids, group keys) for
the whole table and materialise only the rows that were selected, so a ``--limit 50`` run over a
benchmark with 30 000 high-resolution images touches 50 images' bytes, not 30 000.

Images stay encoded: parquet / HF image columns arrive as ``{"bytes": ..., "path": ...}`` structs
(the ``datasets`` Image feature's storage), which :mod:`robustcot.data.adapters.media` turns into
lazy :class:`~robustcot.data.sample.ImageInput` values.

The hub path (``datasets.load_dataset``) is used only when an adapter gets no ``data_dir``; tests
exercise it with ``load_dataset("parquet", data_files=...)`` on local files, never the network.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from robustcot.errors import ConfigError


class Rows(Protocol):
    """A table of source rows."""

    def __len__(self) -> int: ...

    def column(self, name: str) -> list[Any]:
        """All values of one (cheap, non-image) column; ``[None] * len`` when absent."""
        ...

    def take(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The rows at ``indices`` as dicts, in that order."""
        ...

    @property
    def columns(self) -> list[str]: ...


class ListRows:
    """Rows already in memory (JSON files, TSVs read with pandas)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def columns(self) -> list[str]:
        return list(self._rows[0]) if self._rows else []

    def column(self, name: str) -> list[Any]:
        return [r.get(name) for r in self._rows]

    def take(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return [self._rows[i] for i in indices]


class ArrowRows:
    """Rows of a pyarrow table (local parquet); columns are converted only for the taken rows."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.num_rows

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    def column(self, name: str) -> list[Any]:
        if name not in self._table.column_names:
            return [None] * len(self)
        return self._table.column(name).to_pylist()

    def take(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return self._table.take(list(indices)).to_pylist() if indices else []


class DatasetRows:
    """Rows of a ``datasets.Dataset``, read through its Arrow view so images are never decoded here."""

    def __init__(self, dataset: Any) -> None:
        self._arrow = dataset.with_format("arrow")
        self._names = list(dataset.column_names)
        self._n = len(dataset)

    def __len__(self) -> int:
        return self._n

    @property
    def columns(self) -> list[str]:
        return self._names

    def column(self, name: str) -> list[Any]:
        if name not in self._names:
            return [None] * self._n
        return self._arrow[name].to_pylist()

    def take(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return self._arrow[list(indices)].to_pylist() if indices else []


class ConcatRows:
    """Several row tables read as one (e.g. CV-Bench's ``test_2d`` and ``test_3d`` files)."""

    def __init__(self, parts: Sequence[Rows]) -> None:
        self._parts = list(parts)
        self._offsets: list[int] = []
        total = 0
        for p in self._parts:
            self._offsets.append(total)
            total += len(p)
        self._n = total

    def __len__(self) -> int:
        return self._n

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c for p in self._parts for c in p.columns))

    def column(self, name: str) -> list[Any]:
        return [v for p in self._parts for v in p.column(name)]

    def take(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        located: dict[int, list[tuple[int, int]]] = {}
        for pos, i in enumerate(indices):
            part = max(k for k, off in enumerate(self._offsets) if off <= i)
            located.setdefault(part, []).append((pos, i - self._offsets[part]))
        out: list[dict[str, Any]] = [{}] * len(indices)
        for part, items in located.items():
            for (pos, _), row in zip(items, self._parts[part].take([j for _, j in items]), strict=True):
                out[pos] = row
        return out


def hub_rows(
    path: str,
    *,
    name: str | None = None,
    split: str,
    data_files: Any = None,
    revision: str | None = None,
    cache_dir: str | None = None,
) -> DatasetRows:
    """Rows of a hub dataset (``path`` = hub id) or of a ``datasets`` builder such as ``"parquet"``.

    ``datasets`` is imported lazily: it is only needed for hub loading (``pip install datasets`` or
    the ``train`` extra).
    """
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError(
            f"loading {path!r} from the Hugging Face hub needs the `datasets` package "
            "(pip install datasets); or pass data_dir= with local files"
        ) from exc
    kwargs: dict[str, Any] = {"split": split}
    if data_files is not None:
        kwargs["data_files"] = data_files
    if revision is not None:
        kwargs["revision"] = revision
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    try:
        ds = datasets.load_dataset(path, name, **kwargs)
    except Exception as exc:  # network, auth, unknown config/split: one message naming the dataset
        raise ConfigError(f"cannot load hub dataset {path!r} (config {name!r}, split {split!r}): {exc}") from exc
    return DatasetRows(ds)


# --------------------------------------------------------------------------------------------------
# Local files


def read_parquet(paths: Sequence[Path]) -> ArrowRows:
    """One table from one or more parquet files (e.g. HF shards ``test-00000-of-00002.parquet``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in paths]
    if not tables:
        raise ConfigError("no parquet files given")
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    return ArrowRows(table)


def read_json_rows(path: Path) -> ListRows:
    """Rows of a JSON file (a list of rows, or one object = one row) or of a JSON-lines file.

    Decided by content, not extension: a whole-document parse is tried first, JSON lines second.
    Non-dict rows (WhatsUp's ``[id, caption, caption]`` lists) are wrapped as ``{"_value": row}``.
    """
    raw = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is neither JSON nor JSON lines: {exc}") from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ConfigError(f"{path} holds a {type(data).__name__}, expected rows")
    return ListRows([r if isinstance(r, dict) else {"_value": r} for r in data])


def read_tsv(path: Path) -> ListRows:
    """Rows of a VLMEvalKit-style TSV with every cell kept as text.

    ``keep_default_na=False`` keeps option texts such as ``None`` or ``NA`` as written (pandas would
    turn them into NaN); empty cells and ``nan`` are treated as missing by the adapters.
    """
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    frame = frame.astype(object).where(frame.notna(), None)
    return ListRows(frame.to_dict(orient="records"))


def read_local(paths: Sequence[Path]) -> Rows:
    """Rows of local files of one kind, chosen by extension (parquet, json/jsonl, tsv)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigError("no data files found")
    kinds = {p.suffix.lower() for p in paths}
    if kinds == {".parquet"}:
        return read_parquet(paths)
    rows: list[dict[str, Any]] = []
    for p in paths:
        suffix = p.suffix.lower()
        if suffix in (".json", ".jsonl"):
            rows.extend(_json_list(p))
        elif suffix == ".tsv":
            rows.extend(_tsv_list(p))
        else:
            raise ConfigError(f"unsupported data file {p} (expected parquet, json, jsonl or tsv)")
    return ListRows(rows)


def _json_list(path: Path) -> list[dict[str, Any]]:
    r = read_json_rows(path)
    return r.take(range(len(r)))


def _tsv_list(path: Path) -> list[dict[str, Any]]:
    r = read_tsv(path)
    return r.take(range(len(r)))


def tagged_rows(table: Rows, subset: str) -> list[dict[str, Any]]:
    """Every row of ``table`` with its subset name (``_subset``) and position in it (``_index``) added.

    Benchmarks published as one JSON file per subset (Spatial-MM, WhatsUp) are loaded as one table;
    the tags keep each row's origin for its sample id and metadata.
    """
    return [{**r, "_subset": subset, "_index": i} for i, r in enumerate(table.take(range(len(table))))]


def find_files(data_dir: Path, patterns: Sequence[str]) -> list[Path]:
    """Files under ``data_dir`` matching the first glob pattern that matches anything (sorted).

    Patterns are tried in order of preference, so an adapter can prefer the parquet export over a
    JSON-lines export of the same split without an if/elif chain over file names.
    """
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise ConfigError(f"data_dir {data_dir} does not exist")
    if data_dir.is_file():
        return [data_dir]
    for pattern in patterns:
        found = sorted(p for p in data_dir.glob(pattern) if p.is_file())
        if found:
            return found
    raise ConfigError(f"no data file in {data_dir} matches any of {list(patterns)}")


# --------------------------------------------------------------------------------------------------
# Local files or hub


def source_rows(
    data_dir: str | Path | None,
    patterns: Sequence[str],
    hub_id: str,
    *,
    split: str,
    name: str | None = None,
    revision: str | None = None,
) -> Rows:
    """Rows of the local files under ``data_dir`` matching ``patterns``, or of the hub copy without one.

    Every adapter with a hub copy reads its data this way: the published layout when the user
    points at local files, ``hub_id`` (config ``name``, ``split``) otherwise.
    """
    if data_dir is not None:
        return read_local(find_files(Path(data_dir), patterns))
    return hub_rows(hub_id, name=name, split=split, revision=revision)
