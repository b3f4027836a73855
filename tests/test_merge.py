"""Sharded runs merged back: equal to an unsharded run, and every way of being incomplete is caught."""

from __future__ import annotations

import json
import shutil

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from robustcot.cli import app
from robustcot.config import EvalConfig
from robustcot.distributed.merge import MergeError, merge_runs, planned_keys
from robustcot.evaluate import run_eval
from robustcot.models.hf import HFBackend, HFConfig
from robustcot.store import RunStore

pytestmark = pytest.mark.slow

HF = HFConfig(max_new_tokens=8)
# 3 synthetic samples hash to shards [0, 1, 0] of 2, so both shards hold work
BASE = EvalConfig(model="tiny", limit=3, variants=["base", "wrong_think"], hf=HF)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_path):
    """An unsharded run and the two shards of the same evaluation (written once, copied per test)."""
    root = tmp_path_factory.mktemp("merge")
    backend = HFBackend(tiny_path, HF, name="tiny")
    for name, shard in (("full", None), ("s0", "0/2"), ("s1", "1/2")):
        run_eval(
            BASE.model_copy(update={"shard": shard, "out": root / name}), backend=backend, show_progress=False
        )
    return root


@pytest.fixture
def shards(runs, tmp_path):
    """Fresh copies of the two shard runs that a test may damage."""
    return [shutil.copytree(runs / name, tmp_path / name) for name in ("s0", "s1")]


def _rewrite(run_dir, keep):
    """Replace a run's records with the rows ``keep(table)`` selects."""
    store = RunStore(run_dir)
    table = store.table()
    pq.write_table(table.filter(keep(table)), store.records_path)


def test_round_trip_equals_the_unsharded_run(runs, tmp_path):
    result = merge_runs([runs / "s1", runs / "s0"], tmp_path / "merged")
    assert result.complete and result.n_shards == 2 and result.n_errors == 0
    full = RunStore(runs / "full").records()
    merged = RunStore(tmp_path / "merged").records()
    assert len(merged) == result.n_records == 6
    assert list(merged["key"]) == list(full["key"])  # same keys in the same order
    assert list(merged["response"]) == list(full["response"])  # greedy decoding is deterministic
    meta = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert meta["identity"] == json.loads((runs / "full" / "run.json").read_text())["identity"]
    assert [s["shard"] for s in meta["shards"]] == ["0/2", "1/2"]
    assert all(s["fingerprint"]["architecture"] and s["versions"]["robustcot"] for s in meta["shards"])
    assert meta["merge"]["complete"] is True
    assert "2 of 2 merged" in (tmp_path / "merged" / "summary.md").read_text()
    # the merged directory is a finished run of the unsharded settings: resuming it generates nothing
    again = run_eval(BASE.model_copy(update={"out": tmp_path / "merged"}), backend=None, show_progress=False)
    assert again.generated == 0


def test_planned_keys_split_by_sample(runs):
    order, by_shard = planned_keys(BASE, 2)
    assert sorted(order) == sorted(RunStore(runs / "full").records()["key"])
    assert {k.split("|")[0] for k in by_shard[0]} == {"synthetic-0-0", "synthetic-0-2"}
    assert {k.split("|")[0] for k in by_shard[1]} == {"synthetic-0-1"}


def test_missing_shard_is_named_and_allow_incomplete_reports_it(shards, tmp_path):
    with pytest.raises(MergeError, match=r"missing shard\(s\) 1/2"):
        merge_runs([shards[0]], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
    result = merge_runs([shards[0]], tmp_path / "merged", allow_incomplete=True)
    assert not result.complete and result.missing_shards == [1]
    assert sorted(result.missing_keys[1]) == ["synthetic-0-1|base|0", "synthetic-0-1|wrong_think|0"]
    assert result.n_records == 4 and result.problems() == ["shard 1/2 is missing"]
    meta = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert meta["merge"] == {**meta["merge"], "complete": False, "missing_shards": ["1/2"], "missing_keys": 2}


def test_missing_key_is_named_with_its_shard(shards, tmp_path):
    _rewrite(shards[0], lambda t: pc.not_equal(t.column("key"), "synthetic-0-2|base|0"))
    with pytest.raises(
        MergeError, match=r"shard 0/2 .* lacks 1 of its 4 planned records: synthetic-0-2\|base\|0"
    ):
        merge_runs(shards, tmp_path / "merged")
    result = merge_runs(shards, tmp_path / "merged", allow_incomplete=True)
    assert result.missing_keys == {0: ["synthetic-0-2|base|0"]} and result.n_records == 5


def test_key_in_two_shards_is_an_error_even_when_incomplete_is_allowed(shards, tmp_path):
    row = next(r for r in RunStore(shards[0]).table().to_pylist() if r["key"] == "synthetic-0-0|base|0")
    RunStore(shards[1]).append([row])
    with pytest.raises(
        MergeError, match=r"1 record keys appear in two shards \(0/2 and 1/2\): synthetic-0-0\|base\|0"
    ):
        merge_runs(shards, tmp_path / "merged", allow_incomplete=True)


def test_shard_given_twice_is_an_error(shards, tmp_path):
    copy = shutil.copytree(shards[0], tmp_path / "s0-again")
    with pytest.raises(MergeError, match="shard 0/2 is given twice"):
        merge_runs([shards[0], copy, shards[1]], tmp_path / "merged")


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("identity", "max_new_tokens", 9, "max_new_tokens: 8 vs 9"),
        ("identity", "seed", 1, "seed: 0 vs 1"),
        ("config", "variants", ["base"], "variants"),
        ("config", "limit", 4, "limit: 3 vs 4"),
        ("identity", "shard", "1/3", "different numbers of shards"),
    ],
)
def test_runs_of_different_evaluations_are_refused(shards, tmp_path, section, field, value, message):
    meta_path = shards[1] / "run.json"
    meta = json.loads(meta_path.read_text())
    meta[section][field] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(MergeError, match=message):
        merge_runs(shards, tmp_path / "merged", allow_incomplete=True)


def test_error_rows_count_as_present_and_are_reported(shards, tmp_path):
    store = RunStore(shards[1])
    row = store.table().to_pylist()[0]
    store.append([{**row, "status": "error", "error": "generation failed (simulated)"}])
    result = merge_runs(shards, tmp_path / "merged")
    assert result.complete and result.n_errors == 1 and result.n_records == 6
    assert json.loads((tmp_path / "merged" / "run.json").read_text())["shards"][1]["errors"] == 1


def test_unsharded_run_and_foreign_output_are_refused(runs, shards, tmp_path):
    with pytest.raises(MergeError, match="is not a shard run"):
        merge_runs([runs / "full", *shards], tmp_path / "merged")
    with pytest.raises(MergeError, match="holds a run that is not a merge"):
        merge_runs(shards, runs / "full")


def test_cli_merge_reports_missing_shard_and_merges_complete_sets(shards, tmp_path):
    out = tmp_path / "merged"
    missing = CliRunner().invoke(app, ["merge", str(shards[0]), "--out", str(out)])
    assert missing.exit_code == 2 and "missing shard(s) 1/2" in missing.output
    partial = CliRunner().invoke(app, ["merge", str(shards[0]), "--out", str(out), "--allow-incomplete"])
    assert partial.exit_code == 0 and "shard 1/2 is missing" in partial.output
    done = CliRunner().invoke(app, ["merge", *map(str, shards), "--out", str(out)])
    assert done.exit_code == 0 and "6 records (0 error rows) from 2 shards" in done.output


def test_cli_eval_rejects_a_bad_shard_before_loading_anything(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--shard", "2/2", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "out of range" in result.output
