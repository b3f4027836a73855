"""Join the shard runs of one evaluation into one run directory, after proving they are complete.

Metrics over a merged run are only meaningful if the shards are one evaluation and nothing is
missing: a forgotten shard, a shard that crashed half-way, or shards run with different settings
would silently change the sample set behind every number. So before writing, the merge checks

- every input is a shard run, and all share one identity except the shard index, plus the
  settings that decide the plan but are not part of the identity (limit, variants, abstain);
- the shard indices are ``0..n-1``, each exactly once;
- no record key is in two shards;
- each shard holds exactly its planned keys, re-planned from the recorded config with the
  evaluation's own planner and shard rule (error rows count as present and are reported).

The merged directory is an ordinary run directory (identity with ``shard: null``, so it equals an
unsharded run of the same settings) whose ``run.json`` also lists every shard's directory,
fingerprint and library versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from robustcot.config import EvalConfig
from robustcot.distributed.shards import Shard, parse_shard, shard_of
from robustcot.errors import RobustCoTError
from robustcot.store import RunStore, atomic_write_table

#: Config fields outside the identity that still decide which keys a shard plans.
PLAN_SETTINGS = ("limit", "variants", "abstain")
#: How many keys an error message quotes before "and N more".
QUOTED_KEYS = 5


class MergeError(RobustCoTError):
    """The given runs are not one complete sharded evaluation."""


@dataclass(frozen=True)
class ShardRun:
    """One input of a merge: its directory, its ``run.json`` and the shard it evaluated."""

    path: Path
    meta: dict[str, Any]
    shard: Shard

    @property
    def label(self) -> str:
        return f"shard {self.shard} ({self.path})"


@dataclass
class MergeResult:
    """What was merged, and what is missing (only non-empty with ``allow_incomplete``)."""

    out: Path
    n_shards: int
    n_records: int
    n_errors: int
    """Error rows in the merged records: present (not missing) but without a scored answer."""
    missing_shards: list[int] = field(default_factory=list)
    missing_keys: dict[int, list[str]] = field(default_factory=dict)
    """Shard index → planned keys without a record (all planned keys of a missing shard)."""
    notes: list[str] = field(default_factory=list)
    """Differences between shards that do not block a merge (device, library versions)."""

    @property
    def complete(self) -> bool:
        return not self.missing_shards and not any(self.missing_keys.values())

    def problems(self) -> list[str]:
        """One line per missing shard or shard with missing keys; empty when complete."""
        lines = [f"shard {i}/{self.n_shards} is missing" for i in self.missing_shards]
        lines += [
            f"shard {i}/{self.n_shards} lacks {len(keys)} planned records: {_quote(keys)}"
            for i, keys in sorted(self.missing_keys.items())
            if keys and i not in self.missing_shards
        ]
        return lines


def merge_runs(
    run_dirs: Sequence[str | Path], out: str | Path, *, allow_incomplete: bool = False
) -> MergeResult:
    """Check that ``run_dirs`` are the complete shards of one evaluation and write them to ``out``.

    Raises :class:`MergeError` naming the missing shard, the missing keys (first few and the
    count) or the mismatched settings. With ``allow_incomplete`` missing shards and keys are
    merged around and returned in the result instead; shards of different evaluations,
    duplicated shards or keys, and records outside a shard's plan are errors either way,
    because they make the merged records ambiguous rather than merely partial.
    """
    out = Path(out)
    runs = sorted((read_shard_run(p) for p in run_dirs), key=lambda r: r.shard.index)
    if not runs:
        raise MergeError("no run directory given")
    _check_output(out, runs)
    count = _check_one_evaluation(runs)
    missing_shards = _missing_shards(runs, count)
    if missing_shards and not allow_incomplete:
        names = ", ".join(f"{i}/{count}" for i in missing_shards)
        raise MergeError(
            f"missing shard(s) {names}: run them with `robustcot eval --shard i/n` and the same settings, "
            "or merge with --allow-incomplete"
        )
    tables = {r.shard.index: RunStore(r.path).table() for r in runs}
    _check_no_shared_keys(runs, tables)
    order, planned = planned_keys(_unsharded_config(runs[0]), count)
    missing_keys = _check_coverage(runs, tables, planned, allow_incomplete)
    missing_keys.update({i: planned[i] for i in missing_shards})
    table = _in_plan_order(pa.concat_tables(tables.values(), promote_options="default"), order)
    n_errors = int(pc.sum(pc.equal(table.column("status"), "error")).as_py() or 0)
    result = MergeResult(out, count, table.num_rows, n_errors, missing_shards, missing_keys, _notes(runs))
    _write(out, runs, tables, table, result)
    return result


def read_shard_run(path: str | Path) -> ShardRun:
    """A shard run directory's metadata; :class:`MergeError` if it is not a shard run."""
    meta = RunStore(path).read_meta()
    if meta is None:
        raise MergeError(f"{path} is not a run directory (no run.json)")
    shard = (meta.get("identity") or {}).get("shard")
    if shard is None:
        raise MergeError(f"{path} is not a shard run (its run.json names no shard); run it with --shard i/n")
    return ShardRun(Path(path), meta, parse_shard(shard))


