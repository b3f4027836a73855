"""The report's figures, drawn from the report's tables (never from raw rows), with matplotlib's Agg canvas.

Figures are built on :class:`matplotlib.figure.Figure` objects rather than through pyplot, so the
report neither switches the process-wide backend nor leaks figures in a long-running session.
Each function returns a figure, or None when the table has nothing to draw. A variant keeps its
colour in every figure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robustcot.analysis.metrics import QUADRANTS

_QUADRANT_COLOURS = {
    "consistent_correct": "#2b8a3e", "consistent_incorrect": "#c92a2a", "inconsistent_correct": "#8ce99a",
    "inconsistent_incorrect": "#ffa8a8", "undecided": "#adb5bd",
}
_PANEL_W, _PANEL_H = 4.6, 3.2
_MAX_COLS = 4


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """A fixed colour per variant (tab10 in variant order), so legends read the same everywhere."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    return {v: palette[i % len(palette)] for i, v in enumerate(variants)}


def render(figure: Figure, fmt: str = "png", dpi: int = 100) -> bytes:
    """The figure encoded as ``fmt`` (png, svg, pdf)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format=fmt, dpi=dpi)  # constrained layout already fits; "tight" would draw twice
    return buffer.getvalue()


def _grid(n_panels: int, *, cols: int | None = None, sharey: bool = True) -> tuple[Figure, list]:
    cols = min(cols or _MAX_COLS, max(n_panels, 1))
    nrows = math.ceil(n_panels / cols)
    figure = Figure(figsize=(_PANEL_W * cols, _PANEL_H * nrows), layout="constrained")
    axes = figure.subplots(nrows, cols, squeeze=False, sharey=sharey).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return figure, axes[:n_panels]


def _short(variant: str) -> str:
    return variant.replace("wrong_", "w_").replace("correct_", "c_").replace("_disclaimer", "_discl")


def accuracy_figure(metrics: pd.DataFrame, variants: list[str]) -> Figure | None:
    """Accuracy per variant (x) and model (bars) with Wilson 95% intervals; one panel per benchmark."""
    data = metrics[~metrics["abstain"].astype(bool)]
    if data.empty:
        return None
    benchmarks = list(dict.fromkeys(data["benchmark"].astype(str)))
    models = list(dict.fromkeys(data["model"].astype(str)))
    figure, axes = _grid(len(benchmarks))
    width = 0.8 / len(models)
    for ax, benchmark in zip(axes, benchmarks, strict=True):
        sub = data[data["benchmark"].astype(str) == benchmark]
        for i, model in enumerate(models):
            rows = sub[sub["model"] == model].set_index("variant").reindex(variants)
            x = np.arange(len(variants)) + (i - (len(models) - 1) / 2) * width
            err = np.vstack([rows["accuracy"] - rows["acc_low"], rows["acc_high"] - rows["accuracy"]])
            ax.bar(x, rows["accuracy"], width, yerr=err, capsize=2, label=model, error_kw={"lw": 0.8})
        ax.set_xticks(np.arange(len(variants)), [_short(v) for v in variants], rotation=45, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(benchmark)
        ax.set_ylabel("accuracy")
    axes[0].legend(fontsize=7, loc="lower left")
    return figure


def drop_figure(drop: pd.DataFrame) -> Figure | None:
    """Paired accuracy drop vs base with bootstrap 95% intervals (forest plot), abstain off."""
    data = drop[~drop["abstain"].astype(bool)]
    if data.empty:
        return None
    benchmarks = list(dict.fromkeys(data["benchmark"]))
    models = list(dict.fromkeys(data["model"]))
    variants = list(dict.fromkeys(data["variant"]))
    figure, axes = _grid(len(benchmarks), sharey=False)
    step = 0.7 / max(len(models), 1)
    for ax, benchmark in zip(axes, benchmarks, strict=True):
        sub = data[data["benchmark"] == benchmark]
        for i, model in enumerate(models):
            rows = sub[sub["model"] == model].set_index("variant").reindex(variants)
            y = np.arange(len(variants)) + (i - (len(models) - 1) / 2) * step
            err = np.vstack([rows["drop"] - rows["ci_low"], rows["ci_high"] - rows["drop"]])
            ax.errorbar(rows["drop"], y, xerr=err, fmt="o", ms=4, capsize=2, label=model)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(np.arange(len(variants)), variants)
        ax.invert_yaxis()
        ax.set_title(benchmark)
        ax.set_xlabel("accuracy drop vs base (positive = worse)")
    axes[0].legend(fontsize=7)
    return figure


def quadrant_figure(quadrants: pd.DataFrame) -> Figure | None:
    """Stacked quadrant shares per variant; one panel per model, abstain off, benchmarks pooled."""
    data = quadrants[~quadrants["abstain"].astype(bool)]
    if data.empty:
        return None
    models = list(dict.fromkeys(data["model"]))
    figure, axes = _grid(len(models))
    names = [*QUADRANTS, "undecided"]
    for ax, model in zip(axes, models, strict=True):
        sub = data[data["model"] == model]
        bottom = np.zeros(len(sub))
        x = np.arange(len(sub))
        for name in names:
            share = sub[f"share_{name}"].fillna(0).to_numpy()
            ax.bar(x, share, 0.8, bottom=bottom, color=_QUADRANT_COLOURS[name], label=name.replace("_", " "))
            bottom += share
        ax.set_xticks(x, [_short(v) for v in sub["variant"]], rotation=45, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(model)
        ax.set_ylabel("share of scored rows")
    axes[-1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return figure


def distribution_figure(summary: pd.DataFrame, xlabel: str, colours: dict[str, str]) -> Figure | None:
    """Box plots (5–95% whiskers, mean as a dot) per variant; one panel per model."""
    if summary.empty:
        return None
    models = list(dict.fromkeys(summary["model"]))
    figure, axes = _grid(len(models), sharey=False)
    for ax, model in zip(axes, models, strict=True):
        sub = summary[summary["model"] == model].reset_index(drop=True)
        stats = [{"label": _short(r.variant), "whislo": r.q05, "q1": r.q25, "med": r.q50, "q3": r.q75,
                  "whishi": r.q95, "mean": r["mean"], "fliers": []} for _, r in sub.iterrows()]
        boxes = ax.bxp(stats, orientation="horizontal", showmeans=True, patch_artist=True,
                       meanprops={"marker": "o", "markersize": 3, "markerfacecolor": "black"})
        for patch, variant in zip(boxes["boxes"], sub["variant"], strict=True):
            patch.set_facecolor(colours.get(variant, "#cccccc"))
            patch.set_alpha(0.6)
        ax.invert_yaxis()
        ax.set_title(model)
        ax.set_xlabel(xlabel)
    return figure


def curve_figure(curves: pd.DataFrame, x: str, y: str, score: str, colours: dict[str, str], *,
                 diagonal: bool, xlabel: str, ylabel: str) -> Figure | None:
    """Line per variant on a grid of panels, models down and benchmarks across, for one ``score``."""
    data = curves[curves["score"] == score]
    if data.empty:
        return None
    models = list(dict.fromkeys(data["model"]))
    benchmarks = list(dict.fromkeys(data["benchmark"]))
    cols = len(benchmarks)
    figure = Figure(figsize=(3.6 * cols, 3.2 * len(models)), layout="constrained")
    axes = figure.subplots(len(models), cols, squeeze=False, sharex=True, sharey=True)
    for (i, model), (j, benchmark) in ((m, b) for m in enumerate(models) for b in enumerate(benchmarks)):
        ax = axes[i][j]
        sub = data[(data["model"] == model) & (data["benchmark"] == benchmark)]
        for variant, line in sub.groupby("variant", sort=False):
            ax.plot(line[x], line[y], color=colours.get(variant), lw=1.2, label=variant)
        if diagonal:
            ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls="--")
        ax.set_title(f"{model}\n{benchmark}", fontsize=8)
        if i == len(models) - 1:
            ax.set_xlabel(xlabel)
        if j == 0:
            ax.set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=6, bbox_to_anchor=(1.02, 1), loc="upper left")
    figure.suptitle(score, fontsize=10)
    return figure


def abstain_figure(abstain: pd.DataFrame) -> Figure | None:
    """Accuracy change from adding "I'm not sure" (left) and how often it is chosen (right)."""
    if abstain.empty:
        return None
    models = list(dict.fromkeys(abstain["model"]))
    pooled = abstain.groupby(["model", "variant"], sort=False).apply(
        lambda g: pd.Series({
            "change": np.average(g["change"], weights=g["n_pairs"]),
            "chose": np.average(g["chose_abstain"], weights=g["n_abstain_rows"]),
        }), include_groups=False).reset_index()
    variants = list(dict.fromkeys(pooled["variant"]))
    figure = Figure(figsize=(2 * _PANEL_W, _PANEL_H + 0.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        rows = pooled[pooled["model"] == model].set_index("variant").reindex(variants)
        x = np.arange(len(variants)) + (i - (len(models) - 1) / 2) * width
        left.bar(x, rows["change"], width, label=model)
        right.bar(x, rows["chose"], width, label=model)
    for ax, label in ((left, "accuracy change (abstain on − off)"), (right, "share choosing \"I'm not sure\"")):
        ax.set_xticks(np.arange(len(variants)), [_short(v) for v in variants], rotation=45, ha="right")
        ax.set_ylabel(label)
    left.axhline(0, color="black", lw=0.8)
    left.legend(fontsize=7)
    figure.suptitle("pooled over benchmarks, weighted by pairs", fontsize=9)
    return figure
