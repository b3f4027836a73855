"""The study report over one or more runs: ``report.md``, ``report.html``, ``report.json``, tables, figures.

:func:`build_report` reads run directories; :func:`build_report_from_records` does the same from
an in-memory records table (tests, notebooks, simulated data). Both compute every analysis once
and hand the same sections to each writer, so Markdown, HTML, CSV, LaTeX and JSON always agree.

Output directory layout::

    report.md      report.html      report.json
    tables/<name>.csv   tables/<name>.tex
    figures/<name>.png  (and .svg / .pdf when asked for)

What each number means is documented next to the code that computes it and collected in
docs/report.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from robustcot.analysis import agreement, predictive, robustness, selective
from robustcot.analysis import sections as S
from robustcot.analysis.browser import browser_payload, script_json, select_rows
from robustcot.analysis.exports import report_json, report_markdown, write_tables
from robustcot.analysis.figures import render, variant_colours
from robustcot.analysis.frame import AnalysisFrame, analysis_frame
from robustcot.analysis.page import report_html
from robustcot.analysis.provenance import Provenance, provenance
from robustcot.analysis.resampling import Resampler
from robustcot.analysis.runs import RunInfo, load_runs
from robustcot.analysis.summary import grouped_tables
from robustcot.analysis.thumbnails import ImageSource, collect_thumbnails
from robustcot.errors import ConfigError

#: Documents :func:`build_report` can write; tables (CSV + LaTeX) and figures come with md or html.
FORMATS = ("md", "html", "json")
FIGURE_FORMATS = ("png", "svg", "pdf")
TITLE = "robustcot report"


@dataclass(frozen=True)
class ReportOptions:
    """Settings of a report; the defaults are what ``robustcot report`` uses."""

    n_boot: int = 1000
    """Bootstrap replicates for every interval (resampling samples within model × benchmark)."""
    seed: int = 0
    """Seeds the bootstrap and the browser's choice of samples."""
    level: float = 0.95
    coverages: tuple[float, ...] = selective.DEFAULT_COVERAGES
    browser_max_rows: int = 20_000
    """Most record rows the sample browser embeds (whole samples are kept together)."""
    page_size: int = 50
    """Sample cards per browser page."""
    max_text_chars: int = 6_000
    """Longer prompts/responses are cut in the browser (never in records.parquet)."""
    thumbnail_px: int = 160
    figure_formats: tuple[str, ...] = ("png",)


@dataclass
class ReportResult:
    """What :func:`build_report` wrote and computed."""

    out: Path
    files: dict[str, Path]
    """Every file written, by path relative to ``out``."""
    tables: dict[str, pd.DataFrame]
    """Raw-number tables by name (the CSV contents)."""
    deviations: list[str]
    n_records: int
    n_browser_rows: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    """Problems that did not stop the report (e.g. thumbnails that could not be loaded)."""


def build_report(run_dirs: Sequence[str | Path], out: str | Path, *, formats: Sequence[str] = FORMATS,
                 images: ImageSource | None = None, options: ReportOptions | None = None) -> ReportResult:
    """Analyse the runs in ``run_dirs`` together and write the report into ``out``.

    Runs may hold different models and benchmarks. ``images`` enables browser thumbnails: a
    ``{sample_id: PIL image}`` mapping or a loader (``thumbnails.registry_image_loader(run_dirs)``
    reloads each benchmark as its run did).
    """
    loaded = load_runs(run_dirs)
    return build_report_from_records(loaded.records, out, runs=loaded.runs, notes=loaded.notes,
                                     formats=formats, images=images, options=options)


