"""The report header: what was run, with which settings, and where the protocol was not followed.

A reviewer reads this before any number: which runs, template versions and prompt profiles are
pooled, how many rows failed or could not be parsed, where letter uncertainty came from, and every
*protocol deviation*, meaning anything that makes rows not comparable with the study's protocol:

* a ``prefill_mode`` other than ``native`` (e.g. ``emulated``: an API that cannot continue an
  assistant turn got the injected reasoning another way);
* several template versions or prompt profiles pooled in one report;
* scored rows without letter uncertainty, or with little letter mass (< 0.5) before renormalising;
* perturbed rows without a scored `base` partner (left out of every paired statistic);
* models that were not run on the same variants, or runs whose library versions differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from robustcot.analysis.frame import UNKNOWN, AnalysisFrame, report_order
from robustcot.analysis.metrics import BASE_VARIANT
from robustcot.analysis.predictive import LOW_MASS
from robustcot.analysis.runs import RunInfo

NATIVE_PREFILL = "native"
#: Share of low-mass rows above which the header flags a model.
LOW_MASS_ALERT = 0.05


@dataclass
class Provenance:
    """Header facts, the per-run and per-status tables, and the deviation list."""

    facts: dict[str, str]
    runs: pd.DataFrame
    status: pd.DataFrame
    uncertainty_sources: pd.DataFrame
    deviations: list[str] = field(default_factory=list)


def provenance(frame: AnalysisFrame, runs: list[RunInfo], notes: list[str]) -> Provenance:
    """Collect the header of a report over ``frame`` built from ``runs`` (``notes`` from loading)."""
    rows = frame.rows
    facts = {
        "models": ", ".join(frame.models),
        "benchmarks": ", ".join(frame.benchmarks),
        "variants": ", ".join(frame.variants),
        "rows": f"{len(rows):,}",
        "template versions": _counts(rows, "template_version"),
        "profiles": _counts(rows, "profile"),
        "judges": ", ".join(frame.judges) or "none",
    }
    deviations = [*notes, *_prefill_deviations(rows), *_pooling_deviations(frame),
                  *_uncertainty_deviations(rows), *_pairing_deviations(rows), *_grid_deviations(frame),
                  *_version_deviations(runs)]
    return Provenance(facts, runs_table(runs), status_table(frame), source_table(rows), deviations)


def _counts(rows: pd.DataFrame, column: str) -> str:
    if column not in rows.columns:
        return "not recorded"
    counts = rows[column].value_counts(dropna=False)
    return ", ".join(f"{'(null)' if pd.isna(value) else value} ({n:,} rows)" for value, n in counts.items() if n)


def runs_table(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run directory with the settings from its ``run.json``."""
    out = []
    for run in runs:
        config, versions = run.config, dict(run.meta.get("versions") or {})
        fingerprint = run.meta.get("fingerprint")
        out.append({
            "run": run.name, "model": config.get("model"), "benchmark": config.get("benchmark"),
            "seed": config.get("seed"), "limit": config.get("limit"), "abstain": config.get("abstain"),
            "profile": config.get("profile"), "template_version": run.meta.get("template_version"),
            "rows": run.n_rows, "robustcot": versions.get("robustcot"),
            "transformers": versions.get("transformers"),
            "fingerprint": _short(fingerprint),
        })
    return pd.DataFrame(out, columns=["run", "model", "benchmark", "seed", "limit", "abstain", "profile",
                                      "template_version", "rows", "robustcot", "transformers", "fingerprint"])


def _short(fingerprint: object) -> str | None:
    """A fingerprint as a short string for a table cell (the full one stays in run.json)."""
    if fingerprint is None:
        return None
    if isinstance(fingerprint, dict):
        fingerprint = ", ".join(f"{k}={v}" for k, v in sorted(fingerprint.items()))
    text = str(fingerprint)
    return text if len(text) <= 60 else text[:57] + "..."


def status_table(frame: AnalysisFrame) -> pd.DataFrame:
    """Rows per (model, benchmark): total, each parse status, unparsed, errors, without uncertainty."""
    rows = frame.rows
    keys = [rows["model"], rows["benchmark"]]
    status = rows["status"].cat.add_categories(["(null)"]).fillna("(null)") if rows["status"].isna().any() \
        else rows["status"]
    by_status = status.groupby(keys, observed=True).value_counts().unstack(fill_value=0)
    by_status = by_status.loc[:, by_status.sum() > 0]
    extra = pd.DataFrame({"scored": rows["scored"], "unparsed": rows["unparsed"],
                          "no_uncertainty": rows["scored"] & rows["entropy"].isna()}).groupby(keys, observed=True).agg(
        rows=("scored", "size"), unparsed=("unparsed", "sum"), no_uncertainty=("no_uncertainty", "sum"))
    table = extra.join(by_status).reset_index()
    table.columns = [str(c) for c in table.columns]
    return report_order(frame, table)


