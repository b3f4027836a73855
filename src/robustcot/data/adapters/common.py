"""What every benchmark adapter shares: load results with rejects, seeded selection, rotations, cards.

A malformed row must not kill a load of thousands of good ones, and it must not vanish either
(every number is traceable). Adapters therefore build each sample inside :meth:`Collector.add`,
which turns any :class:`~robustcot.errors.SampleError` (raised by the Sample schema) or
:class:`RowError` (raised by an adapter that cannot read a row) into a :class:`Reject` naming the
sample. A loader returns a :class:`LoadResult`: a plain ``list`` of samples — so every caller that
expects ``list[Sample]`` keeps working — with the rejects attached as ``.rejects``; the evaluation
records each reject as an error row.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from robustcot.data.adapters.rows import ListRows
from robustcot.data.registry import BenchmarkInfo, list_benchmarks, register_benchmark
from robustcot.data.sample import LETTERS, Sample
from robustcot.errors import RobustCoTError, SampleError

Task = Literal["mcq", "open"]


class RowError(RobustCoTError, ValueError):
    """A source row cannot be turned into a sample (missing image file, unreadable answer...)."""


@dataclass(frozen=True)
class Reject:
    """A source row that produced no sample, and why; recorded as an error row by the caller."""

    sample_id: str
    benchmark: str
    problem: str


class LoadResult(list):
    """The samples of a load (it *is* the list) plus ``rejects``: the rows that failed, with reasons.

    Subclassing ``list`` keeps the registry's ``loader(...) -> list[Sample]`` contract intact while
    letting callers that know about rejects read them.
    """

    def __init__(self, samples: Iterable[Any] = (), rejects: Iterable[Reject] = ()) -> None:
        super().__init__(samples)
        self.rejects: list[Reject] = list(rejects)

    def __repr__(self) -> str:
        return f"LoadResult({len(self)} samples, {len(self.rejects)} rejects)"


def rejects_of(samples: Sequence[Any]) -> list[Reject]:
    """The rejects attached to a loader's result; ``[]`` for a plain list (e.g. synthetic)."""
    return list(getattr(samples, "rejects", []))


class Collector:
    """Builds samples one row at a time, turning row failures into :class:`Reject` entries."""

    #: Failures of a single row that must not stop the load. ``KeyError``/``TypeError``/``ValueError``
    #: come from rows with missing or mistyped fields; they are reported with their type.
    ROW_FAILURES: tuple[type[BaseException], ...] = (SampleError, RowError, KeyError, TypeError, ValueError)

    def __init__(self, benchmark: str) -> None:
        self.benchmark = benchmark
        self.samples: list[Any] = []
        self.rejects: list[Reject] = []

    def add(self, sample_id: str, build: Callable[[], Any]) -> None:
        try:
            item = build()
        except self.ROW_FAILURES as exc:
            self.reject(sample_id, _problem(exc))
            return
        if isinstance(item, list):
            self.samples.extend(item)
        else:
            self.samples.append(item)

    def reject(self, sample_id: str, problem: str) -> None:
        self.rejects.append(Reject(sample_id, self.benchmark, problem))

    def result(self, *, circular: bool = False) -> LoadResult:
        """The collected samples; with ``circular`` each MCQ sample is followed by its rotations.

        Adapters whose source already holds circular copies (MMBench, 3DSRBench TSVs) pass
        ``circular=False`` here: their copies are rows of their own.
        """
        samples = self.samples
        if circular:
            samples = [r for s in samples for r in (rotations(s) if isinstance(s, Sample) else [s])]
        return LoadResult(samples, self.rejects)


def _problem(exc: BaseException) -> str:
    """A one-line reason; the SampleError inside a pydantic ValidationError is unwrapped."""
    if isinstance(exc, ValidationError):
        inner = [e.get("ctx", {}).get("error") for e in exc.errors()]
        found = [e.problem for e in inner if isinstance(e, SampleError)]
        return "; ".join(found) if found else "; ".join(e["msg"] for e in exc.errors())
    if isinstance(exc, SampleError):
        return exc.problem
    if isinstance(exc, RowError):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------------
# Selection