def planned_keys(config: EvalConfig, count: int) -> tuple[list[str], dict[int, list[str]]]:
    """Every key an unsharded run of ``config`` writes, in its write order, and the keys per shard.

    Uses the evaluation's own loading, planning and reject handling, and assigns each key to the
    shard of its sample with the same rule as ``--shard``, so a shard's plan is exactly what
    ``run_eval`` planned in it. The benchmark is loaded once for all shards.
    """
    from robustcot.data.adapters import rejects_of
    from robustcot.data.registry import load_benchmark
    from robustcot.evaluate import load_failures, plan
    from robustcot.prompting.profiles import profile_for_model

    options = dict(config.benchmark_options)
    if config.data_dir is not None:
        options["data_dir"] = config.data_dir
    samples = load_benchmark(config.benchmark, limit=config.limit, seed=config.seed, **options)
    items, failures = plan(samples, config, profile_for_model(config.model, config.profile))
    failures += load_failures(rejects_of(samples), config)
    keyed = [(f.sample_id, f.key) for f in failures] + [(i.sample.id, i.key) for i in items]
    by_shard: dict[int, list[str]] = {i: [] for i in range(count)}
    for sample_id, key in keyed:
        by_shard[shard_of(sample_id, count)].append(key)
    return [key for _, key in keyed], by_shard


def _quote(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:QUOTED_KEYS])
    return shown + (f" and {len(keys) - QUOTED_KEYS} more" if len(keys) > QUOTED_KEYS else "")


def _check_output(out: Path, runs: list[ShardRun]) -> None:
    """Refuse to write into a shard or over a run that is not an earlier merge."""
    if any(out.resolve() == r.path.resolve() for r in runs):
        raise MergeError(f"--out {out} is one of the shard runs; choose a new directory")
    existing = RunStore(out).read_meta()
    if existing is not None and "shards" not in existing:
        raise MergeError(f"{out} holds a run that is not a merge; choose another --out directory")


def _check_one_evaluation(runs: list[ShardRun]) -> int:
    """The shard count, after checking that every run has the first one's identity and plan settings."""
    ref = runs[0]
    ref_identity = {**ref.meta["identity"], "shard": None}
    for run in runs[1:]:
        if run.shard.count != ref.shard.count:
            raise MergeError(
                f"{run.label} and {ref.label} split the samples into different numbers of shards"
            )
        identity = {**run.meta["identity"], "shard": None}
        diff = {k: (ref_identity.get(k), identity.get(k)) for k in ref_identity.keys() | identity.keys()}
        diff.update({k: (ref.meta["config"].get(k), run.meta["config"].get(k)) for k in PLAN_SETTINGS})
        diff = {k: ab for k, ab in diff.items() if ab[0] != ab[1]}
        if diff:
            detail = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in sorted(diff.items()))
            raise MergeError(f"{ref.label} and {run.label} are not shards of one evaluation ({detail})")
    return ref.shard.count


def _missing_shards(runs: list[ShardRun], count: int) -> list[int]:
    """Shard indices not given; a shard given twice is an error (which copy would be right?)."""
    seen: dict[int, ShardRun] = {}
    for run in runs:
        if run.shard.index in seen:
            raise MergeError(f"shard {run.shard} is given twice: {seen[run.shard.index].path} and {run.path}")
        seen[run.shard.index] = run
    return [i for i in range(count) if i not in seen]


