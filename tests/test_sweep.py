"""Checkpoint sweeps: discovery, evaluation per checkpoint, resume, curves over seeds, verl merge, rollouts."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil

import pandas as pd
import pytest

from robustcot.config import EvalConfig
from robustcot.errors import ConfigError
from robustcot.models.hf import HFConfig
from robustcot.models.processor import load_processor
from robustcot.prompting.profiles import (
    CHECKPOINT_PROFILE_FILE,
    checkpoint_profile_name,
    write_checkpoint_profile,
)
from robustcot.train import checkpoints as ckpt_mod
from robustcot.train.checkpoints import find_checkpoints, merge_verl
from robustcot.train.rollouts import read_rollouts, rollout_curves
from robustcot.train.sweep import aggregate, sweep
from robustcot.train.verl_reward import compute_score

EVAL = EvalConfig(limit=2, hf=HFConfig(max_new_tokens=6))
VARIANTS = ["base", "wrong_think"]


def _trl_run(root, tiny_path, steps):
    for step in steps:
        shutil.copytree(tiny_path, root / f"checkpoint-{step}")
    (root / "checkpoint-9").mkdir()  # no config.json: an interrupted save, ignored
    (root / "runs").mkdir()  # TRL's tensorboard dir, ignored
    return root


def test_find_checkpoints(tmp_path, tiny_path):
    _trl_run(tmp_path, tiny_path, [10, 2])
    (tmp_path / "global_step_4" / "actor").mkdir(parents=True)
    found = find_checkpoints(tmp_path)
    assert [(c.step, c.kind) for c in found] == [(2, "trl"), (4, "verl"), (10, "trl")]
    assert found[1].path.name == "actor"
    with pytest.raises(ConfigError):
        find_checkpoints(tmp_path / "missing")


def test_sweep_curves_resume_and_seeds(tmp_path, tiny_path):
    runs = {
        "seed0": _trl_run(tmp_path / "seed0" / "checkpoints", tiny_path, [1, 3]),
        "seed1": _trl_run(tmp_path / "seed1" / "checkpoints", tiny_path, [1, 3]),
    }
    out = tmp_path / "sweep"
    first = sweep(runs, "synthetic", VARIANTS, out=out, config=EVAL, base_model="tiny")
    assert first.evaluated == 5  # the base model once, two checkpoints per run
    curves = pd.read_parquet(out / "curves.parquet")
    assert set(zip(curves["run"], curves["step"], strict=True)) == {(r, s) for r in runs for s in (0, 1, 3)}
    assert set(curves["variant"]) == set(VARIANTS)
    assert curves[["accuracy", "entropy", "p_correct", "consistency"]].notna().all().all()
    assert ((curves["accuracy"] >= 0) & (curves["accuracy"] <= 1)).all()
    # identical weights in both runs → identical greedy evaluations, zero spread across seeds
    agg = aggregate(curves, "accuracy", "variant")
    assert (agg["n_runs"] == 2).all() and (agg["std"] == 0).all()
    assert first.figure.read_bytes()[:4] == b"\x89PNG"
    records = pd.read_parquet(out / "evals" / "seed0" / "step-3" / "records.parquet")
    assert len(records) == 2 * len(VARIANTS) and records["model"].str.startswith("hf:").all()

    again = sweep(runs, "synthetic", VARIANTS, out=out, config=EVAL, base_model="tiny")
    assert again.evaluated == 0
    pd.testing.assert_frame_equal(again.curves, first.curves)
    shutil.copytree(tiny_path, runs["seed1"] / "checkpoint-5")
    third = sweep(runs, "synthetic", VARIANTS, out=out, config=EVAL, base_model="tiny")
    assert third.evaluated == 1 and 5 in set(third.curves["step"])


def _fake_verl_checkpoint(root, tiny_path, step):
    """A world-size-1 verl FSDP actor checkpoint of the tiny model (plain tensors, as verl's merger accepts)."""
    import torch
    from transformers import AutoModelForImageTextToText

    actor = root / f"global_step_{step}" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    model = AutoModelForImageTextToText.from_pretrained(tiny_path)
    torch.save(model.state_dict(), actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"world_size": 1}))
    for f in tiny_path.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy2(f, actor / "huggingface" / f.name)
    return actor