def select_groups(keys: Sequence[Hashable], limit: int | None, seed: int) -> list[int]:
    """Row indices of ``limit`` groups drawn with ``seed``, in source order; all rows when no limit.

    ``keys[i]`` is the group of row ``i`` (its own id when rows are not grouped). Groups are drawn
    from one seeded permutation, so the groups picked for ``limit=10`` are among those picked for
    ``limit=50``, and a benchmark stored sorted by task (CV-Bench, MME-RealWorld) is sampled across
    tasks rather than cut after the first one. Whole groups are always kept: circular copies and
    flipped twins of a question are scored together.
    """
    if limit is None:
        return list(range(len(keys)))
    order: dict[Hashable, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault(k, []).append(i)
    groups = list(order.values())
    perm = np.random.default_rng(seed).permutation(len(groups))
    chosen = [groups[int(g)] for g in perm[:limit]]
    return sorted(i for g in chosen for i in g)


def stable_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``key`` (never on load order or ``limit``)."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def shuffled(options: Sequence[str], gold: int, seed: int, key: str) -> tuple[list[str], int, list[int]]:
    """Options in a seeded order, the gold's new index, and the permutation (new → source index).

    Used where the source always lists the correct option first (WhatsUp, V* annotations) or asks
    to be randomised (SAT): without it the letter ``A`` would always be right.
    """
    order = [int(k) for k in stable_rng(seed, key).permutation(len(options))]
    return [options[k] for k in order], order.index(gold), order


#: Key of a stand-in row for a source file that could not be read (see :func:`unreadable_row`).
UNREADABLE = "_error"


def unreadable_row(problem: str) -> dict[str, Any]:
    """A stand-in row for a source file that could not be read; :func:`collect` rejects it with ``problem``.

    Benchmarks stored as one file per question (Geometry3K folders, V* annotations) list their files
    first; a broken one must become one reject, neither a crash of the load nor a silent gap.
    """
    return {UNREADABLE: problem}


def collect(
    benchmark: str,
    rows: Any,
    ids: Sequence[str],
    convert: Callable[[dict[str, Any], str], Any],
    *,
    limit: int | None,
    seed: int,
    groups: Sequence[Hashable] | None = None,
    eligible: Sequence[int] | None = None,
    circular: bool = False,
) -> LoadResult:
    """The shared loader body: select rows (by group), convert each one, collect rejects.

    ``rows`` is a :class:`~robustcot.data.adapters.rows.Rows` table, ``ids[i]`` the sample id of
    row ``i`` and ``groups[i]`` its selection group (defaults to the id); ``eligible`` restricts the
    load to those row indices (a subset or category filter) without materialising the others.
    ``convert(row, id)`` returns a sample (or a list of samples) or raises for a bad row; a row
    from :func:`unreadable_row` is rejected without being converted.
    """
    if len(ids) != len(rows):
        raise ValueError(f"{len(ids)} ids for {len(rows)} rows")
    pool = list(range(len(rows))) if eligible is None else list(eligible)
    keys = list(groups) if groups is not None else list(ids)
    chosen = [pool[j] for j in select_groups([keys[i] for i in pool], limit, seed)]
    out = Collector(benchmark)
    seen: set[str] = set()
    for i, row in zip(chosen, rows.take(chosen), strict=True):
        sid = ids[i]
        if sid in seen:  # a second row with the same id would overwrite the first one's records
            out.reject(sid, f"duplicate sample id (source row {i})")
            continue
        seen.add(sid)
        if UNREADABLE in row:
            out.reject(sid, str(row[UNREADABLE]))
            continue
        out.add(sid, lambda row=row, sid=sid: convert(row, sid))
    return out.result(circular=circular)


def collect_tagged(
    benchmark: str,
    rows: list[dict[str, Any]],
    convert: Callable[[dict[str, Any], str], Any],
    *,
    limit: int | None,
    seed: int,
    circular: bool = False,
) -> LoadResult:
    """:func:`collect` over rows from :func:`~robustcot.data.adapters.rows.tagged_rows`.

    Each sample id is ``{benchmark}-{subset}-{index}``: stable under adding or removing subsets.
    """
    ids = [f"{benchmark}-{r['_subset']}-{r['_index']}" for r in rows]
    return collect(benchmark, ListRows(rows), ids, convert, limit=limit, seed=seed, circular=circular)


# --------------------------------------------------------------------------------------------------
# Circular evaluation




def rotations(sample: Sample) -> list[Sample]:
    """``sample`` and its N-1 rotated copies (options shifted by k), grouped for circular scoring.

    Copy ``k`` shows option ``(i + k) mod N`` at position ``i``, as VLMEvalKit's CircularEval does; a
    question counts as right only if every copy is answered right.
    """
    n = len(sample.options)
    out = []
    for k in range(n):
        order = [(i + k) % n for i in range(n)]
        meta = {**sample.metadata, "groups": {**sample.metadata.get("groups", {}), "circular": sample.id}}
        if k:
            meta["augmentation"] = f"circular:{k}"
        out.append(
            sample.model_copy(
                update={
                    "id": sample.id if k == 0 else f"{sample.id}@rot{k}",
                    "options": [sample.options[j] for j in order],
                    "gold_index": order.index(sample.gold_index),
                    "option_statements": None
                    if sample.option_statements is None
                    else [sample.option_statements[j] for j in order],
                    "metadata": meta,
                }
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# Field helpers


def is_missing(value: Any) -> bool:
    """True for None, NaN and the strings '' / 'nan' / 'none' that TSV exports write for absent cells."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan")


def text(value: Any) -> str | None:
    """A stripped string, or None when the cell is missing."""
    return None if is_missing(value) else str(value).strip()


_LETTER = re.compile(r"^\s*\(?\s*([A-Za-z])\s*\)?\s*[.:]?\s*$")


def letter_index(answer: Any, n_options: int) -> int:
    """0-based index of an answer letter written as ``C``, ``(C)``, ``C.`` or ``c``."""
    m = _LETTER.match(str(answer)) if not is_missing(answer) else None
    if not m:
        raise RowError(f"answer {answer!r} is not an option letter")
    idx = LETTERS.index(m.group(1).upper())
    if idx >= n_options:
        raise RowError(f"answer letter {m.group(1)!r} has no option (only {n_options})")
    return idx


def lettered_options(row: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Options from VLMEvalKit-style letter columns ``A``, ``B``, ... (missing cells skipped).

    Returns the option texts and the source letters they came from, so an answer letter can be
    mapped even when a middle column is empty (the letters are then re-assigned contiguously).
    """
    options, letters = [], []
    for letter in LETTERS:
        if letter not in row:
            continue
        value = text(row[letter])
        if value is not None:
            options.append(value)
            letters.append(letter)
    return options, letters


def gold_from_letter(answer: Any, letters: list[str]) -> int:
    """Index into the kept options of the source answer letter (see :func:`lettered_options`)."""
    m = _LETTER.match(str(answer)) if not is_missing(answer) else None
    if not m or m.group(1).upper() not in letters:
        raise RowError(f"answer {answer!r} is not one of the option letters {letters}")
    return letters.index(m.group(1).upper())


def as_list(value: Any) -> list[Any]:
    """A Python list from a list, tuple, numpy array or pyarrow scalar list (None → [])."""
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value)


# --------------------------------------------------------------------------------------------------
# Benchmark cards (what `robustcot benchmarks` shows beyond BenchmarkInfo)


@dataclass(frozen=True)
class BenchmarkCard:
    """Facts about a benchmark's data for listings and docs; none of it changes loading."""

    name: str
    description: str
    hub_id: str | None
    """Default hub dataset used when no ``data_dir`` is given (None: local files only)."""
    split: str
    size: str
    """Question count as published (``~`` marks an unverified figure)."""
    options: str
    """Option count(s), e.g. ``2–4``; ``open`` for open-ended answers."""
    licence: str
    local_formats: str
    """The published local layouts the adapter reads from ``data_dir``."""
    task: Task = "mcq"
    role: Literal["eval", "train"] = "eval"
    notes: str = ""

    @property
    def source(self) -> str:
        return f"hf:{self.hub_id}" if self.hub_id else "local files only (data_dir)"


_CARDS: dict[str, BenchmarkCard] = {}


def register_adapter(card: BenchmarkCard, loader: Callable[..., list[Any]]) -> None:
    """Register ``loader`` under ``card.name`` in the benchmark registry and remember the card."""
    _CARDS[card.name] = card
    register_benchmark(
        BenchmarkInfo(
            name=card.name,
            description=card.description,
            loader=loader,
            source=card.source,
            licence=card.licence,
        )
    )


def get_card(name: str) -> BenchmarkCard | None:
    return _CARDS.get(name)


def task_of(name: str) -> Task:
    """``open`` for open-ended benchmarks (OpenSample), ``mcq`` otherwise (unknown names included)."""
    card = _CARDS.get(name)
    return card.task if card else "mcq"


def list_benchmark_info() -> list[dict[str, str]]:
    """One row per registered benchmark for ``robustcot benchmarks`` (card fields where known)."""
    rows = []
    for info in list_benchmarks():
        card = _CARDS.get(info.name)
        rows.append(
            {
                "name": info.name,
                "task": card.task if card else "mcq",
                "role": card.role if card else "eval",
                "source": info.source,
                "split": card.split if card else "",
                "size": card.size if card else "",
                "options": card.options if card else "",
                "licence": info.licence,
                "local_formats": card.local_formats if card else "",
                "description": info.description,
                "notes": card.notes if card else "",
            }
        )
    return rows
