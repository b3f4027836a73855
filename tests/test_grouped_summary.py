"""Grouped scores in summary.md and the report, and open-ended rows in the per-variant metrics.

Expected cells are computed by hand in the comments.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from robustcot.analysis.metrics import variant_metrics
from robustcot.analysis.report import ReportOptions, build_report_from_records
from robustcot.analysis.simulate import simulate_records
from robustcot.analysis.summary import grouped_tables, summary_markdown, write_summary
from robustcot.data.adapters.open_ended import NO_LETTERS_NOTE
from robustcot.data.grouped import group_scores
from robustcot.records import COLUMNS


def make_records(rows: list[dict]) -> pd.DataFrame:
    full = [{**dict.fromkeys(COLUMNS), "abstain": False, "status": "ok", "task": "mcq", **row} for row in rows]
    return pd.DataFrame(full, columns=COLUMNS)


def _mm(sid: str, group: str, variant: str, correct: bool | None, category: str, status: str = "ok") -> dict:
    return {"sample_id": sid, "benchmark": "mmbench", "variant": variant, "correct": correct, "status": status,
            "group_circular": group, "category": category}  # fmt: skip


def _cv(sid: str, source: str, correct: bool) -> dict:
    return {"sample_id": sid, "benchmark": "cvbench", "variant": "base", "correct": correct, "source": source}


@pytest.fixture
def records() -> pd.DataFrame:
    rows = [
        # base: q1 both right; q2 one wrong; q3 has an error row → groups 1/2 right, 1 left out; rows 4/5
        _mm("q1", "q1", "base", True, "attr"), _mm("q1@1", "q1", "base", True, "attr"),
        _mm("q2", "q2", "base", True, "attr"), _mm("q2@1", "q2", "base", False, "attr"),
        _mm("q3", "q3", "base", True, "rel"), _mm("q3@1", "q3", "base", None, "rel", status="error"),
        # wrong_think: only q3 fully right (q2@1 unparsed = wrong) → groups 1/3; rows 3/6
        _mm("q1", "q1", "wrong_think", True, "attr"), _mm("q1@1", "q1", "wrong_think", False, "attr"),
        _mm("q2", "q2", "wrong_think", False, "attr"), _mm("q2@1", "q2", "wrong_think", None, "attr"),
        _mm("q3", "q3", "wrong_think", True, "rel"), _mm("q3@1", "q3", "wrong_think", True, "rel"),
        # CV-Bench: ADE20K 1/2, COCO 2/2, Omni3D 1/2 → score mean((0.5 + 1) / 2, 0.5) = 62.5%, accuracy 4/6
        _cv("c1", "ADE20K", True), _cv("c2", "ADE20K", False), _cv("c3", "COCO", True), _cv("c4", "COCO", True),
        _cv("c5", "Omni3D", True), _cv("c6", "Omni3D", False),
    ]  # fmt: skip
    return make_records(rows)


def md_table(markdown: str, title: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under ``### title`` as header → cell dicts."""
    lines = markdown.split(f"### {title}\n", 1)[1].splitlines()
    table = [line for line in lines[lines.index(next(x for x in lines if x.startswith("|"))):]]
    table = table[: next((i for i, x in enumerate(table) if not x.startswith("|")), len(table))]
    headers = [c.strip() for c in table[0].strip("|").split("|")]
    return [dict(zip(headers, (c.strip() for c in row.strip("|").split("|")), strict=True)) for row in table[2:]]


def test_summary_has_circular_cvbench_and_breakdown_tables(records: pd.DataFrame, tmp_path: Path) -> None:
    write_summary(records, tmp_path / "summary.md", {"model": "m"})
    text = (tmp_path / "summary.md").read_text()
    assert "## Grouped scores" in text

    groups = {r["variant"]: r for r in md_table(text, "Group accuracy (every copy of a question right)")}
    assert set(groups) == {"base", "wrong_think"}  # only MMBench carries group keys; CV-Bench is not listed
    assert groups["base"]["circular"] == "50.0% (2; 1 left out)" and groups["base"]["row accuracy"] == "80.0%"
    assert groups["wrong_think"]["circular"] == "33.3% (3)" and groups["wrong_think"]["row accuracy"] == "50.0%"
    assert "flip" not in groups["base"]  # no row carries a flip key

    (cv,) = md_table(text, "CV-Bench official score")
    assert (cv["ADE20K"], cv["COCO"], cv["Omni3D"], cv["score"], cv["accuracy"]) == (
        "50.0%", "100.0%", "50.0%", "62.5%", "66.7%")

    categories = {(r["benchmark"], r["category"]): r for r in md_table(text, "Accuracy per category")}
    assert categories["mmbench", "attr"]["base"] == "75.0% (4)" and categories["mmbench", "attr"]["wrong_think"] == "25.0% (4)"
    assert categories["mmbench", "rel"]["base"] == "100.0% (1)"  # the error row is not scored
    sources = {r["source"]: r for r in md_table(text, "Accuracy per source")}
    assert set(sources) == {"ADE20K", "COCO", "Omni3D"} and sources["COCO"]["base"] == "100.0% (2)"
    assert "wrong_think" not in sources["ADE20K"]  # CV-Bench ran base only: no empty variant column


