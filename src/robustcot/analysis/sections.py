"""The report's content as sections of captioned tables and figures, independent of the output format.

Each table carries two frames: ``data`` with raw numbers (CSV, JSON) and ``display`` with the
formatted cells a reader sees (Markdown, HTML, LaTeX), so exported numbers are never rounded
strings and displayed ones are never 15-digit floats. Section texts state the definition behind
each number in one or two sentences; docs/report.md has the full definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from robustcot.analysis import figures as F
from robustcot.analysis.metrics import BASE_VARIANT, QUADRANTS
from robustcot.analysis.summary import MISSING, GroupedTable, fmt_num, fmt_pct


@dataclass
class ReportTable:
    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    caption: str = ""


@dataclass
class ReportFigure:
    name: str
    title: str
    figure: Figure
    caption: str = ""


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- cell formatting ---------------------------------------------------------------------------------

def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def pct_ci(value: float, low: float, high: float) -> str:
    """``71.2% [69.0, 73.3]``; the interval is left out when missing."""
    if _missing(value):
        return MISSING
    if _missing(low) or _missing(high):
        return fmt_pct(value)
    return f"{fmt_pct(value)} [{100 * low:.1f}, {100 * high:.1f}]"


def pp_ci(value: float, low: float, high: float) -> str:
    """A difference of proportions in percentage points with its interval: ``+12.3 [5.1, 19.0]``."""
    if _missing(value):
        return MISSING
    text = f"{100 * value:+.1f}"
    return text if _missing(low) or _missing(high) else f"{text} [{100 * low:+.1f}, {100 * high:+.1f}]"


def num_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    if _missing(value):
        return MISSING
    text = fmt_num(value, digits)
    return text if _missing(low) or _missing(high) else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def p_value(p: float) -> str:
    if _missing(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _yes(flag: object) -> str:
    return "yes" if bool(flag) else "no"


def _cells(frame: pd.DataFrame, spec: dict[str, object]) -> pd.DataFrame:
    """A display frame: each output column is a source column name or a function of the row."""
    if frame.empty:
        return pd.DataFrame(columns=list(spec))
    out = {}
    for header, how in spec.items():
        if isinstance(how, str):
            out[header] = frame[how].astype(object).where(frame[how].notna(), MISSING).astype(str)
        else:
            out[header] = [how(row) for row in frame.itertuples(index=False)]
    return pd.DataFrame(out)


def _wide(frame: pd.DataFrame, index: list[str], cell: pd.Series, variants: list[str]) -> pd.DataFrame:
    """Variants as columns (Table 1 layout), in canonical order."""
    wide = frame[index].assign(variant=frame["variant"], cell=cell).pivot_table(
        index=index, columns="variant", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=[v for v in variants if v in wide.columns]).fillna(MISSING)
    wide.columns.name = None
    return wide.reset_index()


# -- sections -------------------------------------------------------------------------------------

def header_section(prov, options_text: dict[str, str]) -> Section:
    section = Section("header", "Runs and protocol")
    section.intro = ("What is pooled in this report. Every deviation listed below makes some rows not "
                     "comparable with the study's protocol; read them before the numbers.")
    if not prov.runs.empty:
        section.tables.append(ReportTable("runs", "Runs", prov.runs, prov.runs.astype(object).fillna(MISSING)))
    section.tables.append(ReportTable(
        "status", "Rows by parse status", prov.status, prov.status,
        "error rows are left out of every denominator; unparsed rows (no answer) count as wrong."))
    section.tables.append(ReportTable(
        "uncertainty_sources", "Where letter uncertainty came from", prov.uncertainty_sources,
        prov.uncertainty_sources, "`generation`: read while decoding; `forced`: teacher-forced pass; "
        "`(none)`: no letter distribution."))
    section.notes = [f"{k}: {v}" for k, v in options_text.items()]
    return section


def accuracy_section(metrics: pd.DataFrame, variants: list[str]) -> Section:
    section = Section("accuracy", "Accuracy per variant (Table 1)")
    section.intro = ("Accuracy over scored rows (errors excluded, unparsed answers count as wrong) with 95% "
                     "Wilson intervals; rows are model × benchmark, columns the prompt variants.")
    cell = metrics.apply(lambda r: pct_ci(r["accuracy"], r["acc_low"], r["acc_high"]), axis=1) \
        if not metrics.empty else pd.Series(dtype=object)
    for flag, suffix, title in ((False, "", "abstain option off"), (True, "_abstain", "with the abstain option")):
        part = metrics[metrics["abstain"].astype(bool) == flag]
        if part.empty:
            continue
        display = _wide(part, ["benchmark", "model"], cell[part.index], variants)
        data = part.pivot_table(index=["benchmark", "model"], columns="variant", values="accuracy",
                                sort=False).reindex(columns=[v for v in variants if v in set(part["variant"])])
        data.columns.name = None
        section.tables.append(ReportTable(f"table1{suffix}", f"Accuracy, {title}", data.reset_index(), display))
    section.tables.append(ReportTable(
        "variant_metrics", "All per-variant metrics (as summary.md, per model)", metrics,
        _cells(metrics, {
            "model": "model", "benchmark": "benchmark", "variant": "variant", "abstain": lambda r: _yes(r.abstain),
            "n": "n", "accuracy [95% CI]": lambda r: pct_ci(r.accuracy, r.acc_low, r.acc_high),
            "flip rate": lambda r: fmt_pct(r.flip_rate), "flip → wrong": lambda r: fmt_pct(r.flip_to_wrong),
            "mean H": lambda r: fmt_num(r.mean_entropy), "mean P(correct)": lambda r: fmt_num(r.mean_p_correct),
            "errors": "n_errors", "unparsed": "n_unparsed",
        })))
    figure = F.accuracy_figure(metrics, variants)
    if figure is not None:
        section.figures.append(ReportFigure("accuracy", "Accuracy per variant", figure,
                                            "Abstain option off; bars show 95% Wilson intervals."))
    return section


def drop_section(drop: pd.DataFrame) -> Section:
    section = Section("drop", "Accuracy drop vs base (paired)")
    section.intro = ("Over pairs of a scored variant row and the scored base row of the same sample: drop = "
                     "acc(base) − acc(variant) in percentage points (positive = the perturbation hurts), with a "
                     "paired bootstrap 95% interval over samples. p: exact McNemar test on the discordant pairs "
                     "(base-only correct vs variant-only correct); Holm: adjusted over every test in this table.")
    display = _cells(drop, {
        "model": "model", "benchmark": "benchmark", "variant": "variant", "abstain": lambda r: _yes(r.abstain),
        "pairs": "n_pairs", "acc base": lambda r: fmt_pct(r.acc_base), "acc variant": lambda r: fmt_pct(r.acc_variant),
        "drop pp [95% CI]": lambda r: pp_ci(r.drop, r.ci_low, r.ci_high),
        "base only ✓": "n_base_only", "variant only ✓": "n_variant_only",
        "p McNemar": lambda r: p_value(r.p_mcnemar), "p Holm": lambda r: p_value(r.p_holm),
    })
    section.tables.append(ReportTable("drop", "Paired accuracy drop", drop, display))
    figure = F.drop_figure(drop)
    if figure is not None:
        section.figures.append(ReportFigure("drop", "Accuracy drop vs base", figure,
                                            "Abstain option off; paired bootstrap 95% intervals."))
    return section


def quadrant_section(quadrants: pd.DataFrame) -> Section:
    section = Section("quadrants", "Consistency × correctness quadrants")
    section.intro = ("Share of scored rows in each quadrant (think conclusion consistent/inconsistent with the "
                     "answer × answer correct/incorrect), pooled over benchmarks; undecided = no conclusion in "
                     "the think, unjudged or unparsed (never counted as consistent or inconsistent).")
    names = [*QUADRANTS, "undecided"]
    spec: dict[str, object] = {"model": "model", "variant": "variant", "abstain": lambda r: _yes(r.abstain),
                               "scored": "n_scored"}
    for name in names:
        spec[name.replace("_", " ")] = (lambda col: lambda r: fmt_pct(getattr(r, col)))(f"share_{name}")
    section.tables.append(ReportTable("quadrants", "Quadrant shares", quadrants, _cells(quadrants, spec)))
    figure = F.quadrant_figure(quadrants)
    if figure is not None:
        section.figures.append(ReportFigure("quadrants", "Quadrant shares", figure, "Abstain option off."))
    return section


def uncertainty_section(table: pd.DataFrame, distributions: dict[str, pd.DataFrame],
                        colours: dict[str, str]) -> Section:
    section = Section("uncertainty", "Letter uncertainty and the pull of injected text")
    section.intro = ("Entropy H (nats) and P(correct) of the letter distribution at the first answer-letter "
                     "token. Shift = P(injected option) under the variant − the base row's probability of the "
                     "same option: how much probability the injected text moved onto the option it asserts "
                     "(paired bootstrap 95% interval). Letter mass is the probability on option letters before "
                     "renormalising; a low share flags a readout at the wrong token.")
    display = _cells(table, {
        "model": "model", "benchmark": "benchmark", "variant": "variant", "abstain": lambda r: _yes(r.abstain),
        "n": "n_uncertainty", "mean H": lambda r: fmt_num(r.mean_entropy),
        "median H": lambda r: fmt_num(r.median_entropy), "mean P(correct)": lambda r: fmt_num(r.mean_p_correct),
        "letter mass": lambda r: fmt_num(r.mean_letter_mass), "mass < 0.5": lambda r: fmt_pct(r.share_low_mass),
        "P(injected)": lambda r: fmt_num(r.mean_p_injected),
        "base P(same option)": lambda r: fmt_num(r.mean_base_p_injected),
        "shift [95% CI]": lambda r: num_ci(r.mean_shift, r.shift_low, r.shift_high),
        "shift > 0": lambda r: fmt_pct(r.share_shift_up),
    })
    section.tables.append(ReportTable("uncertainty", "Letter uncertainty", table, display))
    for key, title, xlabel in (("entropy", "Entropy per variant", "entropy H (nats)"),
                               ("p_correct", "P(correct) per variant", "P(correct letter)"),
                               ("shift", "Shift of probability onto the injected option",
                                "P(injected) − base P(same option)")):
        figure = F.distribution_figure(distributions[key], xlabel, colours)
        if figure is not None:
            section.figures.append(ReportFigure(key, title, figure,
                                                "Abstain off, benchmarks pooled; boxes: quartiles, whiskers: "
                                                "5th–95th percentile, dot: mean."))
    return section


def auroc_section(table: pd.DataFrame, roc: pd.DataFrame, colours: dict[str, str]) -> Section:
    section = Section("auroc", "Does base-prompt confidence predict robustness? (AUROC)")
    section.intro = ("AUROC of the base row's P(correct) (P_base) and of its negative entropy (−H_base) for the "
                     "label \"correct under this variant\" (all pairs; unparsed = wrong), with a bootstrap 95% "
                     "interval over samples. Replicates whose resample holds only one class are skipped and "
                     "counted; a group whose pairs hold one class has no AUROC (see the note).")
    display = _cells(table, {
        "model": "model", "benchmark": "benchmark", "score": "score", "variant": "variant",
        "abstain": lambda r: _yes(r.abstain), "pairs": "n_usable", "correct": "n_pos", "wrong": "n_neg",
        "AUROC [95% CI]": lambda r: num_ci(r.auroc, r.ci_low, r.ci_high),
        "skipped replicates": "n_boot_skipped", "note": "auroc_note",
    })
    section.tables.append(ReportTable("auroc", "AUROC of base confidence", table, display))
    skipped = int(table["n_boot_skipped"].fillna(0).sum()) if not table.empty else 0
    section.notes.append(f"{skipped:,} bootstrap replicates were skipped in total because they held one class only.")
    for score, name in (("P_base", "roc_p_base"), ("−H_base", "roc_neg_entropy")):
        figure = F.curve_figure(roc, "fpr", "tpr", score, colours, diagonal=True,
                                xlabel="false positive rate", ylabel="true positive rate")
        if figure is not None:
            section.figures.append(ReportFigure(name, f"ROC curves, score {score}", figure,
                                                "Label: correct under the variant; abstain off."))
    return section


def selective_section(table: pd.DataFrame, curves: pd.DataFrame, coverages, colours) -> Section:
    section = Section("selective", "Selective prediction: abstaining on low base confidence")
    section.intro = ("Keep the fraction c of samples with the highest base-row confidence and answer only those: "
                     "accuracy at coverage c, and AURC (mean selective risk over all coverages; lower is better). "
                     "Ties in confidence are averaged, so results do not depend on row order.")
    spec: dict[str, object] = {"model": "model", "benchmark": "benchmark", "score": "score", "variant": "variant",
                               "pairs": "n_pairs", "acc @100%": lambda r: fmt_pct(r.accuracy)}
    for c in coverages:
        col = f"acc_at_{round(100 * c)}"
        spec[f"acc @{round(100 * c)}%"] = (lambda name: lambda r: fmt_pct(getattr(r, name)))(col)
    spec["AURC"] = lambda r: fmt_num(r.aurc)
    section.tables.append(ReportTable("selective", "Selective accuracy", table, _cells(table, spec)))
    for score, name in (("P_base", "risk_coverage_p_base"), ("−H_base", "risk_coverage_neg_entropy")):
        figure = F.curve_figure(curves, "coverage", "risk", score, colours, diagonal=False,
                                xlabel="coverage", ylabel="selective risk (1 − accuracy)")
        if figure is not None:
            section.figures.append(ReportFigure(name, f"Risk–coverage, score {score}", figure, "Abstain off."))
    return section


def abstain_section(table: pd.DataFrame) -> Section:
    section = Section("abstain", "Effect of the \"I'm not sure\" option")
    if table.empty:
        section.intro = "No run evaluated the abstain option (eval --abstain)."
        return section
    section.intro = ("Each sample's row with the abstain option on vs off, same variant: change = acc(on) − "
                     "acc(off) in percentage points with a paired bootstrap 95% interval and exact McNemar test "
                     "(Holm-adjusted). Choosing \"I'm not sure\" counts as wrong in accuracy; the share choosing "
                     "it has a Wilson interval, and accuracy when answered leaves those rows out.")
    display = _cells(table, {
        "model": "model", "benchmark": "benchmark", "variant": "variant", "pairs": "n_pairs",
        "acc off": lambda r: fmt_pct(r.acc_off), "acc on": lambda r: fmt_pct(r.acc_on),
        "change pp [95% CI]": lambda r: pp_ci(r.change, r.ci_low, r.ci_high),
        "p McNemar": lambda r: p_value(r.p_mcnemar), "p Holm": lambda r: p_value(r.p_holm),
        "chose abstain [95% CI]": lambda r: pct_ci(r.chose_abstain, r.chose_low, r.chose_high),
        "mean P(abstain)": lambda r: fmt_num(r.mean_p_abstain),
        "acc when answered": lambda r: fmt_pct(r.acc_on_answered),
    })
    section.tables.append(ReportTable("abstain", "Abstain option", table, display))
    figure = F.abstain_figure(table)
    if figure is not None:
        section.figures.append(ReportFigure("abstain", "Abstain option", figure))
    return section


def judges_section(agreement: pd.DataFrame, labels: pd.DataFrame, single_note: str | None) -> Section:
    section = Section("judges", "Judge agreement")
    section.intro = ("Strict agreement (all judges give the same label) and Fleiss' κ over consistent / "
                     "inconsistent / no_conclusion, on the rows every judge of the set labelled; items with an "
                     "unparsed or unjudged label are dropped (counted). Intervals: bootstrap over samples.")
    if single_note:
        section.notes.append(single_note)
    else:
        display = _cells(agreement, {
            "model": "model", "judges": "judges", "items": "n_items", "dropped": "n_dropped",
            "strict [95% CI]": lambda r: pct_ci(r.strict, r.strict_low, r.strict_high),
            "Fleiss κ [95% CI]": lambda r: num_ci(r.kappa, r.kappa_low, r.kappa_high),
            "note": "note",
        })
        section.tables.append(ReportTable("judge_agreement", "Agreement per judge set", agreement, display))
    display = _cells(labels, {"model": "model", "column": "column", "label": "label", "rows": "n",
                              "share": lambda r: fmt_pct(r.share)})
    section.tables.append(ReportTable("judge_labels", "Label distribution per judge", labels, display))
    return section


def category_section(table: pd.DataFrame, variants: list[str]) -> Section:
    section = Section("categories", "Per-category breakdown")
    if table.empty:
        section.intro = "No record carries a category."
        return section
    section.intro = ("Accuracy (95% Wilson interval) per question category, abstain off; the drop column of the "
                     "long table is the paired drop vs base within the category.")
    cell = table.apply(lambda r: pct_ci(r["accuracy"], r["acc_low"], r["acc_high"]), axis=1)
    display = _wide(table, ["model", "benchmark", "category"], cell, variants)
    section.tables.append(ReportTable("categories", "Accuracy per category", table, display))
    return section


def grouped_section(tables: list[GroupedTable]) -> Section:
    """The benchmarks' own grouped scores (the tables ``summary.md`` shows, per model)."""
    section = Section("grouped", "Grouped scores (the benchmarks' own rules)")
    if not tables:
        section.intro = "No record carries CircularEval/flip group keys, CV-Bench sources, parent categories or sources."
        return section
    section.intro = ("Scores as the benchmarks define them, per model and variant: a question with several copies "
                     "(CircularEval rotations, flipped twins) counts right only if every copy is; CV-Bench's official "
                     "aggregate; accuracy per parent category and per data source. Error rows are left out (a group "
                     "with one is left out whole); unparsed answers count as wrong.")
    section.tables += [ReportTable(t.name, t.title, t.data, t.display, t.caption) for t in tables]
    return section


def overview(drop: pd.DataFrame, auroc: pd.DataFrame) -> list[str]:
    """Headline sentences: the three largest significant (Holm) drops, and the AUROC range per score."""
    lines = []
    significant = drop[(drop["p_holm"] < 0.05) & (drop["drop"] > 0) & ~drop["abstain"].astype(bool)] \
        if not drop.empty else drop
    if not significant.empty:
        top = significant.sort_values("drop", ascending=False).head(3)
        lines += [f"{r.model} on {r.benchmark}: {r.variant} costs {100 * r.drop:.1f} pp of accuracy "
                  f"[{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}] (Holm p {p_value(r.p_holm)})"
                  for r in top.itertuples()]
    perturbed = auroc[(auroc["variant"] != BASE_VARIANT) & ~auroc["abstain"].astype(bool)] if not auroc.empty else auroc
    for score in ("P_base", "−H_base"):
        values = perturbed.loc[perturbed["score"] == score, "auroc"].dropna() if not perturbed.empty else []
        if len(values):
            lines.append(f"AUROC of {score} over perturbed variants: {np.min(values):.3f}–{np.max(values):.3f}")
    return lines
