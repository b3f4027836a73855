"""Data export: mix parsing, verl parquet schema, TRL dataset, determinism, unregistered components."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from fixtures.formats import png, struct, write_file, write_jsonl, write_parquet
from robustcot.errors import ConfigError
from robustcot.train.augment import AugmentConfig
from robustcot.train.export import AGENT_NAME, MixComponent, parse_mix, prepare
from robustcot.train.verl_reward import compute_score

datasets = pytest.importorskip("datasets")


def test_parse_mix():
    assert parse_mix("sat:32000, pixmo_count:15000,geometry3k:2101") == [
        MixComponent("sat", 32000),
        MixComponent("pixmo_count", 15000),
        MixComponent("geometry3k", 2101),
    ]
    for bad in ("sat", "sat:0", "sat:x", "", "sat:1,sat:2", ":5"):
        with pytest.raises(ConfigError):
            parse_mix(bad)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare("synthetic:30", tmp_path_factory.mktemp("mix"), seed=4, val_size=5)


def test_verl_parquet_schema(prepared):
    train = pd.read_parquet(prepared.verl_train)
    val = pd.read_parquet(prepared.verl_val)
    assert (len(train), len(val)) == (25, 5)
    assert set(train["extra_info"].map(lambda e: e["sample_id"])).isdisjoint(
        val["extra_info"].map(lambda e: e["sample_id"])
    )
    assert list(train.columns) == [
        "data_source", "prompt", "images", "ability", "reward_model", "extra_info", "agent_name",
    ]  # fmt: skip
    assert (train["agent_name"] == AGENT_NAME).all() and (train["data_source"] == "synthetic").all()
    assert list(train["extra_info"].map(lambda e: e["index"])) == list(range(25))
    for _, row in train.iterrows():
        (message,) = row["prompt"]
        assert message["role"] == "user"
        assert message["content"].count("<image>") == len(row["images"]) == 1
        assert message["content"].startswith("<image>")
        info, gold = row["extra_info"], row["reward_model"]["ground_truth"]
        assert row["reward_model"]["style"] == "rule"
        assert info["options"][ord(gold) - ord("A")] == info["gold"]
        assert info["question"] in message["content"]
        injection = info["injection"]
        if injection["kind"] in ("correct_think", "wrong_think"):
            assert (
                injection["prefill"].startswith("<think>") and injection["prefill"] not in message["content"]
            )
        if injection["kind"] in ("correct_caption", "wrong_caption"):
            assert injection["caption"] in message["content"]
        if injection["kind"] is not None:
            assert (injection["asserted"] == gold) == injection["kind"].startswith("correct")
    manifest = json.loads((prepared.out / "manifest.json").read_text())
    assert manifest["n_train"] == 25 and sum(manifest["injections"].values()) == 30
    assert manifest["components"] == [{"name": "synthetic", "requested": 30, "loaded": 30, "rejects": 0}]


def test_trl_dataset(prepared):
    ds = datasets.load_from_disk(str(prepared.trl_dir))
    assert len(ds) == 25
    verl = pd.read_parquet(prepared.verl_train)
    for row, (_, vrow) in zip(ds, verl.iterrows(), strict=True):
        assert row["sample_id"] == vrow["extra_info"]["sample_id"]  # same order in both exports
        assert row["images"][0].size == (112, 112)
        roles = [m["role"] for m in row["prompt"]]
        assert roles == (["user", "assistant"] if row["prefill"] else ["user"])
        if row["prefill"]:
            assert (
                row["prompt"][-1]["content"] == row["prefill"] == vrow["extra_info"]["injection"]["prefill"]
            )
        assert "<image>" not in row["prompt"][0]["content"]
        assert row["ground_truth"] == vrow["reward_model"]["ground_truth"]


def test_deterministic_given_seed(tmp_path, prepared):
    again = prepare("synthetic:30", tmp_path / "a", seed=4, val_size=5)
    other = prepare("synthetic:30", tmp_path / "b", seed=5, val_size=5)
    first = pd.read_parquet(prepared.verl_train)
    pd.testing.assert_frame_equal(first, pd.read_parquet(again.verl_train))
    assert not first["extra_info"].equals(pd.read_parquet(other.verl_train)["extra_info"])
    assert (
        datasets.load_from_disk(str(again.trl_dir))[:]["prompt"]
        == datasets.load_from_disk(str(prepared.trl_dir))[:]["prompt"]
    )
    assert (again.out / "manifest.json").read_text() == (prepared.out / "manifest.json").read_text()


def test_no_augmentation_and_custom_probabilities(tmp_path):
    clean = prepare("synthetic:12", tmp_path / "clean", seed=0, augment=False)
    assert clean.manifest["injections"] == {"none": 12} and clean.manifest["augment"] is None
    thinks = prepare("synthetic:12", tmp_path / "t", augment=AugmentConfig({"wrong_think": 1.0}, seed=3))
    assert thinks.manifest["injections"] == {"wrong_think": 12}


def test_unregistered_component(tmp_path):
    with pytest.raises(ConfigError, match="not a registered benchmark"):
        prepare("no_such_bench:10", tmp_path)
    with pytest.raises(ConfigError, match="val_size"):
        prepare("synthetic:3", tmp_path, val_size=3)


def test_study_mix_through_the_registered_adapters(tmp_path):
    """SAT (two-image questions), Pixmo-Count (counting, OpenSample) and real Geometry3K folders."""
    sat_rows = [
        {"image_bytes": [struct(png((i, 0, 0))) for _ in range(2)], "question": f"Did the camera turn? #{i}",
         "answers": ["left", "right"], "question_type": "ego_movement", "correct_answer": "left"}
        for i in range(3)
    ]  # fmt: skip
    write_parquet(tmp_path / "sat" / "SAT_test.parquet", sat_rows)
    image = png((1, 2, 3))
    sha = hashlib.sha256(image).hexdigest()
    write_file(tmp_path / "pixmo" / "images" / f"{sha}.png", image)
    write_jsonl(tmp_path / "pixmo" / "train.jsonl", [
        {"image_url": "https://x/a.png", "image_sha256": sha, "count": n, "label": "apples", "points": None}
        for n in (2, 5)
    ])  # fmt: skip
    geo = Path(__file__).parent / "fixtures" / "real" / "geometry3k" / "data_examples"
    result = prepare(
        "sat:3,pixmo_count:2,geometry3k:2", tmp_path / "out", seed=1,
        data_dirs={"sat": tmp_path / "sat", "pixmo_count": tmp_path / "pixmo", "geometry3k": geo},
        loader_options={"sat": {"split": "test"}},
    )  # fmt: skip
    assert [c["loaded"] for c in result.manifest["components"]] == [3, 2, 2]
    rows = pd.read_parquet(result.verl_train)
    by_source = {s: g for s, g in rows.groupby("data_source")}
    assert set(by_source) == {"sat", "pixmo_count", "geometry3k"}
    for _, row in by_source["sat"].iterrows():
        assert row["prompt"][0]["content"].startswith("<image><image>") and len(row["images"]) == 2
    for _, row in by_source["pixmo_count"].iterrows():
        info = row["extra_info"]
        assert (row["ability"], info["answer_type"], len(info["options"])) == ("counting", "integer", 0)
        assert (
            row["reward_model"]["ground_truth"] in ("2", "5")
            and "<answer>3</answer>" in row["prompt"][0]["content"]
        )
        reply = f"<think>I count {row['reward_model']['ground_truth']}.</think><answer>{row['reward_model']['ground_truth']}</answer>"
        info = {**info, "injection": {**info["injection"], "prefill": None}}  # score the reply alone
        assert (
            asyncio.run(compute_score("pixmo_count", reply, row["reward_model"]["ground_truth"], info))[
                "score"
            ]
            == 1.1
        )
    for _, row in by_source["geometry3k"].iterrows():
        info = row["extra_info"]
        assert (row["ability"], info["answer_type"], info["math"]) == ("math", "mcq", True)
        assert info["options"][ord(row["reward_model"]["ground_truth"]) - ord("A")] == info["gold"]
