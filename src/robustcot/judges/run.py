"""Judge an existing run directory with LLM judges, without regenerating anything.

``judge_run`` reads ``records.parquet``, routes rows through the cascade, asks each judge about
the rows routed to LLMs (replies cached in ``judge_cache.jsonl``), and rewrites
``records.parquet`` once, atomically, with:

- ``judge_<name>``: each LLM judge's label (null for rows it did not see);
- ``judge_panel``: the final label, ``judge_route``: how it was reached (see ``cascade.Route``);
- ``consistent`` / ``quadrant``: recomputed from ``judge_panel``. Precedence: when a judging pass
  has run, the panel decides; before it, the rule judge's label does (as written by ``eval``). On
  rule-routed rows, audited or not, the panel label *is* the rule label, so results do not depend
  on which clear rows the audit happened to draw.

It also writes ``judges.json``: per-judge label counts and unparsed reasons, cascade counts, panel
agreement (strict, Fleiss' κ with CI) per benchmark × variant, and rule-vs-LLM agreement on the
audit. Earlier ``judge_*`` columns (other than ``judge_rule``) are replaced, so a pass with a
different panel never leaves stale labels behind.
"""

from __future__ import annotations

import gc
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from robustcot.errors import ConfigError
from robustcot.judges.agreement import agreement_by_group, label_agreement
from robustcot.judges.cache import JudgeCache
from robustcot.judges.cascade import Route, is_clear, routes
from robustcot.judges.labels import consistent_flag
from robustcot.judges.llm import JudgeItem, LLMJudge
from robustcot.judges.panel import panel_label
from robustcot.judges.prompts import PROMPT_VERSION
from robustcot.models.base import Backend
from robustcot.scoring.rule_judge import quadrant
from robustcot.store import RunStore, atomic_write_bytes

CACHE_FILE = "judge_cache.jsonl"
STATS_FILE = "judges.json"
#: Columns the judging pass owns; never a judge's own column name.
RESERVED = frozenset({"judge_rule", "judge_panel", "judge_route"})
NEEDED = ("key", "question", "options", "think", "answer_text", "answer_index", "status", "judge_rule",
          "think_conclusion_index", "correct", "benchmark", "variant")


@dataclass
class JudgeResult:
    """What a judging pass produced; ``stats`` is the content of ``judges.json``."""

    run_dir: Path
    records: pd.DataFrame
    stats: dict[str, Any]


def judge_column(spec: str) -> str:
    """Record column of a judge: ``vllm:Qwen/Qwen3-32B`` → ``judge_vllm_qwen_qwen3_32b``."""
    return "judge_" + re.sub(r"[^0-9a-z]+", "_", spec.lower()).strip("_")


def _columns(specs: Sequence[str]) -> dict[str, str]:
    if not specs:
        raise ConfigError("judge_run needs at least one --judge spec")
    cols = {spec: judge_column(spec) for spec in specs}
    clashes = [c for c, n in Counter(cols.values()).items() if n > 1 or c in RESERVED]
    if clashes:
        raise ConfigError(f"judge specs {list(specs)} give clashing record columns {clashes}")
    return cols


def _load(store: RunStore) -> pa.Table:
    if not store.records_path.exists() and not store.parts_dir.exists():
        raise ConfigError(f"{store.path} holds no records; run `robustcot eval` first")
    store.compact()
    table = pq.read_table(store.records_path)
    missing = [c for c in NEEDED if c not in table.column_names]
    missing += [
        c for c in ("question", "options") if c in table.column_names and table.column(c).null_count == table.num_rows
    ]
    if missing:
        raise ConfigError(
            f"{store.records_path} lacks the columns {missing} that judges need (question and options "
            "are recorded by newer versions of `robustcot eval`); re-run the evaluation into a new directory"
        )
    return table


def _default_config(store: RunStore) -> Any:
    from robustcot.config import EvalConfig

    meta = store.read_meta() or {}
    return EvalConfig.model_validate(meta["config"]) if "config" in meta else EvalConfig()


