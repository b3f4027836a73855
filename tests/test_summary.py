"""The Markdown and rich views of the per-variant metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from robustcot.analysis.metrics import variant_metrics
from robustcot.analysis.summary import fmt_num, fmt_pct, summary_markdown, summary_table, write_summary
from robustcot.records import COLUMNS


def make_records(rows: list[dict]) -> pd.DataFrame:
    """A records table with every schema column; unspecified fields get neutral defaults."""
    full = [{**dict.fromkeys(COLUMNS), "benchmark": "bench", "variant": "base", "abstain": False,
             "status": "ok", **row} for row in rows]
    return pd.DataFrame(full, columns=COLUMNS)


@pytest.fixture
def records() -> pd.DataFrame:
    """Base 3/4 correct; wrong_think 1/4 correct with one error row; uncertainty on base only."""
    rows = []
    for i, (ok, p) in enumerate([(True, 0.9), (True, 0.7), (True, 0.6), (False, 0.2)]):
        rows.append({"sample_id": f"s{i}", "correct": ok, "p_correct": p, "entropy": 1 - p,
                     "quadrant": "consistent_correct" if ok else "consistent_incorrect"})
    for i, ok in enumerate([True, False, None]):
        rows.append({"sample_id": f"s{i}", "variant": "wrong_think", "correct": ok,
                     "status": "ok" if ok is not None else "no_answer_tag"})
    rows.append({"sample_id": "s3", "variant": "wrong_think", "status": "error", "error": "boom"})
    return make_records(rows)


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_formatting_helpers() -> None:
    assert fmt_pct(0.12345) == "12.3%"
    assert fmt_pct(float("nan")) == fmt_num(None) == "–"
    assert fmt_num(0.77777) == "0.778"


def test_markdown_has_header_and_expected_cells(records: pd.DataFrame) -> None:
    metrics = variant_metrics(records)
    text = summary_markdown(metrics, header={"model": "tiny", "template version": "v1"})
    assert "- **model**: tiny" in text
    assert "- **template version**: v1" in text

    lines = table_lines(text)
    assert len(lines) == 2 + len(metrics)
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "benchmark" not in lines[0]  # a single benchmark needs no column
    headers = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = {row.split("|")[1].strip(): [c.strip() for c in row.strip("|").split("|")] for row in lines[2:]}
    base = dict(zip(headers, cells["base"], strict=True))
    pert = dict(zip(headers, cells["wrong_think"], strict=True))

    assert base["accuracy [95% CI]"].startswith("75.0% [")
    assert base["flip rate"] == "–"
    assert base["cons ✓"] == "75.0%"
    assert base["mean P(correct)"] == "0.600"
    assert base["undecided"] == "0.0%"
    # wrong_think: 3 scored (1 right, 1 wrong, 1 unparsed), one error.
    assert pert["accuracy [95% CI]"].startswith("33.3% [")
    assert pert["flip rate"] == "66.7%"
    assert pert["flip → wrong"] == "66.7%"
    assert pert["AUROC P_base"] == "1.000"
    assert pert["mean H"] == "–"
    assert (pert["errors"], pert["unparsed"], pert["n"]) == ("1", "1", "4")


def test_markdown_notes_explain_missing_values() -> None:
    metrics = variant_metrics(make_records([{"sample_id": "a", "variant": "stop_think", "correct": True}]))
    text = summary_markdown(metrics, header={})
    assert "stop_think (no abstain): flip: no base variant in records" in text


def test_benchmark_column_when_several() -> None:
    rows = [{"sample_id": "a", "benchmark": "one", "correct": True},
            {"sample_id": "a", "benchmark": "two", "correct": False}]
    lines = table_lines(summary_markdown(variant_metrics(make_records(rows)), header={}))
    assert lines[0].startswith("| benchmark | variant")
    assert lines[2].startswith("| one | base") and lines[3].startswith("| two | base")


def test_empty_metrics_render() -> None:
    text = summary_markdown(variant_metrics(make_records([])), header={"model": "tiny"})
    assert "No records." in text and not table_lines(text)


def test_rich_table_matches_markdown_rows(records: pd.DataFrame) -> None:
    metrics = variant_metrics(records)
    table = summary_table(metrics, "tiny on bench")
    assert table.row_count == len(metrics)
    headers = [c.header for c in table.columns]
    assert headers[:3] == ["variant", "n", "acc. [95% CI]"]  # no abstain rows here, so no abstain column
    console = Console(record=True, width=80)
    console.print(table)
    rendered = console.export_text()
    assert "tiny on bench" in rendered and "wrong_think" in rendered and "66.7%" in rendered
    assert max(len(line) for line in rendered.splitlines()) <= 80
    full = summary_table(metrics, "tiny on bench", full=True)
    assert [c.header for c in full.columns][:3] == ["variant", "abstain", "n"] and len(full.columns) > len(headers)


def test_write_summary_writes_file_and_returns_metrics(records: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "run" / "summary.md"
    metrics = write_summary(records, path, {"model": "tiny"})
    pd.testing.assert_frame_equal(metrics, variant_metrics(records))
    assert path.read_text(encoding="utf-8") == summary_markdown(metrics, header={"model": "tiny"})