def build_report_from_records(records: pd.DataFrame, out: str | Path, *, runs: Sequence[RunInfo] = (),
                              notes: Sequence[str] = (), formats: Sequence[str] = FORMATS,
                              images: ImageSource | None = None,
                              options: ReportOptions | None = None) -> ReportResult:
    """:func:`build_report` for a records table already in memory (``model`` must be filled)."""
    start = time.perf_counter()
    options = options or ReportOptions()
    _check(formats, options)
    if records.empty:
        raise ConfigError("no records to report on")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = records.reset_index(drop=True)
    frame = analysis_frame(records)
    resampler = Resampler(frame, options.n_boot, options.seed, options.level)
    prov = provenance(frame, list(runs), list(notes))
    sections = _sections(records, frame, resampler, prov, options)
    headline = S.overview(_table(sections, "drop"), _table(sections, "auroc"))
    files: dict[str, Path] = {}
    result_notes: list[str] = []
    pngs: dict[str, bytes] = {}
    if "md" in formats or "html" in formats:
        files.update({f"tables/{k}": v for k, v in write_tables(sections, out / "tables", ("csv", "tex")).items()})
        pngs, figure_files = _write_figures(sections, out / "figures", options.figure_formats)
        files.update(figure_files)
    figure_paths = {name.split("/")[-1].rsplit(".", 1)[0]: name for name in files
                    if name.startswith("figures/") and name.endswith(".png")}
    if "md" in formats:
        files["report.md"] = _write(out / "report.md", report_markdown(
            TITLE, prov.facts, headline, prov.deviations, sections, figure_paths))
    n_browser = 0
    if "html" in formats:
        selection = select_rows(frame, options.browser_max_rows, options.seed)
        wanted = sorted({(str(b), str(s)) for b, s in zip(
            frame.rows["benchmark"].to_numpy()[selection.rows], frame.rows["sample_id"].to_numpy()[selection.rows],
            strict=True)})
        thumbs, thumb_notes = collect_thumbnails(images, wanted, options.thumbnail_px)
        result_notes += thumb_notes
        payload = browser_payload(frame, records, selection, thumbs, options.max_text_chars, options.page_size)
        n_browser = payload["n"]
        files["report.html"] = _write(out / "report.html", report_html(
            TITLE, prov.facts, headline, prov.deviations, sections, pngs, script_json(payload)))
    if "json" in formats:
        meta = {"title": TITLE, "facts": prov.facts, "deviations": prov.deviations, "headline": headline,
                "options": asdict(options), "notes": result_notes}
        files["report.json"] = _write(out / "report.json", report_json(meta, sections))
    tables = {t.name: t.data for s in sections for t in s.tables}
    return ReportResult(out, files, tables, prov.deviations, len(records), n_browser,
                        time.perf_counter() - start, result_notes)


def _check(formats: Sequence[str], options: ReportOptions) -> None:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"unknown report format(s) {unknown or formats}; choose from {', '.join(FORMATS)}")
    bad = sorted(set(options.figure_formats) - set(FIGURE_FORMATS))
    if bad:
        raise ConfigError(f"unknown figure format(s) {bad}; choose from {', '.join(FIGURE_FORMATS)}")
    if not 0 < options.level < 1:
        raise ConfigError(f"level must be between 0 and 1, got {options.level}")
    if any(not 0 < c <= 1 for c in options.coverages):
        raise ConfigError(f"coverages must lie in (0, 1], got {options.coverages}")


def _sections(records: pd.DataFrame, frame: AnalysisFrame, resampler: Resampler, prov: Provenance,
              options: ReportOptions) -> list[S.Section]:
    """Every analysis, computed once, as report sections in reading order."""
    metrics = robustness.metrics_by_model(records.assign(model=frame.rows["model"].astype(str)), frame.models)
    colours = variant_colours(frame.variants)
    distributions = {c: predictive.distribution_summary(frame, c) for c in ("entropy", "p_correct", "shift")}
    selective_table, curves = selective.selective_table(frame, options.coverages)
    options_text = {"bootstrap": f"{options.n_boot} resamples of samples within model × benchmark, seed "
                                 f"{options.seed}, {round(100 * options.level)}% percentile intervals"}
    return [
        S.header_section(prov, options_text),
        S.accuracy_section(metrics, frame.variants),
        S.drop_section(robustness.drop_table(frame, resampler)),
        S.quadrant_section(robustness.quadrant_shares(metrics)),
        S.uncertainty_section(predictive.uncertainty_table(frame, resampler), distributions, colours),
        S.auroc_section(predictive.auroc_table(frame, metrics, resampler), predictive.roc_curves(frame), colours),
        S.selective_section(selective_table, curves, options.coverages, colours),
        S.abstain_section(robustness.abstain_table(frame, resampler)),
        S.judges_section(agreement.agreement_table(frame, resampler), agreement.label_table(frame),
                         agreement.single_judge_note(frame)),
        S.category_section(robustness.category_table(frame), frame.variants),
        S.grouped_section(grouped_tables(records, frame.variants, by_model=True,
                                         breakdowns=("parent_category", "source"))),
    ]


def _table(sections: Sequence[S.Section], name: str) -> pd.DataFrame:
    for section in sections:
        for table in section.tables:
            if table.name == name:
                return table.data
    return pd.DataFrame()


def _write_figures(sections: Sequence[S.Section], directory: Path, formats: Sequence[str]
                   ) -> tuple[dict[str, bytes], dict[str, Path]]:
    """Render every figure; PNG always (the HTML embeds it), other formats as files on request."""
    directory.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, bytes] = {}
    files: dict[str, Path] = {}
    for section in sections:
        for figure in section.figures:
            for fmt in dict.fromkeys(("png", *formats)):
                data = render(figure.figure, fmt)
                if fmt == "png":
                    pngs[figure.name] = data
                if fmt in formats:
                    path = directory / f"{figure.name}.{fmt}"
                    path.write_bytes(data)
                    files[f"figures/{path.name}"] = path
    return pngs, files


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path