def source_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per (model, uncertainty_source), null shown as ``(none)``."""
    if "uncertainty_source" not in rows.columns:
        return pd.DataFrame(columns=["model", "uncertainty_source", "n"])
    source = rows["uncertainty_source"].cat.add_categories(["(none)"]).fillna("(none)")
    table = source.groupby(rows["model"], observed=True).value_counts()
    table = table[table > 0].rename("n").reset_index()
    table.columns = ["model", "uncertainty_source", "n"]
    return table.astype({"model": str, "uncertainty_source": str})


def _prefill_deviations(rows: pd.DataFrame) -> list[str]:
    if "prefill_mode" not in rows.columns:
        return []
    mode = rows["prefill_mode"].astype(object)
    other = rows[(mode.notna() & (mode != NATIVE_PREFILL)).to_numpy()]
    counts = other.groupby(["model", "prefill_mode", "variant"], observed=True).size()
    return [f"{model}: prefill_mode {mode!r} on {n:,} {variant} rows (not a native assistant-turn prefill)"
            for (model, mode, variant), n in counts.items()]


def _pooling_deviations(frame: AnalysisFrame) -> list[str]:
    out = []
    for column, what in (("template_version", "template versions"), ("profile", "prompt profiles")):
        if column in frame.rows.columns:
            values = sorted(str(v) for v in frame.rows[column].dropna().unique())
            if len(values) > 1:
                out.append(f"rows from {len(values)} {what} are pooled in this report: {', '.join(values)}")
    return out


def _uncertainty_deviations(rows: pd.DataFrame) -> list[str]:
    scored = rows[rows["scored"]]
    stats = pd.DataFrame({
        "missing": scored["entropy"].isna(), "has_mass": scored["letter_mass"].notna(),
        "low": scored["letter_mass"] < LOW_MASS,
    }).groupby(scored["model"], observed=True).agg(n=("missing", "size"), missing=("missing", "sum"),
                                                   has_mass=("has_mass", "sum"), low=("low", "sum"))
    out = []
    for model, row in stats.iterrows():
        if row["missing"]:
            out.append(f"{model}: {row['missing']:,} of {row['n']:,} scored rows have no letter uncertainty "
                       "(left out of entropy, AUROC and selective prediction)")
        low = row["low"] / row["has_mass"] if row["has_mass"] else 0.0
        if low > LOW_MASS_ALERT:
            out.append(f"{model}: {low:.1%} of rows put less than {LOW_MASS} of the probability on option "
                       "letters before renormalising (the letter readout may be reading the wrong token)")
    return out


def _pairing_deviations(rows: pd.DataFrame) -> list[str]:
    unpaired = rows[rows["scored"] & ~rows["has_base"] & (rows["variant"] != BASE_VARIANT)]
    counts = unpaired.groupby("model", observed=True).size()
    return [f"{model}: {n:,} scored perturbed rows have no scored base row and are left out of paired "
            "statistics" for model, n in counts.items() if n]


def _grid_deviations(frame: AnalysisFrame) -> list[str]:
    rows = frame.rows
    pairs = rows[["model", "variant", "benchmark"]].drop_duplicates().astype(str)
    grid = pairs.groupby("model")["variant"].agg(frozenset)
    everything = frozenset().union(*grid) if len(grid) else frozenset()
    out = [f"{model} lacks variant(s) {', '.join(sorted(everything - have))}"
           for model, have in grid.items() if have != everything]
    benchmarks = pairs.groupby("model")["benchmark"].agg(lambda b: frozenset(b) - {UNKNOWN})
    all_benchmarks = frozenset().union(*benchmarks) if len(benchmarks) else frozenset()
    out += [f"{model} was not run on {', '.join(sorted(all_benchmarks - have))}"
            for model, have in benchmarks.items() if have != all_benchmarks]
    return out


def _version_deviations(runs: list[RunInfo]) -> list[str]:
    out = []
    for library in ("robustcot", "transformers", "torch"):
        versions = {str((r.meta.get("versions") or {}).get(library)) for r in runs
                    if (r.meta.get("versions") or {}).get(library)}
        if len(versions) > 1:
            out.append(f"runs used different {library} versions: {', '.join(sorted(versions))}")
    return out