def judge_run(
    run_dir: str | Path,
    judge_specs: Sequence[str],
    *,
    cascade: bool = True,
    audit_fraction: float = 0.1,
    seed: int = 0,
    config: Any = None,
    backends: Mapping[str, Backend] | None = None,
    batch_size: int = 64,
    n_boot: int = 1000,
) -> JudgeResult:
    """(Re)judge the run in ``run_dir`` with the judges ``judge_specs`` (model spec strings).

    ``backends`` supplies ready backends by spec (tests, or a caller reusing a loaded model);
    other specs are built with :func:`~robustcot.models.registry.make_backend` and ``config``
    (default: the run's own configuration from ``run.json``). Without ``cascade`` every row with
    a parsed answer goes to every LLM judge.
    """
    from robustcot.models.registry import make_backend

    columns = _columns(judge_specs)
    store = RunStore(run_dir)
    table = _load(store)
    rows = table.select(list(NEEDED)).to_pylist()
    judgeable = [r["status"] != "error" and r["answer_index"] is not None for r in rows]
    clear = [
        cascade and ok and is_clear(r["think"], r["options"], r["status"], r["judge_rule"], r["think_conclusion_index"])
        for r, ok in zip(rows, judgeable, strict=True)
    ]
    # The audit draw is made over rows sorted by key, so it does not depend on the file's row order.
    by_key = sorted(range(len(rows)), key=lambda i: rows[i]["key"])
    drawn = routes(
        [judgeable[i] for i in by_key],
        [clear[i] for i in by_key],
        audit_fraction=audit_fraction if cascade else 0.0,
        seed=seed,
    )
    route: list[Route] = ["none"] * len(rows)
    for position, i in enumerate(by_key):
        route[i] = drawn[position]
    asked = [i for i, r in enumerate(route) if r in ("llm", "audit")]
    items = [
        JudgeItem(
            key=rows[i]["key"],
            question=rows[i]["question"],
            options=tuple(rows[i]["options"]),
            think=rows[i]["think"] or "",
            answer_text=rows[i]["answer_text"] or "",
            answer_index=rows[i]["answer_index"],
        )
        for i in asked
    ]

    cache = JudgeCache(store.path / CACHE_FILE)
    labels: dict[str, list[str | None]] = {}
    judge_stats = []
    for spec in judge_specs:
        backend = (backends or {}).get(spec) or make_backend(spec, config or _default_config(store))
        judge = LLMJudge(spec, backend, cache, batch_size=batch_size)
        verdicts = judge.judge(items)
        column: list[str | None] = [None] * len(rows)
        for i, v in zip(asked, verdicts, strict=True):
            column[i] = v.label
        labels[spec] = column
        judge_stats.append(
            {
                "spec": spec,
                "column": columns[spec],
                "fingerprint": backend.fingerprint(),
                "requests_sent": judge.requests_sent,
                "cache_hits": sum(v.cached for v in verdicts),
                "labels": dict(Counter(v.label for v in verdicts)),
                "unparsed": dict(Counter(v.status for v in verdicts if v.label == "unparsed")),
            }
        )
        del judge, backend  # judges are loaded one at a time: free this model before the next
        gc.collect()

    panel = [_panel(i, r, rows, labels) for i, r in enumerate(route)]
    consistent = [consistent_flag(p) for p in panel]
    quadrants = [quadrant(c, r["correct"]) for c, r in zip(consistent, rows, strict=True)]

    table = table.drop_columns([c for c in table.column_names if c.startswith("judge_") and c != "judge_rule"])
    table = table.set_column(table.schema.get_field_index("consistent"), "consistent", pa.array(consistent, pa.bool_()))
    table = table.set_column(table.schema.get_field_index("quadrant"), "quadrant", pa.array(quadrants, pa.string()))
    new_columns = {columns[spec]: column for spec, column in labels.items()}
    new_columns.update(judge_panel=panel, judge_route=route)
    for name, values in new_columns.items():
        array = pa.array(values, pa.string())
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, array) if at >= 0 else table.append_column(name, array)
    store.replace_records(table)

    stats = _stats(rows, route, panel, labels, columns, judge_stats, cascade, audit_fraction, seed, n_boot)
    atomic_write_bytes(store.path / STATS_FILE, json.dumps(stats, indent=2, sort_keys=True).encode())
    return JudgeResult(store.path, table.to_pandas(), stats)


def _panel(i: int, route: str, rows: list[dict], labels: dict[str, list[str | None]]) -> str:
    if route in ("none", "rule", "audit"):
        # rows LLM judges cannot take (no option index, e.g. open-ended answers) keep the rule verdict
        return rows[i]["judge_rule"] or "unjudged"
    return panel_label([column[i] or "unparsed" for column in labels.values()])


def _stats(rows, route, panel, labels, columns, judge_stats, cascade, audit_fraction, seed, n_boot) -> dict:
    asked = [i for i, r in enumerate(route) if r in ("llm", "audit")]
    specs = list(labels)
    frame = pd.DataFrame(
        {
            "benchmark": [rows[i]["benchmark"] for i in asked],
            "variant": [rows[i]["variant"] for i in asked],
            **{columns[s]: [labels[s][i] for i in asked] for s in specs},
        }
    )
    audit = [i for i, r in enumerate(route) if r == "audit"]
    rule_labels = [rows[i]["judge_rule"] for i in audit]
    audit_stats = {
        "rule_vs_llm_panel": label_agreement(
            rule_labels, [panel_label([labels[s][i] or "unparsed" for s in specs]) for i in audit]
        ),
        **{f"rule_vs_{columns[s]}": label_agreement(rule_labels, [labels[s][i] for i in audit]) for s in specs},
    }
    counts = Counter(route)
    judgeable = len(route) - counts["none"]
    return {
        "prompt_version": PROMPT_VERSION,
        "judges": judge_stats,
        "cascade": {
            "enabled": cascade,
            "audit_fraction": audit_fraction,
            "seed": seed,
            "rows": len(route),
            "judgeable": judgeable,
            "routes": dict(counts),
            "llm_items_per_judge": len(asked),
            "llm_calls_saved_share": (counts["rule"] / judgeable) if judgeable else None,
        },
        "panel": {"labels": dict(Counter(panel))},
        "agreement": agreement_by_group(frame, [columns[s] for s in specs], ["benchmark", "variant"], n_boot=n_boot, seed=seed),
        "audit": audit_stats,
    }