def test_no_grouped_section_without_group_columns(records: pd.DataFrame) -> None:
    plain = records.assign(group_circular=None, source=None, category=None)
    metrics = variant_metrics(plain)
    text = summary_markdown(metrics, header={}, records=plain)
    assert "Grouped scores" not in text and text == summary_markdown(metrics, header={})
    assert group_scores(plain).empty


def test_flip_is_scored_only_where_the_benchmark_has_flip_keys() -> None:
    rows = [
        {"sample_id": "a", "benchmark": "3dsrbench", "variant": "base", "correct": True, "group_flip": "a"},
        {"sample_id": "a-flip", "benchmark": "3dsrbench", "variant": "base", "correct": False, "group_flip": "a"},
        {"sample_id": "m", "benchmark": "mmbench", "variant": "base", "correct": True, "group_circular": "m"},
    ]
    scores = group_scores(make_records(rows)).set_index("benchmark")
    assert scores.loc["3dsrbench", "flip"] == 0.0 and pd.isna(scores.loc["3dsrbench", "circular"])
    assert scores.loc["mmbench", "circular"] == 1.0 and pd.isna(scores.loc["mmbench", "flip"])
    assert scores.loc["3dsrbench", "accuracy"] == 0.5


def test_open_rows_get_accuracy_flips_and_a_note_but_no_letter_metrics() -> None:
    rows = []
    for i, (base_ok, wrong_ok) in enumerate([(True, False), (True, True), (False, False), (None, True)]):
        common = {"sample_id": f"o{i}", "benchmark": "spatial_mm_multihop", "task": "open", "quadrant": None}
        rows.append({**common, "variant": "base", "correct": base_ok})
        rows.append({**common, "variant": "wrong_think", "correct": wrong_ok})
    rows += [{"sample_id": f"m{i}", "benchmark": "cvbench", "variant": v, "correct": ok, "entropy": e, "p_correct": p}
             for i, (ok, e, p) in enumerate([(True, 0.1, 0.9), (False, 0.6, 0.4)]) for v in ("base", "wrong_think")]
    records = make_records(rows)
    metrics = variant_metrics(records).set_index(["benchmark", "variant"])
    open_base, open_wrong = metrics.loc["spatial_mm_multihop", "base"], metrics.loc["spatial_mm_multihop", "wrong_think"]
    assert open_base.accuracy == 0.5 and open_base.n_unparsed == 1  # o3 unparsed counts as wrong
    assert open_wrong.flip_rate == 0.5 and open_wrong.flip_to_wrong == 0.25  # o0 ✓→✗, o3 ✗→✓
    assert pd.isna(open_wrong.mean_entropy) and open_wrong.auroc_note == NO_LETTERS_NOTE
    assert metrics.loc["cvbench", "wrong_think"].auroc_note != NO_LETTERS_NOTE
    assert metrics.loc["cvbench", "base"].mean_entropy == pytest.approx(0.35)
    text = summary_markdown(variant_metrics(records), header={}, records=records)
    assert "Open-ended (spatial_mm_multihop)" in text and "AUROC: open-ended" not in text


def test_report_has_the_grouped_tables_per_model(tmp_path: Path) -> None:
    records = simulate_records(benchmarks=("mmbench", "cvbench"), n_samples=12, variants=("base", "wrong_think"),
                               abstain=False, seed=3, error_rate=0.0)  # fmt: skip
    mm = records["benchmark"] == "mmbench"
    number = records["sample_id"].str.extract(r"(\d+)$")[0].astype(int)
    records.loc[mm, "group_circular"] = "g" + (number[mm] // 2).astype(str)  # pairs of samples
    records.loc[~mm, "source"] = number[~mm].map(lambda n: ("ADE20K", "COCO", "Omni3D")[n % 3])
    result = build_report_from_records(records, tmp_path, formats=("json", "md"), options=ReportOptions(n_boot=20))
    assert {"group_scores", "cvbench_score", "by_source"} <= set(result.tables)
    assert "by_category" not in result.tables  # the report has its own category section
    table = result.tables["group_scores"].set_index(["model", "benchmark", "variant"])
    for (model, variant), part in records[mm].groupby(["model", "variant"]):
        right = part["correct"].astype("boolean").fillna(False).astype(bool)
        expected = right.groupby(part["group_circular"]).all().mean()
        assert table.loc[(model, "mmbench", variant), "circular"] == pytest.approx(expected)
    assert "Grouped scores" in (tmp_path / "report.md").read_text()
    assert grouped_tables(records.iloc[0:0], ["base"]) == []