def _check_no_shared_keys(runs: list[ShardRun], tables: dict[int, pa.Table]) -> None:
    owner: dict[str, ShardRun] = {}
    shared: list[str] = []
    pairs: set[tuple[str, str]] = set()
    for run in runs:
        for key in tables[run.shard.index].column("key").to_pylist():
            if key in owner:
                shared.append(key)
                pairs.add((str(owner[key].shard), str(run.shard)))
            owner.setdefault(key, run)
    if shared:
        where = ", ".join(f"{a} and {b}" for a, b in sorted(pairs))
        raise MergeError(f"{len(shared)} record keys appear in two shards ({where}): {_quote(shared)}")


def _check_coverage(
    runs: list[ShardRun], tables: dict[int, pa.Table], planned: dict[int, list[str]], allow_incomplete: bool
) -> dict[int, list[str]]:
    """Planned keys each shard lacks; records outside a shard's plan are always an error."""
    missing: dict[int, list[str]] = {}
    problems: list[str] = []
    for run in runs:
        present = set(tables[run.shard.index].column("key").to_pylist())
        expected = planned[run.shard.index]
        extra = sorted(present - set(expected))
        if extra:
            raise MergeError(
                f"{run.label} has {len(extra)} records outside its plan: {_quote(extra)} "
                f"(were the shards run with other variants, limit or data?)"
            )
        lacking = [k for k in expected if k not in present]
        if lacking:
            missing[run.shard.index] = lacking
            problems.append(
                f"{run.label} lacks {len(lacking)} of its {len(expected)} planned records: {_quote(lacking)}"
            )
    if problems and not allow_incomplete:
        raise MergeError(
            "; ".join(problems)
            + " — resume those shards with the same command, or merge with --allow-incomplete"
        )
    return missing


def _unsharded_config(run: ShardRun) -> EvalConfig:
    return EvalConfig.model_validate({**run.meta["config"], "shard": None})


def _in_plan_order(table: pa.Table, order: list[str]) -> pa.Table:
    """Rows in the order an unsharded run writes them, so merged and unsharded runs line up."""
    rank = {key: i for i, key in enumerate(order)}
    keys = table.column("key").to_pylist()
    return table.take(pa.array(sorted(range(len(keys)), key=lambda i: rank[keys[i]]), type=pa.int64()))


def _notes(runs: list[ShardRun]) -> list[str]:
    """Fingerprint and version fields that differ between shards (e.g. CPU and GPU workers)."""
    notes = []
    for section in ("fingerprint", "versions"):
        values = [r.meta[section] for r in runs if r.meta.get(section)]
        for name in sorted({k for v in values for k in v}):
            seen = sorted({str(v.get(name)) for v in values})
            if len(seen) > 1:
                notes.append(f"shards differ in {section} {name}: {', '.join(seen)}")
    return notes


def _write(
    out: Path, runs: list[ShardRun], tables: dict[int, pa.Table], table: pa.Table, result: MergeResult
) -> None:
    from robustcot.analysis.summary import write_summary

    ref = runs[0].meta
    shards = []
    for run in runs:
        statuses = tables[run.shard.index].column("status").to_pylist()
        shards.append(
            {
                "shard": str(run.shard),
                "run_dir": str(run.path.resolve()),
                "records": len(statuses),
                "errors": statuses.count("error"),
                "missing": len(result.missing_keys.get(run.shard.index, [])),
                **{k: run.meta.get(k) for k in ("fingerprint", "versions", "api_stats") if k in run.meta},
            }
        )
    meta = {
        "identity": {**ref["identity"], "shard": None},
        "config": {**ref["config"], "shard": None, "out": str(out)},
        "template_version": ref.get("template_version"),
        "profile": ref.get("profile"),
        "versions": ref.get("versions"),
        "fingerprint": next((r.meta["fingerprint"] for r in runs if r.meta.get("fingerprint")), None),
        "shards": shards,
        "merge": {
            "complete": result.complete,
            "missing_shards": [f"{i}/{result.n_shards}" for i in result.missing_shards],
            "missing_keys": sum(len(v) for v in result.missing_keys.values()),
            "error_rows": result.n_errors,
            "notes": result.notes,
        },
    }
    store = RunStore(out)
    store.write_meta(meta)
    atomic_write_table(store.records_path, table)
    config = ref["config"]
    header = {
        "model": config.get("model"),
        "benchmark": config.get("benchmark"),
        "profile": config.get("profile"),
        "template version": ref.get("template_version"),
        "seed": str(config.get("seed")),
        "rows": str(table.num_rows),
        "shards": f"{len(runs)} of {result.n_shards} merged" + ("" if result.complete else " (incomplete)"),
    }
    write_summary(table.to_pandas(), store.records_path.with_name("summary.md"), header)
