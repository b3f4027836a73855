"""The report built from simulated runs: files, numbers recomputed independently, safety of the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from robustcot.analysis import agreement
from robustcot.analysis.frame import analysis_frame
from robustcot.analysis.provenance import provenance
from robustcot.analysis.report import ReportOptions, build_report, build_report_from_records
from robustcot.analysis.resampling import Resampler
from robustcot.analysis.runs import load_runs
from robustcot.analysis.simulate import simulate_records, write_run
from robustcot.analysis.thumbnails import collect_thumbnails, registry_image_loader
from robustcot.errors import ConfigError
from robustcot.judges.agreement import panel_agreement
from robustcot.perturb.variants import VARIANTS

N_BOOT = 200
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    """2 models × 2 benchmarks × 40 samples × 8 variants × abstain, three LLM judges, one hostile response."""
    frame = simulate_records(n_samples=40, llm_judges=("qwen", "gpt", "llama"), seed=7)
    frame.loc[0, "response"] = XSS
    return frame


@pytest.fixture(scope="module")
def built(records: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    """The report built from two run directories (one per model), as the CLI would."""
    root = tmp_path_factory.mktemp("runs")
    runs = [write_run(part, root / f"run-{i}", {"config": {"model": model, "benchmark": "mixed", "seed": 7},
                                                "template_version": "1", "versions": {"robustcot": "0.1.0"}})
            for i, (model, part) in enumerate(records.groupby("model", sort=False))]
    out = root / "report"
    result = build_report(runs, out, options=ReportOptions(n_boot=N_BOOT, seed=1))
    return result, out


def scored(records: pd.DataFrame) -> pd.DataFrame:
    rows = records[records["status"] != "error"].copy()
    rows["right"] = rows["correct"].astype("boolean").fillna(False).astype(bool)
    return rows


def pairs_with_base(records: pd.DataFrame) -> pd.DataFrame:
    rows = scored(records)
    keys = ["model", "benchmark", "sample_id", "abstain"]
    base = rows[rows["variant"] == "base"][[*keys, "right", "p_correct", "entropy", "letter_probs"]]
    return rows.merge(base, on=keys, suffixes=("", "_base"))


def test_writes_every_output(built) -> None:
    result, out = built
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).stat().st_size > 0
    for table in ("table1", "table1_abstain", "drop", "auroc", "selective", "abstain", "judge_agreement",
                  "categories", "uncertainty", "quadrants", "status", "runs"):
        assert (out / "tables" / f"{table}.csv").exists(), table
        assert "\\begin{tabular}" in (out / "tables" / f"{table}.tex").read_text()
    for figure in ("accuracy", "drop", "quadrants", "entropy", "p_correct", "shift", "roc_p_base",
                   "roc_neg_entropy", "risk_coverage_p_base", "abstain"):
        assert (out / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG", figure
    assert result.n_records == 2 * 2 * 40 * len(VARIANTS) * 2


def test_table1_accuracy_matches_records(built, records) -> None:
    table = built[0].tables["table1"]
    rows = scored(records)
    for (model, benchmark, variant), group in rows[~rows["abstain"]].groupby(["model", "benchmark", "variant"]):
        cell = table[(table["model"] == model) & (table["benchmark"] == benchmark)][variant]
        assert cell.item() == pytest.approx(group["right"].mean())
    md = (built[1] / "report.md").read_text()
    assert "| benchmark | model | base | stop_think |" in md


def test_drop_counts_and_mcnemar_match_an_independent_pairing(built, records) -> None:
    drop = built[0].tables["drop"]
    pairs = pairs_with_base(records)
    pairs = pairs[(pairs["variant"] == "wrong_think") & ~pairs["abstain"]]
    for (model, benchmark), group in pairs.groupby(["model", "benchmark"]):
        row = drop[(drop["model"] == model) & (drop["benchmark"] == benchmark) & (drop["variant"] == "wrong_think")
                   & ~drop["abstain"]].iloc[0]
        b = int((group["right_base"] & ~group["right"]).sum())
        c = int((~group["right_base"] & group["right"]).sum())
        assert (row["n_pairs"], row["n_base_only"], row["n_variant_only"]) == (len(group), b, c)
        assert row["drop"] == pytest.approx(group["right_base"].mean() - group["right"].mean())
        assert row["p_mcnemar"] == pytest.approx(sps.binomtest(min(b, c), b + c, 0.5).pvalue)
        assert row["ci_low"] <= row["drop"] <= row["ci_high"]
    assert (drop["p_holm"] >= drop["p_mcnemar"] - 1e-12).all()


def test_auroc_points_match_sklearn_and_intervals_are_accounted(built, records) -> None:
    auroc = built[0].tables["auroc"]
    pairs = pairs_with_base(records)
    group = pairs[(pairs["model"] == "hf:org/model-a") & (pairs["benchmark"] == "bench-y")
                  & (pairs["variant"] == "wrong_caption") & ~pairs["abstain"]]
    group = group[group["p_correct_base"].notna()]
    expected = roc_auc_score(group["right"], group["p_correct_base"])
    row = auroc[(auroc["model"] == "hf:org/model-a") & (auroc["benchmark"] == "bench-y")
                & (auroc["variant"] == "wrong_caption") & ~auroc["abstain"] & (auroc["score"] == "P_base")].iloc[0]
    assert row["auroc"] == pytest.approx(expected)
    assert row["ci_low"] < row["auroc"] < row["ci_high"]
    assert (auroc["n_boot_valid"] + auroc["n_boot_skipped"] == N_BOOT).all()


def test_single_class_groups_are_explicit(records) -> None:
    small = records[(records["model"] == "hf:org/model-a") & (records["benchmark"] == "bench-x")].copy()
    small = small[small["sample_id"].isin([f"s{i:06d}" for i in range(6)])]
    small.loc[small["variant"] == "correct_caption", ["correct", "status"]] = [True, "ok"]
    frame = analysis_frame(small)
    pairs = frame.paired.assign(score=frame.paired["base_p_correct"])
    table = Resampler(frame, 300, 0).auroc_intervals(pairs[pairs["score"].notna()],
                                                    ["stratum", "variant", "abstain"], "score", "right")
    one_class = table[table["variant"] == "correct_caption"]
    assert (one_class["n_boot_skipped"] == 300).all() and one_class["ci_low"].isna().all()
    mixed = table[table["variant"] == "base"]
    assert (mixed["n_boot_skipped"] > 0).any()  # 6 samples: some resamples hold one class only


def test_injected_shift_uses_the_base_rows_probability(built, records) -> None:
    pairs = pairs_with_base(records)
    pairs = pairs[(pairs["variant"] == "wrong_think") & pairs["p_injected"].notna()
                  & pairs["letter_probs_base"].notna()]
    base_prob = [probs[int(i)] for probs, i in zip(pairs["letter_probs_base"], pairs["injected_index"], strict=True)]
    pairs = pairs.assign(shift=pairs["p_injected"] - np.array(base_prob))
    table = built[0].tables["uncertainty"]
    for (model, benchmark, abstain), group in pairs.groupby(["model", "benchmark", "abstain"]):
        row = table[(table["model"] == model) & (table["benchmark"] == benchmark) & (table["abstain"] == abstain)
                    & (table["variant"] == "wrong_think")].iloc[0]
        assert row["mean_shift"] == pytest.approx(group["shift"].mean())
        assert row["mean_shift"] > 0  # the simulated injection pulls mass onto the asserted option


def test_abstain_choice_rate_matches_records(built, records) -> None:
    rows = scored(records)
    rows = rows[rows["abstain"] & (rows["model"] == "hf:org/model-b") & (rows["benchmark"] == "bench-x")
                & (rows["variant"] == "base")]
    chose = (rows["answer_index"] == rows["abstain_index"]).fillna(False).mean()
    table = built[0].tables["abstain"]
    row = table[(table["model"] == "hf:org/model-b") & (table["benchmark"] == "bench-x")
                & (table["variant"] == "base")].iloc[0]
    assert row["chose_abstain"] == pytest.approx(chose)
    assert row["chose_low"] <= row["chose_abstain"] <= row["chose_high"]


def test_judge_kappa_matches_statsmodels_and_judges_package(built, records) -> None:
    table = built[0].tables["judge_agreement"]
    assert "judge_qwen + judge_gpt + judge_llama" in set(table["judges"])
    cols = ["judge_qwen", "judge_gpt", "judge_llama"]
    rows = records[records["model"] == "hf:org/model-a"][cols].dropna()
    decided = rows[rows.isin(["consistent", "inconsistent", "no_conclusion"]).all(axis=1)]
    codes = decided.replace({"consistent": 0, "inconsistent": 1, "no_conclusion": 2}).to_numpy(dtype=int)
    expected = fleiss_kappa(aggregate_raters(codes, n_cat=3)[0], method="fleiss")
    row = table[(table["model"] == "hf:org/model-a") & (table["judges"] == " + ".join(cols))].iloc[0]
    assert row["kappa"] == pytest.approx(expected)
    assert row["kappa"] == pytest.approx(panel_agreement(rows.to_numpy().tolist(), n_boot=0).kappa)
    assert (row["n_items"], row["n_dropped"]) == (len(rows), len(rows) - len(decided))
    assert row["kappa_low"] < row["kappa"] < row["kappa_high"]


def test_single_judge_is_said_not_computed(records) -> None:
    frame = analysis_frame(records.drop(columns=["judge_qwen", "judge_gpt", "judge_llama"]))
    assert agreement.agreement_table(frame, Resampler(frame, 10, 0)).empty
    assert "Only one judge" in agreement.single_judge_note(frame)


def test_header_lists_deviations(records) -> None:
    odd = records.copy()
    odd["prefill_mode"] = np.where(odd["variant"].str.contains("think"), "emulated", "native")
    odd.loc[odd.index[:10], "template_version"] = "2"
    prov = provenance(analysis_frame(odd), [], [])
    text = "\n".join(prov.deviations)
    assert "prefill_mode 'emulated'" in text and "wrong_think" in text
    assert "2 template versions" in text
    assert "no letter uncertainty" in text


def test_runs_sharing_model_and_benchmark_are_kept_apart(records, tmp_path: Path) -> None:
    part = records[(records["model"] == "hf:org/model-a") & (records["benchmark"] == "bench-x")]
    runs = [write_run(part, tmp_path / name) for name in ("seed0", "seed1")]
    loaded = load_runs(runs)
    assert set(loaded.records["model"]) == {"hf:org/model-a [seed0]", "hf:org/model-a [seed1]"}
    assert "share model" in loaded.notes[0]
    with pytest.raises(ConfigError):
        load_runs([])


def test_json_holds_every_table_without_nan(built) -> None:
    text = (built[1] / "report.json").read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert set(built[0].tables) == set(data["tables"])
    assert data["tables"]["drop"]["rows"][0]["model"] == "hf:org/model-a"


def test_html_is_self_contained_and_escapes_model_text(built) -> None:
    page = (built[1] / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "Content-Security-Policy" in page and "script-src 'sha256-" in page
    assert XSS not in page and "window.__pwned=2" in page  # present only in escaped form
    assert page.count("<script") == 2
    assert "data:image/png;base64," in page


def test_formats_choose_the_documents(records, tmp_path: Path) -> None:
    small = records[records["sample_id"].isin(["s000000", "s000001"])]
    result = build_report_from_records(small, tmp_path, formats=("json",), options=ReportOptions(n_boot=20))
    assert set(result.files) == {"report.json"}
    with pytest.raises(ConfigError):
        build_report_from_records(small, tmp_path, formats=("pdf",))


def test_thumbnails_from_a_mapping_and_from_the_registry(tmp_path: Path) -> None:
    image = Image.new("RGB", (400, 200), "red")
    thumbs, notes = collect_thumbnails({"a": image}, [("b", "a"), ("b", "missing")], 64)
    assert list(thumbs) == [("b", "a")] and not notes
    assert thumbs[("b", "a")].startswith("data:image/jpeg;base64,")

    def broken(benchmark, ids):
        raise OSError("dataset not downloaded")

    assert collect_thumbnails(broken, [("b", "a")], 64) == ({}, ["no thumbnails for b: OSError: dataset not downloaded"])
    from robustcot.data.registry import load_benchmark

    sample = load_benchmark("synthetic", limit=2, seed=3)[1]
    (tmp_path / "run.json").write_text(json.dumps({"config": {"benchmark": "synthetic", "limit": 2, "seed": 3}}))
    loader = registry_image_loader([tmp_path])
    got = loader("synthetic", [sample.id])
    assert list(got) == [sample.id] and got[sample.id].size == sample.images[0].load().size