def _dump_rollouts(directory, step, outputs):
    """What verl's trainer writes to rollout_data_dir: decoded input/output, score and our reward parts."""
    directory.mkdir(parents=True, exist_ok=True)
    info = {"answer_type": "mcq", "options": ["left", "right"], "question": "Where?", "injection": {}}
    with (directory / f"{step}.jsonl").open("w") as handle:
        for prompt, output in outputs:
            parts = asyncio.run(compute_score("synthetic", output, "B", info))
            handle.write(
                json.dumps({"input": prompt, "output": output, "gts": "B", "step": step, **parts}) + "\n"
            )


def test_rollout_curves(tmp_path):
    same = "<think>It is on the right side of the table.</think><answer>B</answer>"
    _dump_rollouts(tmp_path, 1, [("p1", same), ("p1", same), ("p2", "<think></think><answer>A</answer>")])
    _dump_rollouts(tmp_path, 2, [("p1", "<think>left</think><answer>B</answer>"), ("p1", same)])
    curves = rollout_curves(read_rollouts(tmp_path)).set_index("step")
    assert curves.loc[1, "n_rollouts"] == 3 and curves.loc[2, "n_rollouts"] == 2
    assert curves.loc[1, "consistent"] == pytest.approx(2 / 3) and curves.loc[2, "inconsistent"] == 0.5
    assert curves.loc[1, "empty_think_share"] == pytest.approx(1 / 3)
    assert curves.loc[1, "near_duplicate_share"] == 0.5  # p1 all copies, p2 has no non-empty think
    assert curves.loc[2, "score"] == pytest.approx(1.1)
    with pytest.raises(FileNotFoundError):
        read_rollouts(tmp_path / "none")


@pytest.mark.slow
def test_verl_checkpoints_are_merged_and_evaluated(tmp_path, tiny_path):
    pytest.importorskip("verl")
    root = tmp_path / "run" / "checkpoints"
    actor = _fake_verl_checkpoint(root, tiny_path, 250)
    write_checkpoint_profile(root, "r1")  # what launch_verl records for the run
    _dump_rollouts(tmp_path / "run" / "rollouts", 1, [("p", "<think>right</think><answer>B</answer>")])
    out = tmp_path / "sweep"
    result = sweep(root, "synthetic", ["base"], out=out, config=EVAL.model_copy(update={"limit": 1}))
    merged = out / "merged" / "checkpoints" / "global_step_250"
    assert (merged / "model.safetensors").exists()
    assert load_processor(merged).image_processor.size == load_processor(tiny_path).image_processor.size
    assert list(result.curves["step"]) == [250]
    assert result.rollout_curves is not None and list(result.rollout_curves["run"]) == ["checkpoints"]
    assert (out / "rollouts.png").exists() and (out / "rollout_curves.parquet").exists()
    assert checkpoint_profile_name(f"hf:{merged}") == "r1"  # the record came along with the weights
    records = pd.read_parquet(out / "evals" / "checkpoints" / "step-250" / "records.parquet")
    assert set(records["profile"]) == {"r1"}  # so the sweep asked it the way it was trained
    assert merge_verl(actor, merged) == merged  # already merged: kept
    (merged / CHECKPOINT_PROFILE_FILE).unlink()  # merged before the run recorded its profile
    write_checkpoint_profile(actor, "vision-r1")  # a record in the actor dir comes first
    assert merge_verl(actor, merged) == merged and checkpoint_profile_name(f"hf:{merged}") == "vision-r1"


def test_verl_checkpoint_without_verl(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        ckpt_mod.importlib.util, "find_spec", lambda name: None if name == "verl" else real(name)
    )
    (tmp_path / "actor").mkdir()
    with pytest.raises(ConfigError, match=r"verl\.model_merger merge --backend fsdp"):
        merge_verl(tmp_path / "actor", tmp_path / "merged")
