"""Writers for the format-independent report content: Markdown, per-table CSV and LaTeX, JSON.

CSV and JSON carry each table's raw numbers (``ReportTable.data``); Markdown and LaTeX carry the
formatted cells (``ReportTable.display``) a reader would copy into a paper. LaTeX is escaped by
pandas and the few non-ASCII symbols the tables use are mapped to math mode, so the files compile
with plain pdflatex (``booktabs`` needed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustcot.analysis.sections import Section

_LATEX_SYMBOLS = {"−": "$-$", "–": "--", "κ": "$\\kappa$", "✓": "$\\checkmark$", "→": "$\\to$", "×": "$\\times$",
                  "≥": "$\\geq$", "…": "\\ldots{}", "·": "$\\cdot$"}


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of string cells (pipes escaped, line breaks flattened)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def report_markdown(title: str, facts: dict[str, str], headline: Sequence[str], deviations: Sequence[str],
                    sections: Sequence[Section], figure_paths: dict[str, str]) -> str:
    """``report.md``: header facts, headline findings, deviations, then every section."""
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    if headline:
        lines += ["", "## Headline", "", *(f"- {h}" for h in headline)]
    lines += ["", "## Protocol deviations", ""]
    lines += [f"- {d}" for d in deviations] if deviations else ["- none detected"]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        for table in section.tables:
            lines += [f"### {table.title}", ""]
            if table.caption:
                lines += [table.caption, ""]
            lines += [markdown_table(table.display) if not table.display.empty else "_(empty)_", ""]
            lines += [f"CSV: `tables/{table.name}.csv`, LaTeX: `tables/{table.name}.tex`", ""]
        for figure in section.figures:
            path = figure_paths.get(figure.name)
            if path:
                lines += [f"![{figure.title}]({path})", ""]
                if figure.caption:
                    lines += [f"*{figure.title}.* {figure.caption}", ""]
        lines += [f"- {n}" for n in section.notes]
    return "\n".join(lines).rstrip() + "\n"


def latex_table(table_display: pd.DataFrame, caption: str, label: str) -> str:
    """The display frame as a booktabs LaTeX table with caption and label."""
    text = table_display.to_latex(index=False, escape=True, caption=caption, label=f"tab:{label}", na_rep="--")
    for symbol, replacement in _LATEX_SYMBOLS.items():
        text = text.replace(symbol, replacement)
    return text


def write_tables(sections: Sequence[Section], directory: Path, formats: Sequence[str]) -> dict[str, Path]:
    """``tables/<name>.csv`` (raw numbers) and ``tables/<name>.tex`` (formatted) for every table."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for section in sections:
        for table in section.tables:
            if "csv" in formats:
                path = directory / f"{table.name}.csv"
                table.data.to_csv(path, index=False)
                written[path.name] = path
            if "tex" in formats:
                path = directory / f"{table.name}.tex"
                path.write_text(latex_table(table.display, table.title, table.name), encoding="utf-8")
                written[path.name] = path
    return written


def json_ready(value: Any) -> Any:
    """Plain JSON values: NaN/NA → None, numpy scalars → Python, recursively."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as JSON-ready dicts."""
    return json_ready(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


def report_json(meta: dict[str, Any], sections: Sequence[Section]) -> str:
    """``report.json``: metadata and every table's raw rows, keyed by table name."""
    tables = {t.name: {"title": t.title, "section": s.id, "rows": table_records(t.data)}
              for s in sections for t in s.tables}
    return json.dumps(json_ready({"meta": meta, "tables": tables}), indent=1, allow_nan=False, default=str)
